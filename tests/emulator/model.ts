/**
 * The emulator's scenario model: which organization, project, job, service connections and Entra
 * identities exist, with the defaults that make `Emulator.start({})` a working scenario.
 */

export type IssuerStyle = 'entra' | 'azuredevops';

export type EndpointKind =
  | 'oidctoken'
  | 'token'
  | 'openid-configuration'
  | 'jwks'
  | 'instance-discovery'
  | 'arm'
  | 'other'
  // Other clouds that trust the idToken (aws-sts.ts, gcp.ts, vault.ts).
  | 'aws-sts'
  | 'gcp-sts'
  | 'gcp-iam'
  | 'vault';

export const ENDPOINT_KINDS: readonly EndpointKind[] = [
  'oidctoken',
  'token',
  'openid-configuration',
  'jwks',
  'instance-discovery',
  'arm',
  'other',
  'aws-sts',
  'gcp-sts',
  'gcp-iam',
  'vault',
];

/** The audience Azure DevOps puts in every idToken and Entra expects in federated credentials by default. */
export const DEFAULT_AUDIENCE = 'api://AzureADTokenExchange';

/**
 * The application id that appears after `/a/` in Entra-issued subjects of Azure DevOps service connections.
 * Assumed to be Azure DevOps' first-party application id (the requesting app), which is unconfirmed: override
 * with `entraSubjectAppId` if a real token shows otherwise.
 */
export const AZURE_DEVOPS_APP_ID = '499b84ac-1321-427f-aa17-267ca6975798';

export interface EmulatorConnection {
  /** GUID of the service connection (what a task input holds). */
  id: string;
  /** Display name, part of the Azure DevOps issuer's subject. */
  name: string;
  issuerStyle: IssuerStyle;
  /** Client id of the app registration or managed identity the connection authenticates as. */
  clientId: string;
  tenantId: string;
  /** Only used to fill in agent-like environment variables. */
  subscriptionId?: string;
  subscriptionName?: string;
}

export interface FederatedCredential {
  issuer: string;
  subject: string;
  audiences: string[];
}

/** A federated credential as callers may write it: audiences default to `['api://AzureADTokenExchange']`. */
export type FederatedCredentialInput = Omit<FederatedCredential, 'audiences'> & { audiences?: string[] };

/**
 * An app registration or user-assigned managed identity in an Entra tenant.
 * `matchMode: 'combined'` makes every federated-credential mismatch answer AADSTS70021 (the older, single
 * message naming issuer, subject and audience) instead of 700211/700212/700213.
 */
export interface EmulatorIdentity {
  clientId: string;
  tenantId: string;
  kind: 'application' | 'managedIdentity';
  federatedCredentials: FederatedCredential[];
  /** Multitenant app (signInAudience AzureADMultipleOrgs): Entra refuses Entra-issued assertions (70052). */
  multiTenant?: boolean;
  displayName?: string;
  /** Object id of the service principal: the `oid`/`sub` of access tokens. */
  objectId?: string;
  matchMode?: 'separate' | 'combined';
}

export type EmulatorIdentityInput = Partial<Omit<EmulatorIdentity, 'federatedCredentials'>> & {
  federatedCredentials?: FederatedCredentialInput[];
};

export interface EmulatorOptions {
  organizationName?: string;
  organizationId?: string;
  projectName?: string;
  projectId?: string;
  planId?: string;
  jobId?: string;
  hostType?: 'build' | 'release';
  /** The bearer token the Oidctoken API accepts (System.AccessToken). Default: random per start. */
  jobAccessToken?: string;
  /** Default: one connection per issuer style (Entra first), in one tenant. */
  connections?: Partial<EmulatorConnection>[];
  /** Default: one identity per connection with the federated credential matching that connection. */
  identities?: EmulatorIdentityInput[];
  /** Known tenant ids; others are refused. Default: tenants of the identities and connections. */
  tenants?: string[];
  /** Lifetime of idTokens (exp - iat). Default 600, as Azure DevOps issues them. */
  idTokenLifetimeSeconds?: number;
  /** Lifetime of access tokens. Default 3600. */
  accessTokenLifetimeSeconds?: number;
  /** Tolerance when Entra checks an assertion's nbf/exp. Default 0, so expiry tests need not wait. */
  clockSkewSeconds?: number;
  /** Delay injected before every response. Default 0. */
  latencyMs?: number;
  /** Where the CA file is written. Default: a fresh temporary directory, removed by stop(). */
  stateDir?: string;
  /** Receives one line per request (method, path, status, kind); never tokens. */
  log?: (line: string) => void;
  /** Clock in milliseconds since the epoch, for tests that move time. Default Date.now. */
  now?: () => number;
  /** The app id in Entra-issued subjects (`/a/<id>`). Default: Azure DevOps' first-party app id. */
  entraSubjectAppId?: string;
}

/** Options after defaults, as `emulator.options` reports them. */
export interface ResolvedEmulatorOptions {
  organizationName: string;
  organizationId: string;
  projectName: string;
  projectId: string;
  planId: string;
  jobId: string;
  hostType: 'build' | 'release';
  jobAccessToken: string;
  connections: EmulatorConnection[];
  identities: EmulatorIdentity[];
  tenants: string[];
  idTokenLifetimeSeconds: number;
  accessTokenLifetimeSeconds: number;
  clockSkewSeconds: number;
  latencyMs: number;
  stateDir: string;
  log?: (line: string) => void;
  now?: () => number;
  entraSubjectAppId: string;
}

/** Fixed, realistic-looking defaults so logs and CLI output read the same from one run to the next. */
export const DEFAULTS = {
  organizationName: 'contoso',
  organizationId: '3f5a9c1e-7b2d-4e8f-a6c0-1d2b3c4d5e6f',
  projectName: 'WebApp',
  projectId: '7c1e5a9b-2d4f-4a8e-b3c6-0f1e2d3c4b5a',
  planId: '5b8e2f0a-9c1d-4e7b-a2f3-6d4c8b1a0e9f',
  jobId: '12f1170f-54f2-53f3-20dd-22fc7dff55f9',
  hostType: 'build' as const,
  tenantId: '2c7e9f1a-4b3d-4c5e-8f6a-9b0c1d2e3f4a',
  subscriptionId: '9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b',
  subscriptionName: 'Contoso Development',
  idTokenLifetimeSeconds: 600,
  accessTokenLifetimeSeconds: 3600,
  connections: [
    {
      id: '8d2f4c6a-1e3b-4d5f-9a7c-0b2d4f6a8c1e',
      name: 'my-azure-connection',
      issuerStyle: 'entra' as const,
      clientId: '6a4c2e0f-8b1d-4f3a-9c5e-7d9b1f3a5c7e',
    },
    {
      id: 'e4a6c8b0-2d1f-4e3a-8b5c-7f9d1b3e5a70',
      name: 'my-legacy-connection',
      issuerStyle: 'azuredevops' as const,
      clientId: '0b9d7f5c-3a1e-4c2b-8d6f-5e7a9c1b3d4f',
    },
  ],
};

/** Lower-case comparison for GUIDs, names and hosts, which both services treat case-insensitively. */
export function sameId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

export function withDefaultAudiences(f: FederatedCredentialInput): FederatedCredential {
  return {
    issuer: f.issuer,
    subject: f.subject,
    audiences: f.audiences && f.audiences.length > 0 ? [...f.audiences] : [DEFAULT_AUDIENCE],
  };
}
