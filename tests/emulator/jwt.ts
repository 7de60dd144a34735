/**
 * Just enough JWT for the emulator: RS256 signing and verification with node:crypto, base64url, and JWKS
 * export. No jsonwebtoken/jose dependency on purpose: the emulator must be able to produce deliberately
 * broken tokens (tampered, expired, unknown key) that a library would refuse to build.
 */
import {
  createHash,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  KeyObject,
  sign,
  verify,
} from 'node:crypto';

export type JwtClaims = Record<string, unknown>;

export interface JwtHeader {
  alg: string;
  typ?: string;
  kid?: string;
  x5t?: string;
  [name: string]: unknown;
}

export interface DecodedJwt {
  header: JwtHeader;
  payload: JwtClaims;
  /** The raw signature bytes. */
  signature: Buffer;
  /** `<header>.<payload>` exactly as received: the bytes the signature covers. */
  signingInput: string;
}

/** One RSA key pair an issuer signs with. */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A public key in JWKS form, as the issuers' `jwks_uri` serve it. */
export interface Jwk {
  kty: string;
  use: 'sig';
  alg: 'RS256';
  kid: string;
  n: string;
  e: string;
  [name: string]: unknown;
}

export class JwtFormatError extends Error {}

export function base64UrlEncode(input: Buffer | string): string {
  return (typeof input === 'string' ? Buffer.from(input, 'utf8') : input).toString('base64url');
}

export function base64UrlDecode(input: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(input)) {
    throw new JwtFormatError('not base64url');
  }
  return Buffer.from(input, 'base64url');
}

/**
 * Key id: base64url of the SHA-256 of the public key's SubjectPublicKeyInfo DER, cut to 27 characters
 * (the length of the SHA-1 based `kid`s Entra publishes), so ids are stable for a key and look familiar.
 */
export function keyIdFor(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64url').slice(0, 27);
}

function toSigningKey(privateKey: KeyObject, publicKey: KeyObject): SigningKey {
  return { kid: keyIdFor(publicKey), privateKey, publicKey };
}

/** A fresh RSA-2048 signing key (synchronous: used for issuers created while serving a request). */
export function createSigningKeySync(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return toSigningKey(privateKey, publicKey);
}

/** A fresh RSA-2048 signing key generated off the main thread (used at start, several in parallel). */
export function createSigningKey(): Promise<SigningKey> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 2048 }, (err, publicKey, privateKey) => {
      if (err) {
        reject(err);
      } else {
        resolve(toSigningKey(privateKey, publicKey));
      }
    });
  });
}

/** Signs claims with RS256. `header` may add fields (e.g. `x5t`) or override `typ`/`kid` for broken tokens. */
export function signJwt(claims: JwtClaims, key: SigningKey, header: Partial<JwtHeader> = {}): string {
  const fullHeader: JwtHeader = { typ: 'JWT', alg: 'RS256', kid: key.kid, ...header };
  const signingInput = `${base64UrlEncode(JSON.stringify(fullHeader))}.${base64UrlEncode(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput, 'ascii'), key.privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** Splits and parses a compact JWS without checking its signature. Throws {@link JwtFormatError}. */
export function decodeJwt(token: string): DecodedJwt {
  if (typeof token !== 'string') {
    throw new JwtFormatError('not a string');
  }
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] === '' || parts[1] === '') {
    throw new JwtFormatError('a JWT has three dot-separated parts');
  }
  let header: unknown;
  let payload: unknown;
  try {
    header = JSON.parse(base64UrlDecode(parts[0]).toString('utf8'));
    payload = JSON.parse(base64UrlDecode(parts[1]).toString('utf8'));
  } catch {
    throw new JwtFormatError('header or payload is not base64url JSON');
  }
  if (!isPlainObject(header) || !isPlainObject(payload) || typeof header.alg !== 'string') {
    throw new JwtFormatError('header or payload is not a JSON object');
  }
  return {
    header: header as JwtHeader,
    payload,
    signature: base64UrlDecode(parts[2]),
    signingInput: `${parts[0]}.${parts[1]}`,
  };
}

/** Like {@link decodeJwt} but returns undefined instead of throwing. */
export function tryDecodeJwt(token: string): DecodedJwt | undefined {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}

export type SignatureCheck = 'valid' | 'unknown-kid' | 'bad-signature' | 'unsupported-alg';

/**
 * Checks an RS256 signature against a set of public keys, picking the key by `kid`. Accepts either
 * {@link SigningKey}s or JWKs (what a third party would have after fetching `jwks_uri`).
 */
export function checkJwtSignature(
  token: string | DecodedJwt,
  keys: ReadonlyArray<SigningKey | Jwk>,
): SignatureCheck {
  const jwt = typeof token === 'string' ? decodeJwt(token) : token;
  if (jwt.header.alg !== 'RS256') {
    return 'unsupported-alg';
  }
  const match = keys.find((k) => k.kid === jwt.header.kid);
  if (!match) {
    return 'unknown-kid';
  }
  const publicKey = isSigningKey(match) ? match.publicKey : createPublicKey({ key: match, format: 'jwk' });
  const ok = verify('sha256', Buffer.from(jwt.signingInput, 'ascii'), publicKey, jwt.signature);
  return ok ? 'valid' : 'bad-signature';
}

export function toJwk(key: SigningKey): Jwk {
  const exported = key.publicKey.export({ format: 'jwk' });
  return {
    kty: String(exported.kty),
    use: 'sig',
    alg: 'RS256',
    kid: key.kid,
    n: String(exported.n),
    e: String(exported.e),
  };
}

export function toJwks(keys: ReadonlyArray<SigningKey>): { keys: Jwk[] } {
  return { keys: keys.map(toJwk) };
}

function isSigningKey(k: SigningKey | Jwk): k is SigningKey {
  return k.publicKey instanceof KeyObject;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
