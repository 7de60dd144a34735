/**
 * What the emulator's service handlers share: the per-request context, the route shape, the issuer constants,
 * the signing keys, the host (the emulator's state as the handlers see it) and small request helpers.
 */
import type { IncomingMessage } from 'node:http';
import type { Emulator } from './emulator';
import type { HttpReply, RequestInfo } from './http';
import { createSigningKeySync, type SigningKey } from './jwt';
import { newGuid } from './ids';
import {
  DEFAULTS,
  sameId,
  withDefaultAudiences,
  type EmulatorConnection,
  type EmulatorIdentity,
  type EmulatorIdentityInput,
  type EndpointKind,
  type FederatedCredential,
  type ResolvedEmulatorOptions,
} from './model';

export const ADO_ISSUER_PREFIX = 'https://vstoken.dev.azure.com/';
export const ENTRA_ISSUER_PATTERN = /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/v2\.0$/;
/** Tenant path segments that are not tenants: client credentials are refused there (AADSTS9001023). */
export const MULTI_TENANT_SEGMENTS = ['common', 'organizations', 'consumers'];
const MAX_BODY_BYTES = 1024 * 1024;

export type Service = 'ado' | 'entra' | 'arm' | 'none';
export type TokenVariant = 'v2' | 'v1' | 'adfs';

/** Per-request state shared by the handler, the presets and the response headers. */
export interface RequestContext {
  info: RequestInfo;
  /** Entra's trace id (x-ms-request-id and `trace_id`). */
  traceId: string;
  /** Entra's correlation id: the client's `client-request-id` when it sent one, as Entra does. */
  correlationId: string;
  /** Azure DevOps' end-to-end id (x-vss-e2eid). */
  e2eId: string;
}

export interface Route {
  kind: EndpointKind;
  service: Service;
  pattern: RegExp;
  handle: (ctx: RequestContext, params: string[]) => HttpReply;
}

/** The emulator as its service handlers see it: its public API plus the shared state behind it. */
export interface EmulatorHost {
  readonly emulator: Emulator;
  readonly url: string;
  readonly state: ResolvedEmulatorOptions;
  readonly processId: string;
  readonly keys: IssuerKeyStore;
  nowMs(): number;
  nowSeconds(): number;
  primaryTenant(): string;
  knownTenants(): string[];
  isKnownTenant(tenant: string): boolean;
}

/** The issuers' signing keys: one per Azure DevOps organization and one per Entra tenant, made on first use. */
export class IssuerKeyStore {
  readonly adoKeys = new Map<string, SigningKey>();
  readonly tenantKeys = new Map<string, SigningKey>();

  /** The Azure DevOps issuer key of an organization, created on first use. */
  adoKey(organizationId: string): SigningKey {
    return getOrCreate(this.adoKeys, organizationId.toLowerCase(), createSigningKeySync);
  }

  /** The Entra signing key of a tenant (idTokens of the Entra issuer and access tokens), created on first use. */
  tenantKey(tenant: string): SigningKey {
    return getOrCreate(this.tenantKeys, tenant.toLowerCase(), createSigningKeySync);
  }

  allTenantKeys(knownTenants: string[]): SigningKey[] {
    for (const t of knownTenants) {
      this.tenantKey(t);
    }
    return [...this.tenantKeys.values()];
  }
}

/** The keys that sign tokens of an issuer the emulator signs for; undefined for any other issuer. */
export function keysForIssuer(host: EmulatorHost, iss: unknown): SigningKey[] | undefined {
  if (typeof iss !== 'string') {
    return undefined;
  }
  if (iss.startsWith(ADO_ISSUER_PREFIX)) {
    const org = iss.slice(ADO_ISSUER_PREFIX.length);
    return sameId(org, host.state.organizationId) || host.keys.adoKeys.has(org.toLowerCase())
      ? [host.keys.adoKey(org)]
      : undefined;
  }
  const m = ENTRA_ISSUER_PATTERN.exec(iss);
  if (m && (host.isKnownTenant(m[1]) || host.keys.tenantKeys.has(m[1].toLowerCase()))) {
    return [host.keys.tenantKey(m[1])];
  }
  return undefined;
}

export function formOf(info: RequestInfo): URLSearchParams {
  const type = info.headers['content-type'] ?? '';
  return type.toLowerCase().includes('application/x-www-form-urlencoded')
    ? new URLSearchParams(info.body)
    : new URLSearchParams();
}

/** Query parameter by case-insensitive name, as Azure DevOps reads them. */
export function queryParam(info: RequestInfo, name: string): string | undefined {
  const key = Object.keys(info.query).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : info.query[key];
}

export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A connection with defaults for missing fields: random ids, issuer style 'entra', the given tenant. */
export function completeConnection(
  c: Partial<EmulatorConnection>,
  index: number,
  tenant: string,
): EmulatorConnection {
  return {
    id: c.id ?? newGuid(),
    name: c.name ?? `connection-${index + 1}`,
    issuerStyle: c.issuerStyle ?? 'entra',
    clientId: c.clientId ?? newGuid(),
    tenantId: c.tenantId ?? tenant,
    subscriptionId: c.subscriptionId ?? DEFAULTS.subscriptionId,
    subscriptionName: c.subscriptionName ?? DEFAULTS.subscriptionName,
  };
}

/** An identity with defaults for missing fields: random client id, the given tenant, no credentials. */
export function completeIdentity(i: EmulatorIdentityInput, tenant: string): EmulatorIdentity {
  const clientId = i.clientId ?? newGuid();
  return {
    clientId,
    tenantId: i.tenantId ?? tenant,
    kind: i.kind ?? 'application',
    federatedCredentials: (i.federatedCredentials ?? []).map(withDefaultAudiences),
    multiTenant: i.multiTenant ?? false,
    displayName: i.displayName ?? `app-${clientId.slice(0, 8)}`,
    objectId: i.objectId ?? newGuid(),
    matchMode: i.matchMode ?? 'separate',
  };
}

/** The tenant a connection or identity gets when it names none. */
export function primaryTenant(state: ResolvedEmulatorOptions, explicitTenants: string[] | undefined): string {
  return (
    explicitTenants?.[0] ??
    state.connections[0]?.tenantId ??
    state.identities[0]?.tenantId ??
    DEFAULTS.tenantId
  );
}

/** The explicit tenants, else every identity's and connection's tenant, once each. */
export function knownTenants(
  state: ResolvedEmulatorOptions,
  explicitTenants: string[] | undefined,
): string[] {
  if (explicitTenants) {
    return [...explicitTenants];
  }
  const all = [...state.identities.map((i) => i.tenantId), ...state.connections.map((c) => c.tenantId)];
  return all.filter((t, i) => all.findIndex((x) => sameId(x, t)) === i);
}

/** One identity per (client id, tenant) of the connections, trusting each connection's issuer and subject. */
export function deriveIdentities(
  state: ResolvedEmulatorOptions,
  connections: EmulatorConnection[],
  federatedCredentialFor: (c: EmulatorConnection) => FederatedCredential,
): EmulatorIdentity[] {
  const identities: EmulatorIdentity[] = [];
  for (const c of connections) {
    const fic = federatedCredentialFor(c);
    const existing = identities.find((i) => sameId(i.clientId, c.clientId) && sameId(i.tenantId, c.tenantId));
    if (existing) {
      existing.federatedCredentials.push(fic);
      continue;
    }
    identities.push({
      clientId: c.clientId,
      tenantId: c.tenantId,
      kind: 'application',
      federatedCredentials: [fic],
      multiTenant: false,
      // The name Azure DevOps gives app registrations it creates: <org>-<project>-<subscription id>.
      displayName: `${state.organizationName}-${state.projectName}-${c.subscriptionId ?? DEFAULTS.subscriptionId}`,
      objectId: newGuid(),
      matchMode: 'separate',
    });
  }
  return identities;
}
