/**
 * Identifier helpers shared by the emulator: GUIDs, the .NET byte order Entra uses when it packs GUIDs
 * into federated subjects, and small random values for correlation headers.
 */
import { randomBytes, randomUUID } from 'node:crypto';

const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function newGuid(): string {
  return randomUUID();
}

export function isGuid(value: string): boolean {
  return GUID_PATTERN.test(value);
}

/**
 * The 16 bytes of a GUID in the order of .NET's `Guid.ToByteArray()`.
 *
 * .NET stores a GUID as (uint32 Data1, uint16 Data2, uint16 Data3, byte[8] Data4) and serialises the three
 * integers little-endian, so the first three dash-separated groups of the text form come out byte-reversed
 * while the last two groups keep their order. Entra's service (written in .NET) builds the
 * `/eid1/c/pub/t/<tenant>/a/<app>/...` subject from these bytes. Checked against a published subject:
 * tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 appears there as `v4j5cvGGr0GRqy180BHbRw`, which is exactly
 * base64url(bf 88 f9 72 f1 86 af 41 91 ab 2d 7c d0 11 db 47).
 */
export function guidToDotNetBytes(guid: string): Buffer {
  if (!isGuid(guid)) {
    throw new Error(`Not a GUID: '${guid}'`);
  }
  const hex = guid.replace(/-/g, '');
  const bytes = Buffer.from(hex, 'hex');
  const reorder = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return Buffer.from(reorder.map((i) => bytes[i]));
}

/** base64url (no padding) of the .NET byte order of a GUID, as used in Entra federated subjects. */
export function guidToBase64Url(guid: string): string {
  return guidToDotNetBytes(guid).toString('base64url');
}

/** Inverse of {@link guidToBase64Url}, for tests and for reading subjects back. */
export function base64UrlToGuid(value: string): string {
  const b = Buffer.from(value, 'base64url');
  if (b.length !== 16) {
    throw new Error(`Not a base64url GUID: '${value}'`);
  }
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  const hex = order.map((i) => b[i].toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** An opaque random token that looks like what the agent hands a job (not a JWT: the emulator only compares it). */
export function randomAccessToken(): string {
  return randomBytes(48).toString('base64url');
}
