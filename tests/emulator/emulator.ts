/**
 * A local emulator of Azure DevOps' Oidctoken API and Microsoft Entra ID's token endpoint, served over HTTPS on
 * 127.0.0.1 by one server, so the task can be tested end to end over real sockets with real TLS, real JWTs and
 * the error shapes the real services answer with.
 *
 * Layout: a small regex router maps each request to an endpoint kind and a handler; handlers return an
 * HttpReply; scripted responses and failure presets are consumed per kind before normal handling; every
 * request is recorded in `requests` before it is answered. Error bodies live in errors.ts, presets in
 * presets.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ARM_AUDIENCES,
  adoErrors,
  armErrors,
  entraError,
  signInPageHtml,
  type AadstsContext,
  type ArmError,
} from './errors';
import {
  delay,
  flattenHeaders,
  htmlReply,
  isPassThrough,
  jsonReply,
  parseQuery,
  scriptedReply,
  type HttpReply,
  type RequestInfo,
  type RequestLogEntry,
  type ScriptEntry,
  type ScriptedResponse,
} from './http';
import { guidToBase64Url, isGuid, newGuid, randomAccessToken, randomHex } from './ids';
import {
  checkJwtSignature,
  createSigningKey,
  createSigningKeySync,
  decodeJwt,
  signJwt,
  toJwks,
  tryDecodeJwt,
  type DecodedJwt,
  type JwtClaims,
  type SigningKey,
} from './jwt';
import {
  AZURE_DEVOPS_APP_ID,
  DEFAULT_AUDIENCE,
  DEFAULTS,
  ENDPOINT_KINDS,
  sameId,
  withDefaultAudiences,
  type EmulatorConnection,
  type EmulatorIdentity,
  type EmulatorIdentityInput,
  type EmulatorOptions,
  type EndpointKind,
  type FederatedCredential,
  type ResolvedEmulatorOptions,
} from './model';
import { createTestPki, writeCaFile } from './pki';
import { AwsStsEmulator } from './aws-sts';
import { GcpEmulator } from './gcp';
import { VaultEmulator } from './vault';
import type { IssuerKeys } from './relying-party';
import { resolvePreset, type FailurePresetFor, type Preset, type PresetTools } from './presets';

/** Options of {@link Emulator.mintIdToken}. */
export interface MintIdTokenOptions {
  /** `aud` claim. Default `api://AzureADTokenExchange`. */
  audience?: string;
  /** `iat` (and `nbf`), seconds since the epoch. Default: now. */
  issuedAt?: number;
  /** exp - iat. Default: `idTokenLifetimeSeconds`. */
  lifetimeSeconds?: number;
  /** Claims to add or override (e.g. a different `sub`). */
  claims?: JwtClaims;
}

/** Options of {@link Emulator.addConnection}. */
export interface AddConnectionOptions {
  /** Also create (or extend) the identity with the federated credential that matches. Default true. */
  identity?: boolean;
}

/** Options accepted by {@link Emulator.setOptions}: everything but `stateDir`, fixed at start. */
export type EmulatorRuntimeOptions = Omit<EmulatorOptions, 'stateDir'>;

const ADO_ISSUER_PREFIX = 'https://vstoken.dev.azure.com/';
/** The Resource Manager audience the emulated Azure Stack Hub names in its metadata. */
export const AZURE_STACK_AUDIENCE =
  'https://management.azurestack.example/4f1e2d3c-0000-4000-8000-00000000a57c';
const ENTRA_ISSUER_PATTERN = /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/v2\.0$/;
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Tenant path segments that are not tenants: client credentials are refused there (AADSTS9001023). */
const MULTI_TENANT_SEGMENTS = ['common', 'organizations', 'consumers'];
const MAX_BODY_BYTES = 1024 * 1024;
/** The API resource locations `OPTIONS {collection}/_apis/{area}` answers, by lower-cased area. */
const RESOURCE_LOCATIONS: Record<string, object[]> = {
  distributedtask: [
    {
      id: '69a319f4-28c1-4bfd-93e6-ea0ff5c6f1a2',
      area: 'distributedtask',
      resourceName: 'oidctoken',
      routeTemplate: '{scopeIdentifier}/_apis/{area}/hubs/{hubName}/plans/{planId}/jobs/{jobId}/{resource}',
      resourceVersion: 1,
      minVersion: '7.1',
      maxVersion: '7.2',
      releasedVersion: '0.0',
    },
  ],
};

type Service = 'ado' | 'entra' | 'arm' | 'none';
type TokenVariant = 'v2' | 'v1' | 'adfs';

/** Per-request state shared by the handler, the presets and the response headers. */
interface RequestContext {
  info: RequestInfo;
  /** Entra's trace id (x-ms-request-id and `trace_id`). */
  traceId: string;
  /** Entra's correlation id: the client's `client-request-id` when it sent one, as Entra does. */
  correlationId: string;
  /** Azure DevOps' end-to-end id (x-vss-e2eid). */
  e2eId: string;
}

interface Route {
  kind: EndpointKind;
  service: Service;
  pattern: RegExp;
  handle: (ctx: RequestContext, params: string[]) => HttpReply;
}

type QueuedScript = { entry: ScriptEntry } | { preset: Preset };

export class Emulator {
  /** `https://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  /** Path of the PEM file of the test CA (hand it over as AGENT_CAINFO / NODE_EXTRA_CA_CERTS). */
  readonly caFile: string;
  /** PEM of the test CA. */
  readonly caPem: string;
  /** Every request received, in order, recorded before it is answered. */
  readonly requests: RequestLogEntry[] = [];
  /** Every idToken the emulator signed (served or minted), so tests can scan logs for leaks. */
  readonly issuedIdTokens: string[] = [];
  /** Every access token the emulator issued. */
  readonly issuedAccessTokens: string[] = [];

  private readonly state: ResolvedEmulatorOptions;
  private explicitTenants: string[] | undefined;
  /** True while identities are the ones derived from connections (no explicit identities given). */
  private identitiesDerived: boolean;
  private readonly ownsStateDir: boolean;
  private readonly adoKeys = new Map<string, SigningKey>();
  private readonly tenantKeys = new Map<string, SigningKey>();
  private readonly scripts = new Map<EndpointKind, QueuedScript[]>();
  private readonly hung = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private readonly processId = newGuid();
  private stopped = false;

  /** Relying parties that trust the idTokens: each checks them against the issuer's keys and its own trust. */
  private readonly issuerKeys: IssuerKeys = {
    keysFor: (iss) => this.keysForIssuer(iss),
    nowSeconds: () => this.nowSeconds(),
  };
  /** AWS STS (POST /): set its trust with `emulator.aws.trust(roleArn, issuer, subject)`. */
  readonly aws = new AwsStsEmulator(this.issuerKeys);
  /** Google Cloud STS (POST /v1/token) and IAM Credentials: `emulator.gcp.addProvider(name, issuer, …)`. */
  readonly gcp = new GcpEmulator(this.issuerKeys);
  /** Vault's JWT auth (POST /v1/auth/<path>/login) and lookup-self: `emulator.vault.addRole(role, issuer, subject)`. */
  readonly vault = new VaultEmulator(this.issuerKeys);

  private readonly routes: Route[] = [
    { kind: 'aws-sts', service: 'none', pattern: /^\/$/, handle: (c) => this.aws.handle(c.info) },
    { kind: 'gcp-sts', service: 'none', pattern: /^\/v1\/token$/, handle: (c) => this.gcp.handleSts(c.info) },
    {
      kind: 'gcp-iam',
      service: 'none',
      pattern: /^\/v1\/projects\/-\/serviceAccounts\/([^/]+):generateAccessToken$/,
      handle: (c, p) => this.gcp.handleGenerateAccessToken(c.info, p[0]),
    },
    {
      kind: 'vault',
      service: 'none',
      pattern: /^\/v1\/auth\/token\/lookup-self$/,
      handle: (c) => this.vault.handleLookupSelf(c.info),
    },
    {
      kind: 'vault',
      service: 'none',
      pattern: /^\/v1\/auth\/(.+)\/login$/,
      handle: (c, p) => this.vault.handleLogin(c.info, p[0]),
    },
    {
      kind: 'oidctoken',
      service: 'ado',
      pattern:
        /^\/([^/]+)\/([^/]+)\/_apis\/distributedtask\/hubs\/([^/]+)\/plans\/([^/]+)\/jobs\/([^/]+)\/oidctoken\/?$/i,
      handle: (c, p) => this.handleOidcToken(c, p),
    },
    {
      kind: 'openid-configuration',
      service: 'ado',
      pattern: /^\/_vstoken\/([^/]+)\/\.well-known\/openid-configuration$/i,
      handle: (c, p) => this.handleAdoDiscovery(c, p[0]),
    },
    {
      kind: 'jwks',
      service: 'ado',
      pattern: /^\/_vstoken\/([^/]+)\/\.well-known\/jwks$/i,
      handle: (c, p) => this.handleAdoJwks(c, p[0]),
    },
    {
      kind: 'other',
      service: 'ado',
      pattern: /^\/_signin$/i,
      handle: (c) => htmlReply(200, signInPageHtml(this.signInUrl(c)), this.adoHeaders(c)),
    },
    {
      // A connection whose authority is <host>/adfs/ (the layout az needs offline): MSAL appends the tenant.
      kind: 'token',
      service: 'entra',
      pattern: /^\/adfs\/([^/]+)\/oauth2\/v2\.0\/token\/?$/i,
      handle: (c, p) => this.handleToken(c, 'v2', p[0]),
    },
    {
      kind: 'token',
      service: 'entra',
      pattern: /^\/adfs\/oauth2\/token\/?$/i,
      handle: (c) => this.handleToken(c, 'adfs', undefined),
    },
    {
      kind: 'openid-configuration',
      service: 'entra',
      pattern: /^\/adfs\/\.well-known\/openid-configuration$/i,
      handle: (c) => jsonReply(200, this.adfsConfiguration(), this.entraHeaders(c)),
    },
    {
      kind: 'jwks',
      service: 'entra',
      pattern: /^\/adfs\/discovery\/keys$/i,
      handle: (c) => jsonReply(200, toJwks(this.allTenantKeys()), this.entraHeaders(c)),
    },
    {
      // Azure Stack Hub's Resource Manager metadata, which names the Entra authority and the audience.
      kind: 'other',
      service: 'none',
      pattern: /^\/metadata\/endpoints$/i,
      handle: () =>
        jsonReply(200, {
          galleryEndpoint: `${this.url}/gallery/`,
          graphEndpoint: 'https://graph.windows.net/',
          portalEndpoint: `${this.url}/portal/`,
          authentication: { loginEndpoint: `${this.url}/`, audiences: [AZURE_STACK_AUDIENCE] },
        }),
    },
    {
      kind: 'instance-discovery',
      service: 'entra',
      pattern: /^\/common\/discovery\/instance$/i,
      handle: (c) => this.handleInstanceDiscovery(c),
    },
    {
      kind: 'arm',
      service: 'arm',
      pattern: /^\/subscriptions\/?$/i,
      handle: (c) => this.handleArmList(c, 'subscriptions'),
    },
    {
      kind: 'arm',
      service: 'arm',
      pattern: /^\/tenants\/?$/i,
      handle: (c) => this.handleArmList(c, 'tenants'),
    },
    {
      kind: 'token',
      service: 'entra',
      pattern: /^\/([^/]+)\/oauth2\/v2\.0\/token\/?$/i,
      handle: (c, p) => this.handleToken(c, 'v2', p[0]),
    },
    {
      kind: 'token',
      service: 'entra',
      pattern: /^\/([^/]+)\/oauth2\/token\/?$/i,
      handle: (c, p) => this.handleToken(c, 'v1', p[0]),
    },
    {
      kind: 'openid-configuration',
      service: 'entra',
      pattern: /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/i,
      handle: (c, p) => this.handleEntraDiscovery(c, p[0], 'v2'),
    },
    {
      kind: 'openid-configuration',
      service: 'entra',
      pattern: /^\/([^/]+)\/\.well-known\/openid-configuration$/i,
      handle: (c, p) => this.handleEntraDiscovery(c, p[0], 'v1'),
    },
    {
      kind: 'jwks',
      service: 'entra',
      pattern: /^\/([^/]+)\/discovery\/(?:v2\.0\/)?keys$/i,
      handle: (c, p) => this.handleEntraJwks(c, p[0]),
    },
    {
      // OPTIONS {collection}/_apis/{area}: the resource locations azure-devops-node-api negotiates routes with.
      kind: 'other',
      service: 'ado',
      pattern: /^\/([^/]+)\/_apis\/([^/]+)\/?$/i,
      handle: (c, p) => this.handleResourceLocations(c, p[0], p[1]),
    },
  ];

  private constructor(
    private readonly server: Server,
    url: string,
    caPem: string,
    caFile: string,
    options: EmulatorOptions,
    stateDir: string,
    ownsStateDir: boolean,
  ) {
    this.url = url;
    this.caPem = caPem;
    this.caFile = caFile;
    this.ownsStateDir = ownsStateDir;
    this.explicitTenants = options.tenants ? [...options.tenants] : undefined;
    this.identitiesDerived = options.identities === undefined;
    const defaultTenant = options.tenants?.[0] ?? options.identities?.find((i) => i.tenantId)?.tenantId;
    const tenant = defaultTenant ?? DEFAULTS.tenantId;
    this.state = {
      organizationName: options.organizationName ?? DEFAULTS.organizationName,
      organizationId: options.organizationId ?? DEFAULTS.organizationId,
      projectName: options.projectName ?? DEFAULTS.projectName,
      projectId: options.projectId ?? DEFAULTS.projectId,
      planId: options.planId ?? DEFAULTS.planId,
      jobId: options.jobId ?? DEFAULTS.jobId,
      hostType: options.hostType ?? DEFAULTS.hostType,
      jobAccessToken: options.jobAccessToken ?? randomAccessToken(),
      connections: [],
      identities: [],
      tenants: [],
      idTokenLifetimeSeconds: options.idTokenLifetimeSeconds ?? DEFAULTS.idTokenLifetimeSeconds,
      accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? DEFAULTS.accessTokenLifetimeSeconds,
      clockSkewSeconds: options.clockSkewSeconds ?? 0,
      latencyMs: options.latencyMs ?? 0,
      stateDir,
      log: options.log,
      now: options.now,
      entraSubjectAppId: options.entraSubjectAppId ?? AZURE_DEVOPS_APP_ID,
    };
    const connections = options.connections ?? DEFAULTS.connections;
    this.state.connections = connections.map((c, i) => this.completeConnection(c, i, tenant));
    this.state.identities = options.identities
      ? options.identities.map((i) => this.completeIdentity(i, tenant))
      : this.deriveIdentities(this.state.connections);
    this.state.tenants = this.knownTenants();

    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.onRequest(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Generates the PKI and issuer keys, writes the CA file and listens on 127.0.0.1 (random port). */
  static async start(options: EmulatorOptions = {}): Promise<Emulator> {
    const ownsStateDir = options.stateDir === undefined;
    const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'azdo-entra-emulator-'));
    const pki = await createTestPki();
    const caFile = writeCaFile(stateDir, pki.caPem);

    // The request listener is attached by the constructor, once the port (and so the URL) is known.
    const server = createServer({ key: pki.serverKeyPem, cert: pki.serverCertPem });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    try {
      const emulator = new Emulator(
        server,
        `https://127.0.0.1:${port}`,
        pki.caPem,
        caFile,
        options,
        stateDir,
        ownsStateDir,
      );
      await emulator.preloadKeys();
      return emulator;
    } catch (err) {
      server.close();
      throw err;
    }
  }

  /** Closes the server, ends hanging and idle connections, and removes the temporary state directory. */
  async stop(): Promise<void> {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const res of this.hung) {
      res.destroy();
    }
    this.hung.clear();
    this.server.closeAllConnections();
    for (const socket of this.sockets) {
      socket.destroy();
    }
    await closed;
    if (this.ownsStateDir) {
      rmSync(this.state.stateDir, { recursive: true, force: true });
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // Scenario

  /** The options in force, with defaults applied and `tenants` the effective list of known tenants. */
  get options(): ResolvedEmulatorOptions {
    return { ...this.state, tenants: this.knownTenants() };
  }

  /** What the agent puts in System.OidcRequestUri. */
  get oidcRequestUri(): string {
    const s = this.state;
    return (
      `${this.url}/${encodeURIComponent(s.organizationName)}/${s.projectId}/_apis/distributedtask/hubs/` +
      `${s.hostType}/plans/${s.planId}/jobs/${s.jobId}/oidctoken`
    );
  }

  /** What the agent puts in System.CollectionUri (with the trailing slash). */
  get collectionUri(): string {
    return `${this.url}/${encodeURIComponent(this.state.organizationName)}/`;
  }

  /** The Entra authority host (with trailing slash): tokens at `${authorityHost}${tenant}/oauth2/v2.0/token`. */
  get authorityHost(): string {
    return `${this.url}/`;
  }

  /** The v2 token endpoint of a tenant (default: the first connection's tenant). */
  tokenEndpoint(tenantId: string = this.primaryTenant()): string {
    return `${this.authorityHost}${tenantId}/oauth2/v2.0/token`;
  }

  /**
   * The tenant's OpenID configuration document, exactly as served: what a client may pass to MSAL as
   * `authorityMetadata` (JSON.stringify it) to skip discovery.
   */
  openIdConfiguration(tenantId: string = this.primaryTenant()): Record<string, unknown> {
    return this.entraConfiguration(tenantId, 'v2');
  }

  /** A connection by id or name (default: the first one). Throws if there is none. */
  connection(idOrName?: string): EmulatorConnection {
    const found =
      idOrName === undefined
        ? this.state.connections[0]
        : this.state.connections.find((c) => sameId(c.id, idOrName) || c.name === idOrName);
    if (!found) {
      throw new Error(`The emulator has no service connection '${idOrName ?? '(first)'}'`);
    }
    return found;
  }

  /** The identity with this client id (in this tenant, if given). Live object: edits take effect at once. */
  identity(clientId: string, tenantId?: string): EmulatorIdentity | undefined {
    return this.state.identities.find(
      (i) => sameId(i.clientId, clientId) && (tenantId === undefined || sameId(i.tenantId, tenantId)),
    );
  }

  /** The `iss` of the idTokens Azure DevOps issues for a connection. */
  issuerFor(connection: EmulatorConnection | string): string {
    const c = typeof connection === 'string' ? this.connection(connection) : connection;
    return c.issuerStyle === 'entra'
      ? `https://login.microsoftonline.com/${c.tenantId}/v2.0`
      : `${ADO_ISSUER_PREFIX}${this.state.organizationId}`;
  }

  /** The `sub` of the idTokens Azure DevOps issues for a connection. */
  subjectFor(connection: EmulatorConnection | string): string {
    const c = typeof connection === 'string' ? this.connection(connection) : connection;
    const s = this.state;
    if (c.issuerStyle === 'entra') {
      const t = guidToBase64Url(c.tenantId);
      const a = guidToBase64Url(s.entraSubjectAppId);
      return `/eid1/c/pub/t/${t}/a/${a}/sc/${s.organizationId}/${c.id}`;
    }
    return `sc://${s.organizationName}/${s.projectName}/${c.name}`;
  }

  /** The federated credential an identity needs to accept a connection's idTokens. */
  federatedCredentialFor(connection: EmulatorConnection | string): FederatedCredential {
    return {
      issuer: this.issuerFor(connection),
      subject: this.subjectFor(connection),
      audiences: [DEFAULT_AUDIENCE],
    };
  }

  /**
   * Where this emulator serves the discovery document of an issuer found in a token's `iss` (the real issuer
   * hosts are not reachable from tests). Undefined for an issuer the emulator does not sign for.
   */
  discoveryUrlFor(issuer: string): string | undefined {
    if (issuer.startsWith(ADO_ISSUER_PREFIX)) {
      return `${this.url}/_vstoken/${issuer.slice(ADO_ISSUER_PREFIX.length)}/.well-known/openid-configuration`;
    }
    const m = ENTRA_ISSUER_PATTERN.exec(issuer);
    if (m) {
      return `${this.url}/${m[1]}/v2.0/.well-known/openid-configuration`;
    }
    const sts = /^https:\/\/sts\.windows\.net\/([^/]+)\/$/.exec(issuer);
    return sts ? `${this.url}/${sts[1]}/.well-known/openid-configuration` : undefined;
  }

  /**
   * Changes the scenario at runtime. Scalars are replaced. `connections` replaces the list (and re-derives
   * identities while none were given explicitly); `identities` replaces the identities. Renaming the
   * organization or project does NOT update existing federated credentials: exactly the real-world rename
   * that breaks Azure DevOps-issuer subjects.
   */
  setOptions(partial: EmulatorRuntimeOptions): void {
    const { connections, identities, tenants, ...scalars } = partial;
    for (const [key, value] of Object.entries(scalars)) {
      // stateDir is fixed at start (the CA file lives there, and stop() may remove it).
      if (value !== undefined && key !== 'stateDir') {
        (this.state as unknown as Record<string, unknown>)[key] = value;
      }
    }
    if (tenants !== undefined) {
      this.explicitTenants = [...tenants];
    }
    const tenant = this.primaryTenant();
    if (connections !== undefined) {
      this.state.connections = connections.map((c, i) => this.completeConnection(c, i, tenant));
    }
    if (identities !== undefined) {
      this.state.identities = identities.map((i) => this.completeIdentity(i, tenant));
      this.identitiesDerived = false;
    } else if (connections !== undefined && this.identitiesDerived) {
      this.state.identities = this.deriveIdentities(this.state.connections);
    }
    this.state.tenants = this.knownTenants();
  }

  /**
   * Adds a service connection (missing fields get defaults: random ids, issuer style 'entra', the primary
   * tenant) and, unless `{ identity: false }`, the identity with the matching federated credential.
   */
  addConnection(
    input: Partial<EmulatorConnection> = {},
    options: AddConnectionOptions = {},
  ): EmulatorConnection {
    const connection = this.completeConnection(input, this.state.connections.length, this.primaryTenant());
    this.state.connections.push(connection);
    if (options.identity !== false) {
      const existing = this.identity(connection.clientId, connection.tenantId);
      const fic = this.federatedCredentialFor(connection);
      if (existing) {
        if (
          !existing.federatedCredentials.some((f) => f.issuer === fic.issuer && f.subject === fic.subject)
        ) {
          existing.federatedCredentials.push(fic);
        }
      } else {
        this.state.identities.push(this.deriveIdentities([connection])[0]);
      }
    }
    this.state.tenants = this.knownTenants();
    return connection;
  }

  /**
   * Adds an identity, replacing one with the same client id and tenant. Missing fields: random client id, the
   * primary tenant, kind 'application', no federated credentials.
   */
  addIdentity(input: EmulatorIdentityInput = {}): EmulatorIdentity {
    const identity = this.completeIdentity(input, this.primaryTenant());
    const index = this.state.identities.findIndex(
      (i) => sameId(i.clientId, identity.clientId) && sameId(i.tenantId, identity.tenantId),
    );
    if (index >= 0) {
      this.state.identities[index] = identity;
    } else {
      this.state.identities.push(identity);
    }
    this.identitiesDerived = false;
    this.state.tenants = this.knownTenants();
    return identity;
  }

  // ------------------------------------------------------------------------------------------------------
  // Scripted responses and failure presets

  /** Appends scripted responses for an endpoint kind, consumed one per request before normal handling. */
  script(kind: EndpointKind, responses: ScriptEntry[]): void {
    this.queue(kind).push(...responses.map((entry) => ({ entry })));
  }

  /**
   * Makes the next `times` requests of an endpoint kind fail the way the real service does in a named
   * situation. For 'token', pass an AADSTS code (e.g. 700213) for Entra's exact error for that code.
   */
  failNext<K extends EndpointKind>(kind: K, preset: FailurePresetFor<K>, times = 1): void {
    const resolved = resolvePreset(kind, preset as string | number);
    for (let i = 0; i < times; i++) {
      this.queue(kind).push({ preset: resolved });
    }
  }

  /** Drops queued scripts and presets (of one kind, or all). */
  clearScripts(kind?: EndpointKind): void {
    if (kind) {
      this.scripts.delete(kind);
    } else {
      this.scripts.clear();
    }
  }

  /** How many scripted responses are still queued for a kind. */
  pendingScripts(kind: EndpointKind): number {
    return this.scripts.get(kind)?.length ?? 0;
  }

  // ------------------------------------------------------------------------------------------------------
  // Request log and tokens

  clearRequests(): void {
    this.requests.length = 0;
  }

  count(kind: EndpointKind): number {
    return this.requests.filter((r) => r.kind === kind).length;
  }

  /** Header and claims of a JWT, without verifying it. */
  decode(jwt: string): DecodedJwt {
    return decodeJwt(jwt);
  }

  /**
   * Signs an idToken for a connection exactly as the Oidctoken API would (and records it), with optional
   * changes: for tests that need an expired, future or otherwise altered token without an HTTP round trip.
   */
  mintIdToken(connection?: EmulatorConnection | string, options: MintIdTokenOptions = {}): string {
    const c = typeof connection === 'object' ? connection : this.connection(connection);
    const iat = options.issuedAt ?? this.nowSeconds();
    const lifetime = options.lifetimeSeconds ?? this.state.idTokenLifetimeSeconds;
    const claims: JwtClaims = {
      jti: newGuid(),
      sub: this.subjectFor(c),
      aud: options.audience ?? DEFAULT_AUDIENCE,
      iss: this.issuerFor(c),
      nbf: iat,
      exp: iat + lifetime,
      iat,
      ...(options.claims ?? {}),
    };
    const key =
      c.issuerStyle === 'entra' ? this.tenantKey(c.tenantId) : this.adoKey(this.state.organizationId);
    const token = signJwt(claims, key);
    this.issuedIdTokens.push(token);
    return token;
  }

  /**
   * The variables an agent would give a task using these connections: System.* variables, the job's own
   * SYSTEMVSSCONNECTION endpoint, and each connection's ENDPOINT_URL/AUTH/DATA. Contains the job access token.
   */
  agentEnvironment(): Record<string, string> {
    const s = this.state;
    const env: Record<string, string> = {
      SYSTEM_OIDCREQUESTURI: this.oidcRequestUri,
      SYSTEM_COLLECTIONURI: this.collectionUri,
      SYSTEM_TEAMFOUNDATIONCOLLECTIONURI: this.collectionUri,
      SYSTEM_COLLECTIONID: s.organizationId,
      SYSTEM_TEAMPROJECT: s.projectName,
      SYSTEM_TEAMPROJECTID: s.projectId,
      SYSTEM_HOSTTYPE: s.hostType,
      SYSTEM_PLANID: s.planId,
      SYSTEM_JOBID: s.jobId,
      SYSTEM_ACCESSTOKEN: s.jobAccessToken,
      ENDPOINT_URL_SYSTEMVSSCONNECTION: this.collectionUri,
      ENDPOINT_AUTH_SYSTEMVSSCONNECTION: JSON.stringify({
        parameters: { AccessToken: s.jobAccessToken },
        scheme: 'OAuth',
      }),
      ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION: 'OAuth',
      ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN: s.jobAccessToken,
      AGENT_CAINFO: this.caFile,
      NODE_EXTRA_CA_CERTS: this.caFile,
    };
    for (const c of s.connections) {
      const issuer = this.issuerFor(c);
      const subject = this.subjectFor(c);
      env[`ENDPOINT_URL_${c.id}`] = 'https://management.azure.com/';
      env[`ENDPOINT_AUTH_${c.id}`] = JSON.stringify({
        parameters: {
          serviceprincipalid: c.clientId,
          tenantid: c.tenantId,
          workloadIdentityFederationIssuer: issuer,
          workloadIdentityFederationSubject: subject,
        },
        scheme: 'WorkloadIdentityFederation',
      });
      env[`ENDPOINT_AUTH_SCHEME_${c.id}`] = 'WorkloadIdentityFederation';
      env[`ENDPOINT_AUTH_PARAMETER_${c.id}_SERVICEPRINCIPALID`] = c.clientId;
      env[`ENDPOINT_AUTH_PARAMETER_${c.id}_TENANTID`] = c.tenantId;
      env[`ENDPOINT_AUTH_PARAMETER_${c.id}_WORKLOADIDENTITYFEDERATIONISSUER`] = issuer;
      env[`ENDPOINT_AUTH_PARAMETER_${c.id}_WORKLOADIDENTITYFEDERATIONSUBJECT`] = subject;
      env[`ENDPOINT_DATA_${c.id}_ENVIRONMENT`] = 'AzureCloud';
      env[`ENDPOINT_DATA_${c.id}_SCOPELEVEL`] = 'Subscription';
      env[`ENDPOINT_DATA_${c.id}_SUBSCRIPTIONID`] = c.subscriptionId ?? DEFAULTS.subscriptionId;
      env[`ENDPOINT_DATA_${c.id}_SUBSCRIPTIONNAME`] = c.subscriptionName ?? DEFAULTS.subscriptionName;
      env[`ENDPOINT_DATA_${c.id}_ACTIVEDIRECTORYAUTHORITY`] = this.authorityHost;
      env[`ENDPOINT_DATA_${c.id}_ENVIRONMENTAUTHORITYURL`] = this.authorityHost;
      env[`ENDPOINT_DATA_${c.id}_ACTIVEDIRECTORYSERVICEENDPOINTRESOURCEID`] =
        'https://management.core.windows.net/';
      env[`ENDPOINT_DATA_${c.id}_MICROSOFTGRAPHURL`] = 'https://graph.microsoft.com/';
    }
    return env;
  }

  // ------------------------------------------------------------------------------------------------------
  // Request pipeline

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.process(req, res);
    } catch (err) {
      // A bug in the emulator or in a test's script function, not a simulated failure: say so plainly.
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`Emulator error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  }

  private async process(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      req.socket.destroy();
      return;
    }
    const parsed = new URL(req.url ?? '/', this.url);
    const info: RequestInfo = {
      method: req.method ?? 'GET',
      path: parsed.pathname,
      query: parseQuery(parsed.searchParams),
      headers: flattenHeaders(req.headers),
      body,
    };
    const { route, params } = this.match(info.path);
    const kind: EndpointKind = route?.kind ?? 'other';
    const entry: RequestLogEntry = { time: new Date(), ...info, status: 0, kind, scripted: false };
    this.requests.push(entry);
    const ctx: RequestContext = {
      info,
      traceId: newGuid(),
      correlationId: isGuid(info.headers['client-request-id'] ?? '')
        ? info.headers['client-request-id']
        : newGuid(),
      e2eId: newGuid(),
    };

    // Take the scripted answer in arrival order, before any injected delay.
    const scripted = this.nextScript(kind, ctx) ?? this.randomFault(kind);
    await delay(this.state.latencyMs + (scripted?.delayMs ?? 0));
    if (this.stopped) {
      req.socket.destroy();
      return;
    }
    if (scripted?.drop) {
      entry.scripted = true;
      this.emitLog(entry, 'dropped');
      req.socket.destroy();
      return;
    }
    if (scripted?.hang) {
      entry.scripted = true;
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      this.emitLog(entry, 'hanging');
      return;
    }

    let reply: HttpReply;
    if (scripted && !isPassThrough(scripted)) {
      entry.scripted = true;
      reply = scriptedReply(scripted, this.baseHeaders(route?.service ?? 'none', ctx));
    } else if (route) {
      reply = this.safeHandle(route, ctx, params);
    } else {
      // An unknown Azure DevOps URL still carries the service's headers (x-vss-e2eid on every response).
      const first = info.path.split('/')[1] ?? '';
      const ado = info.path.includes('/_apis/') || sameId(safeDecode(first), this.state.organizationName);
      reply = htmlReply(
        404,
        '<html><body><h1>404 Not Found</h1></body></html>',
        ado ? this.adoHeaders(ctx) : {},
      );
    }
    entry.status = reply.status;
    this.emitLog(entry, scripted?.truncate ? 'truncated' : undefined);
    res.writeHead(reply.status, {
      ...reply.headers,
      'content-length': String(Buffer.byteLength(reply.body)),
    });
    if (scripted?.truncate) {
      const bytes = Buffer.from(reply.body);
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.destroy());
      return;
    }
    res.end(reply.body);
  }

  /**
   * Makes a share of the requests to the given endpoints fail transiently, as a flaky network or a
   * throttled service does: 500, 503 and 429 (with Retry-After: 0), 408, dropped connections and truncated
   * bodies. `random` makes a run reproducible.
   */
  setTransientFaults(kinds: EndpointKind[], rate: number, random: () => number = Math.random): void {
    this.transientFaults = { kinds, rate, random };
  }

  clearTransientFaults(): void {
    this.transientFaults = undefined;
  }

  private transientFaults?: { kinds: EndpointKind[]; rate: number; random: () => number };

  private randomFault(kind: EndpointKind): ScriptedResponse | undefined {
    const faults = this.transientFaults;
    if (!faults || !faults.kinds.includes(kind) || faults.random() >= faults.rate) return undefined;
    const choices: ScriptedResponse[] = [
      { status: 500, body: { message: 'Internal server error (injected)' } },
      { status: 503, headers: { 'retry-after': '0' }, body: { message: 'Service unavailable (injected)' } },
      { status: 429, headers: { 'retry-after': '0' }, body: { message: 'Too many requests (injected)' } },
      { status: 408, body: { message: 'Request timeout (injected)' } },
      { drop: true },
      { truncate: true },
    ];
    return choices[Math.floor(faults.random() * choices.length)];
  }

  private match(path: string): { route?: Route; params: string[] } {
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (m) {
        return { route, params: m.slice(1).map(safeDecode) };
      }
    }
    return { params: [] };
  }

  private safeHandle(route: Route, ctx: RequestContext, params: string[]): HttpReply {
    try {
      return route.handle(ctx, params);
    } catch (err) {
      // A bug in the emulator, not a simulated failure: say so plainly.
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      return {
        status: 500,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: `Emulator error: ${message}`,
      };
    }
  }

  private queue(kind: EndpointKind): QueuedScript[] {
    if (!ENDPOINT_KINDS.includes(kind)) {
      throw new Error(`Unknown endpoint kind '${kind}'`);
    }
    let q = this.scripts.get(kind);
    if (!q) {
      q = [];
      this.scripts.set(kind, q);
    }
    return q;
  }

  private nextScript(kind: EndpointKind, ctx: RequestContext): ScriptedResponse | undefined {
    const next = this.scripts.get(kind)?.shift();
    if (!next) {
      return undefined;
    }
    if ('preset' in next) {
      return next.preset(this.presetTools(ctx));
    }
    return typeof next.entry === 'function' ? next.entry(ctx.info) : next.entry;
  }

  private emitLog(entry: RequestLogEntry, outcome?: string): void {
    const log = this.state.log;
    if (!log) {
      return;
    }
    // Path only: no query, headers or body, so neither the job token nor any JWT can reach the log.
    const status = outcome ? `${entry.status} (${outcome})` : String(entry.status);
    log(
      `${entry.time.toISOString()} ${entry.method} ${entry.path} ${status} ${entry.kind}${entry.scripted ? ' [scripted]' : ''}`,
    );
  }

  private presetTools(ctx: RequestContext): PresetTools {
    return {
      request: ctx.info,
      organizationName: this.state.organizationName,
      signInUrl: () => this.signInUrl(ctx),
      wwwAuthenticate: () => this.wwwAuthenticate(),
      expiredIdToken: (connectionId) => {
        const c = this.state.connections.find((x) => sameId(x.id, connectionId)) ?? this.connection();
        const lifetime = this.state.idTokenLifetimeSeconds;
        return this.mintIdToken(c, {
          issuedAt: this.nowSeconds() - lifetime - 300,
          lifetimeSeconds: lifetime,
        });
      },
      aadstsContext: () => this.aadstsContext(ctx),
      traceId: () => ctx.traceId,
      correlationId: () => ctx.correlationId,
    };
  }

  // ------------------------------------------------------------------------------------------------------
  // Azure DevOps: Oidctoken API

  private handleOidcToken(c: RequestContext, [org, project, hub, plan, job]: string[]): HttpReply {
    const s = this.state;
    const h = this.adoHeaders(c);
    const { info } = c;
    if (info.method !== 'POST') {
      return jsonReply(405, adoErrors.methodNotAllowed(info.method), { ...h, allow: 'POST' });
    }
    if (!sameId(org, s.organizationName)) {
      return htmlReply(404, '<html><body><h1>404 - Not found</h1></body></html>', h);
    }
    // Authentication runs before routing to the API, as in the real service.
    if (!this.isJobAccessToken(info.headers.authorization)) {
      if ((info.headers['x-tfs-fedauthredirect'] ?? '').toLowerCase() === 'suppress') {
        return jsonReply(401, adoErrors.unauthorized(), {
          ...h,
          'www-authenticate': this.wwwAuthenticate(),
          'x-tfs-fedauthrealm': this.url,
          'x-tfs-fedauthissuer': `${this.url}/`,
        });
      }
      // Without the Suppress header Azure DevOps treats the caller as a browser and serves its sign-in page.
      const signIn = this.signInUrl(c);
      return htmlReply(203, signInPageHtml(signIn), { ...h, 'x-tfs-fedauthredirect': signIn });
    }
    const version = queryParam(info, 'api-version') ?? apiVersionFromAccept(info.headers.accept);
    if (!version) {
      return jsonReply(400, adoErrors.noApiVersion(info.method), h);
    }
    if (!/^7\.\d+(-preview(\.\d+)?)?$/i.test(version)) {
      return jsonReply(400, adoErrors.versionOutOfRange(version), h);
    }
    if (!sameId(project, s.projectId) && !sameId(project, s.projectName)) {
      return jsonReply(404, adoErrors.projectNotFound(project), h);
    }
    if (!sameId(hub, s.hostType) || !sameId(plan, s.planId)) {
      return jsonReply(404, adoErrors.planNotFound(plan), h);
    }
    if (!sameId(job, s.jobId)) {
      return jsonReply(404, adoErrors.jobNotFound(job), h);
    }
    const connectionId = queryParam(info, 'serviceConnectionId');
    if (!connectionId) {
      return jsonReply(400, adoErrors.missingParameter('serviceConnectionId'), h);
    }
    const connection = s.connections.find((x) => sameId(x.id, connectionId));
    if (!connection) {
      return jsonReply(404, adoErrors.connectionNotFound(connectionId), h);
    }
    const audience = queryParam(info, 'audience') || undefined;
    return jsonReply(200, { oidcToken: this.mintIdToken(connection, { audience }) }, h);
  }

  /** Bearer <token>, or Basic with the token as password (how PAT-style clients send it). */
  private isJobAccessToken(authorization: string | undefined): boolean {
    const m = /^(\S+)\s+(\S+)\s*$/.exec(authorization ?? '');
    if (!m) {
      return false;
    }
    const scheme = m[1].toLowerCase();
    if (scheme === 'bearer') {
      return m[2] === this.state.jobAccessToken;
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(m[2], 'base64').toString('utf8');
      return decoded.slice(decoded.indexOf(':') + 1) === this.state.jobAccessToken;
    }
    return false;
  }

  private handleAdoDiscovery(c: RequestContext, organizationId: string): HttpReply {
    if (!sameId(organizationId, this.state.organizationId)) {
      return htmlReply(404, '<html><body><h1>404 - Not found</h1></body></html>', this.adoHeaders(c));
    }
    return jsonReply(
      200,
      {
        issuer: `${ADO_ISSUER_PREFIX}${this.state.organizationId}`,
        jwks_uri: `${this.url}/_vstoken/${this.state.organizationId}/.well-known/jwks`,
        subject_types_supported: ['public'],
        response_types_supported: ['id_token'],
        claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'nbf', 'jti'],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid'],
      },
      this.adoHeaders(c),
    );
  }

  /**
   * `OPTIONS {collection}/_apis/{area}`: the API resource locations of an area, which azure-devops-node-api's
   * VsoClient reads before its first call into the area to build the URL and negotiate the api-version. Only
   * `distributedtask`'s Oidctoken location is served. Inferred: that the call is authenticated like the API
   * itself, and the Oidctoken location's versions (7.1-7.2, preview, resource version 1).
   */
  private handleResourceLocations(c: RequestContext, org: string, area: string): HttpReply {
    const h = this.adoHeaders(c);
    const location = RESOURCE_LOCATIONS[area.toLowerCase()];
    if (c.info.method !== 'OPTIONS' || !sameId(org, this.state.organizationName) || !location) {
      return htmlReply(404, '<html><body><h1>404 - Not found</h1></body></html>', h);
    }
    if (!this.isJobAccessToken(c.info.headers.authorization)) {
      return jsonReply(401, adoErrors.unauthorized(), { ...h, 'www-authenticate': this.wwwAuthenticate() });
    }
    return jsonReply(200, { count: location.length, value: location }, h);
  }

  private handleAdoJwks(c: RequestContext, organizationId: string): HttpReply {
    if (
      !sameId(organizationId, this.state.organizationId) &&
      !this.adoKeys.has(organizationId.toLowerCase())
    ) {
      return htmlReply(404, '<html><body><h1>404 - Not found</h1></body></html>', this.adoHeaders(c));
    }
    return jsonReply(200, toJwks([this.adoKey(organizationId)]), this.adoHeaders(c));
  }

  // ------------------------------------------------------------------------------------------------------
  // Azure Resource Manager: the lists clients read right after signing in (az login lists subscriptions)

  /**
   * `GET /subscriptions` and `GET /tenants`, authenticated as Resource Manager does: a bearer access token this
   * emulator issued (signature, expiry, audience). The subscriptions are those of the connections that sign in
   * as the token's app in its tenant: in this model, what the service principal holds a role on.
   * Checking authentication before the api-version is an inference.
   */
  private handleArmList(c: RequestContext, list: 'subscriptions' | 'tenants'): HttpReply {
    const h = this.armHeaders(c);
    const unauthorized = (body: ArmError, challenge = body.error.message): HttpReply =>
      jsonReply(401, body, { ...h, 'www-authenticate': armErrors.challenge(challenge) });
    const authorization = c.info.headers.authorization;
    if (!authorization) {
      return unauthorized(
        armErrors.missingAuthorization(),
        "The authentication failed because of missing 'Authorization' header.",
      );
    }
    const jwt = tryDecodeJwt(/^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] ?? '');
    const tenant = typeof jwt?.payload.tid === 'string' ? jwt.payload.tid : undefined;
    if (
      !jwt ||
      !tenant ||
      !this.isKnownTenant(tenant) ||
      checkJwtSignature(jwt, [this.tenantKey(tenant)]) !== 'valid'
    ) {
      return unauthorized(armErrors.invalidToken());
    }
    const claims = jwt.payload;
    const now = this.nowSeconds();
    if (typeof claims.exp !== 'number' || claims.exp <= now) {
      const exp = typeof claims.exp === 'number' ? claims.exp : 0;
      return unauthorized(armErrors.expiredToken(new Date(exp * 1000), new Date(now * 1000)));
    }
    const audience = Array.isArray(claims.aud) ? claims.aud.map(String).join(',') : String(claims.aud);
    // Resource Manager accepts its well-known audiences and its own URL, with or without the trailing slash
    // (the list its InvalidAuthenticationTokenAudience message names); the emulator's URL stands in for its own.
    const allowed = [...ARM_AUDIENCES, `${this.url}/`, this.url];
    if (!allowed.includes(audience)) {
      return unauthorized(armErrors.wrongAudience(audience, allowed));
    }
    if (!queryParam(c.info, 'api-version')) {
      return jsonReply(400, armErrors.missingApiVersion(), h);
    }
    if (list === 'tenants') {
      const value = [{ id: `/tenants/${tenant}`, tenantId: tenant, tenantCategory: 'Home' }];
      return jsonReply(200, { value, count: { type: 'Total', value: value.length } }, h);
    }
    const appId = String(claims.appid ?? claims.azp ?? '');
    const seen = new Set<string>();
    const value = this.state.connections
      .filter((x) => sameId(x.clientId, appId) && sameId(x.tenantId, tenant))
      .map((x) => ({
        subscriptionId: x.subscriptionId ?? DEFAULTS.subscriptionId,
        displayName: x.subscriptionName ?? DEFAULTS.subscriptionName,
      }))
      .filter((x) => !seen.has(x.subscriptionId.toLowerCase()) && seen.add(x.subscriptionId.toLowerCase()))
      .map(({ subscriptionId, displayName }) => ({
        id: `/subscriptions/${subscriptionId}`,
        authorizationSource: 'RoleBased',
        managedByTenants: [],
        subscriptionId,
        tenantId: tenant,
        displayName,
        state: 'Enabled',
        subscriptionPolicies: {
          locationPlacementId: 'Public_2014-09-01',
          quotaId: 'PayAsYouGo_2014-09-01',
          spendingLimit: 'Off',
        },
      }));
    return jsonReply(200, { value, count: { type: 'Total', value: value.length } }, h);
  }

  // ------------------------------------------------------------------------------------------------------
  // Entra ID: token endpoint

  /**
   * Client-credentials grant with a federated client assertion, checked in the order Entra reports problems:
   * tenant, client, protocol parameters, scope, assertion format, signature, validity period, federated
   * identity credential match (audience, issuer, subject), identity restrictions.
   */
  private handleToken(
    c: RequestContext,
    variant: TokenVariant,
    tenantSegment: string | undefined,
  ): HttpReply {
    const h = this.entraHeaders(c);
    const actx = this.aadstsContext(c);
    const fail = (code: number, extra: Partial<AadstsContext> = {}): HttpReply => {
      const r = entraError(code, { ...actx, ...extra }, c.traceId, c.correlationId);
      return jsonReply(r.status, r.body, { ...h, ...r.headers });
    };
    if (c.info.method !== 'POST') {
      return fail(900561, { method: c.info.method });
    }
    if (tenantSegment !== undefined) {
      if (MULTI_TENANT_SEGMENTS.includes(tenantSegment.toLowerCase())) {
        return fail(9001023);
      }
      if (!this.isKnownTenant(tenantSegment)) {
        // A well-formed GUID or domain that does not exist is "not found"; anything else is not even a name.
        return fail(
          isGuid(tenantSegment) || /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(tenantSegment) ? 90002 : 900023,
        );
      }
    }
    const form = formOf(c.info);
    const clientId = form.get('client_id');
    if (!clientId) {
      return fail(900144, { parameter: 'client_id' });
    }
    const identity =
      tenantSegment === undefined
        ? this.state.identities.find((i) => sameId(i.clientId, clientId))
        : this.identity(clientId, tenantSegment);
    if (!identity) {
      return fail(700016);
    }
    const grantType = form.get('grant_type');
    if (!grantType) {
      return fail(900144, { parameter: 'grant_type' });
    }
    if (grantType !== 'client_credentials') {
      return fail(70003, { grantType });
    }
    const assertion = form.get('client_assertion');
    if (!assertion) {
      // The emulator knows no client secrets: a secret-based request fails as an expired/wrong secret would.
      return fail(form.get('client_secret') ? 7000215 : 7000218);
    }
    const assertionType = form.get('client_assertion_type');
    if (!assertionType) {
      return fail(900144, { parameter: 'client_assertion_type' });
    }
    if (assertionType !== CLIENT_ASSERTION_TYPE) {
      return fail(90011);
    }
    const resource = requestedResource(variant, form);
    if ('code' in resource) {
      return fail(resource.code, resource.extra);
    }

    const jwt = tryDecodeJwt(assertion);
    if (!jwt) {
      return fail(50027);
    }
    const claims = jwt.payload;
    const keys = this.keysForIssuer(claims.iss);
    if (keys) {
      const check = checkJwtSignature(jwt, keys);
      if (check === 'unknown-kid') {
        return fail(7000272);
      }
      if (check !== 'valid') {
        return fail(700027);
      }
    } else if (identity.federatedCredentials.some((f) => f.issuer === claims.iss)) {
      // A trusted issuer the emulator does not sign for: Entra could not find the key in its metadata.
      return fail(7000272);
    }
    const now = this.nowSeconds();
    const skew = this.state.clockSkewSeconds;
    const nbf = typeof claims.nbf === 'number' ? claims.nbf : undefined;
    const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
    if (exp === undefined || exp <= now - skew || (nbf !== undefined && nbf > now + skew)) {
      return fail(700024);
    }
    const mismatch = matchFederatedCredential(identity, claims);
    if (mismatch !== undefined) {
      return fail(mismatch);
    }
    if (identity.multiTenant && typeof claims.iss === 'string' && ENTRA_ISSUER_PATTERN.test(claims.iss)) {
      return fail(70052);
    }
    return jsonReply(200, this.issueAccessToken(identity, resource.resource, variant), h);
  }

  private issueAccessToken(identity: EmulatorIdentity, resource: string, variant: TokenVariant): object {
    const iat = this.nowSeconds();
    const lifetime = this.state.accessTokenLifetimeSeconds;
    const tenant = identity.tenantId;
    const sts = `https://sts.windows.net/${tenant}/`;
    const oid = identity.objectId ?? newGuid();
    const claims: JwtClaims = {
      aud: resource,
      iss: variant === 'adfs' ? `${this.url}/adfs` : sts,
      iat,
      nbf: iat,
      exp: iat + lifetime,
      appid: identity.clientId,
      appidacr: '2',
      azp: identity.clientId,
      idp: sts,
      idtyp: 'app',
      oid,
      sub: oid,
      tid: tenant,
      uti: randomHex(16),
      ver: '1.0',
    };
    const key = this.tenantKey(tenant);
    // Entra access tokens carry the key id twice, as kid and x5t.
    const token = signJwt(claims, key, { x5t: key.kid });
    this.issuedAccessTokens.push(token);
    if (variant === 'v1') {
      // The v1 endpoint answers numbers as strings and echoes the resource.
      return {
        token_type: 'Bearer',
        expires_in: String(lifetime),
        ext_expires_in: String(lifetime),
        expires_on: String(iat + lifetime),
        not_before: String(iat),
        resource,
        access_token: token,
      };
    }
    if (variant === 'adfs') {
      return { access_token: token, token_type: 'bearer', expires_in: lifetime };
    }
    return { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: token };
  }

  /** Everything an AADSTS description may mention, read from the request itself (also used by presets). */
  private aadstsContext(c: RequestContext): AadstsContext {
    const form = formOf(c.info);
    const tenant = /^\/([^/]+)\/oauth2\//.exec(c.info.path)?.[1];
    const clientId = form.get('client_id') ?? undefined;
    const identity = clientId
      ? this.state.identities.find(
          (i) => sameId(i.clientId, clientId) && (tenant === 'adfs' || sameId(i.tenantId, tenant)),
        )
      : undefined;
    const jwt = tryDecodeJwt(form.get('client_assertion') ?? '');
    return {
      now: new Date(this.nowMs()),
      tenant: tenant === 'adfs' ? identity?.tenantId : tenant && safeDecode(tenant),
      clientId,
      identityName: identity?.displayName,
      scope: form.get('scope') ?? undefined,
      method: c.info.method,
      assertion: jwt ? { ...jwt.payload, kid: jwt.header.kid } : undefined,
    };
  }

  private keysForIssuer(iss: unknown): SigningKey[] | undefined {
    if (typeof iss !== 'string') {
      return undefined;
    }
    if (iss.startsWith(ADO_ISSUER_PREFIX)) {
      const org = iss.slice(ADO_ISSUER_PREFIX.length);
      return sameId(org, this.state.organizationId) || this.adoKeys.has(org.toLowerCase())
        ? [this.adoKey(org)]
        : undefined;
    }
    const m = ENTRA_ISSUER_PATTERN.exec(iss);
    if (m && (this.isKnownTenant(m[1]) || this.tenantKeys.has(m[1].toLowerCase()))) {
      return [this.tenantKey(m[1])];
    }
    return undefined;
  }

  // ------------------------------------------------------------------------------------------------------
  // Entra ID: discovery

  private handleEntraDiscovery(c: RequestContext, tenant: string, version: 'v1' | 'v2'): HttpReply {
    const problem = this.tenantProblem(tenant);
    if (problem) {
      const r = entraError(problem, { now: new Date(this.nowMs()), tenant }, c.traceId, c.correlationId);
      return jsonReply(r.status, r.body, this.entraHeaders(c));
    }
    return jsonReply(200, this.entraConfiguration(tenant, version), this.entraHeaders(c));
  }

  private handleEntraJwks(c: RequestContext, tenant: string): HttpReply {
    if (MULTI_TENANT_SEGMENTS.includes(tenant.toLowerCase())) {
      return jsonReply(200, toJwks(this.allTenantKeys()), this.entraHeaders(c));
    }
    const problem = this.tenantProblem(tenant);
    if (problem) {
      const r = entraError(problem, { now: new Date(this.nowMs()), tenant }, c.traceId, c.correlationId);
      return jsonReply(r.status, r.body, this.entraHeaders(c));
    }
    return jsonReply(200, toJwks([this.tenantKey(tenant)]), this.entraHeaders(c));
  }

  private handleInstanceDiscovery(c: RequestContext): HttpReply {
    const hosts = [new URL(this.url).host, `localhost:${new URL(this.url).port}`];
    const endpoint = c.info.query.authorization_endpoint;
    let requested: URL | undefined;
    try {
      requested = endpoint ? new URL(endpoint) : undefined;
    } catch {
      requested = undefined;
    }
    if (!requested || !hosts.includes(requested.host)) {
      const r = entraError(50049, { now: new Date(this.nowMs()) }, c.traceId, c.correlationId);
      return jsonReply(r.status, r.body, this.entraHeaders(c));
    }
    const tenant = requested.pathname.split('/').filter(Boolean)[0] ?? 'common';
    return jsonReply(
      200,
      {
        tenant_discovery_endpoint: `${this.url}/${tenant}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: requested.host, preferred_cache: requested.host, aliases: hosts }],
      },
      this.entraHeaders(c),
    );
  }

  /**
   * The OpenID configuration of a tenant. Every endpoint points at the emulator; `issuer` is the value the
   * emulator puts in `iss` (the real Entra host), so a third party can check tokens against it.
   */
  private entraConfiguration(tenant: string, version: 'v1' | 'v2'): Record<string, unknown> {
    const isTemplate = MULTI_TENANT_SEGMENTS.includes(tenant.toLowerCase());
    const issuerTenant = isTemplate ? '{tenantid}' : tenant;
    const base = `${this.url}/${tenant}`;
    const v = version === 'v2' ? '/v2.0' : '';
    return {
      token_endpoint: `${base}/oauth2${v}/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery${v}/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer:
        version === 'v2'
          ? `https://login.microsoftonline.com/${issuerTenant}/v2.0`
          : `https://sts.windows.net/${issuerTenant}/`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${this.url}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2${v}/authorize`,
      device_authorization_endpoint: `${base}/oauth2${v}/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2${v}/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'tid', 'ver', 'oid'],
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: 'NA',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  }

  private adfsConfiguration(): Record<string, unknown> {
    const base = `${this.url}/adfs`;
    return {
      issuer: base,
      authorization_endpoint: `${base}/oauth2/authorize`,
      token_endpoint: `${base}/oauth2/token`,
      jwks_uri: `${base}/discovery/keys`,
      end_session_endpoint: `${base}/oauth2/logout`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic', 'private_key_jwt'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token', 'code token'],
      scopes_supported: ['openid', 'profile', 'email', 'allatclaims'],
      access_token_issuer: `${base}/services/trust`,
    };
  }

  /** The AADSTS code for a tenant path segment that is not a known tenant, or undefined when it is fine. */
  private tenantProblem(tenant: string): number | undefined {
    if (MULTI_TENANT_SEGMENTS.includes(tenant.toLowerCase()) || this.isKnownTenant(tenant)) {
      return undefined;
    }
    return isGuid(tenant) || /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(tenant) ? 90002 : 900023;
  }

  // ------------------------------------------------------------------------------------------------------
  // Headers

  private baseHeaders(service: Service, c: RequestContext): Record<string, string | string[]> {
    if (service === 'ado') {
      return this.adoHeaders(c);
    }
    if (service === 'arm') {
      return this.armHeaders(c);
    }
    return service === 'entra' ? this.entraHeaders(c) : {};
  }

  /** Headers every Resource Manager response carries. */
  private armHeaders(c: RequestContext): Record<string, string> {
    // ARM keeps the caller's correlation id when it sends one.
    const sent = c.info.headers['x-ms-correlation-request-id'];
    const correlation = isGuid(sent ?? '') ? sent : c.traceId;
    return {
      'cache-control': 'no-cache',
      pragma: 'no-cache',
      expires: '-1',
      'x-content-type-options': 'nosniff',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-ms-request-id': c.traceId,
      'x-ms-correlation-request-id': correlation,
      'x-ms-routing-request-id': `WESTEUROPE:${new Date(this.nowMs()).toISOString().replace(/[-:]|\.\d+/g, '')}:${c.traceId}`,
    };
  }

  /** Headers every Azure DevOps response carries; x-vss-e2eid and x-msedge-ref are what support asks for. */
  private adoHeaders(c: RequestContext): Record<string, string> {
    return {
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'x-tfs-processid': this.processId,
      'x-tfs-session': c.e2eId,
      'x-vss-e2eid': c.e2eId,
      activityid: c.e2eId,
      'x-msedge-ref': `Ref A: ${randomHex(16).toUpperCase()} Ref B: EMU01EDGE0109 Ref C: ${new Date().toISOString().slice(0, 19)}Z`,
    };
  }

  private entraHeaders(c: RequestContext): Record<string, string> {
    const headers: Record<string, string> = {
      'cache-control': 'no-store, no-cache',
      pragma: 'no-cache',
      'x-content-type-options': 'nosniff',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-ms-request-id': c.traceId,
      'x-ms-ests-server': '2.1.emulator - EMU ProdSlices',
    };
    if (c.info.headers['client-request-id']) {
      headers['client-request-id'] = c.info.headers['client-request-id'];
    }
    return headers;
  }

  private signInUrl(c: RequestContext): string {
    const host = new URL(this.url).host;
    const replyTo = `${this.url}${c.info.path}`;
    return `${this.url}/_signin?realm=${encodeURIComponent(host)}&reply_to=${encodeURIComponent(replyTo)}&redirect=1`;
  }

  private wwwAuthenticate(): string[] {
    return [
      `Bearer authorization_uri=${this.url}/${this.primaryTenant()}`,
      `Basic realm="${this.url}/"`,
      'TFS-Federated',
    ];
  }

  // ------------------------------------------------------------------------------------------------------
  // Model helpers

  private nowMs(): number {
    return this.state.now ? this.state.now() : Date.now();
  }

  private nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  private primaryTenant(): string {
    return (
      this.explicitTenants?.[0] ??
      this.state.connections[0]?.tenantId ??
      this.state.identities[0]?.tenantId ??
      DEFAULTS.tenantId
    );
  }

  private knownTenants(): string[] {
    if (this.explicitTenants) {
      return [...this.explicitTenants];
    }
    const all = [
      ...this.state.identities.map((i) => i.tenantId),
      ...this.state.connections.map((c) => c.tenantId),
    ];
    return all.filter((t, i) => all.findIndex((x) => sameId(x, t)) === i);
  }

  private isKnownTenant(tenant: string): boolean {
    return this.knownTenants().some((t) => sameId(t, tenant));
  }

  private completeConnection(
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

  private completeIdentity(i: EmulatorIdentityInput, tenant: string): EmulatorIdentity {
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

  /** One identity per (client id, tenant) of the connections, trusting each connection's issuer and subject. */
  private deriveIdentities(connections: EmulatorConnection[]): EmulatorIdentity[] {
    const identities: EmulatorIdentity[] = [];
    for (const c of connections) {
      const fic = this.federatedCredentialFor(c);
      const existing = identities.find(
        (i) => sameId(i.clientId, c.clientId) && sameId(i.tenantId, c.tenantId),
      );
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
        displayName: `${this.state.organizationName}-${this.state.projectName}-${c.subscriptionId ?? DEFAULTS.subscriptionId}`,
        objectId: newGuid(),
        matchMode: 'separate',
      });
    }
    return identities;
  }

  private async preloadKeys(): Promise<void> {
    const tenants = this.knownTenants().filter((t) => !this.tenantKeys.has(t.toLowerCase()));
    const [adoKey, ...keys] = await Promise.all([
      createSigningKey(),
      ...tenants.map(() => createSigningKey()),
    ]);
    this.adoKeys.set(this.state.organizationId.toLowerCase(), adoKey);
    tenants.forEach((t, i) => this.tenantKeys.set(t.toLowerCase(), keys[i]));
  }

  /** The Azure DevOps issuer key of an organization, created on first use. */
  private adoKey(organizationId: string): SigningKey {
    return getOrCreate(this.adoKeys, organizationId.toLowerCase(), createSigningKeySync);
  }

  /** The Entra signing key of a tenant (idTokens of the Entra issuer and access tokens), created on first use. */
  private tenantKey(tenant: string): SigningKey {
    return getOrCreate(this.tenantKeys, tenant.toLowerCase(), createSigningKeySync);
  }

  private allTenantKeys(): SigningKey[] {
    for (const t of this.knownTenants()) {
      this.tenantKey(t);
    }
    return [...this.tenantKeys.values()];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Pure helpers

/** Which federated-credential check fails first (70025, 700212, 700211, 700213, or 70021 in combined mode). */
function matchFederatedCredential(identity: EmulatorIdentity, claims: JwtClaims): number | undefined {
  const fics = identity.federatedCredentials;
  if (fics.length === 0) {
    return 70025;
  }
  const combined = identity.matchMode === 'combined';
  const audiences = Array.isArray(claims.aud)
    ? claims.aud.map(String)
    : claims.aud === undefined
      ? []
      : [String(claims.aud)];
  // Matching is case-sensitive, as Entra's has been since 2025.
  const byAudience = fics.filter((f) => f.audiences.some((a) => audiences.includes(a)));
  if (byAudience.length === 0) {
    return combined ? 70021 : 700212;
  }
  const byIssuer = byAudience.filter((f) => f.issuer === claims.iss);
  if (byIssuer.length === 0) {
    return combined ? 70021 : 700211;
  }
  if (!byIssuer.some((f) => f.subject === claims.sub)) {
    return combined ? 70021 : 700213;
  }
  return undefined;
}

/** The resource a token request asks for: v2 takes the first `<resource>/.default` scope, v1 the `resource`. */
function requestedResource(
  variant: TokenVariant,
  form: URLSearchParams,
): { resource: string } | { code: number; extra?: Partial<AadstsContext> } {
  const scope = form.get('scope');
  const resourceParam = form.get('resource');
  if (variant !== 'v2' && resourceParam) {
    return { resource: resourceParam };
  }
  if (!scope) {
    if (variant === 'v2' && resourceParam) {
      return { code: 901002 };
    }
    return { code: 900144, extra: { parameter: variant === 'v1' ? 'resource' : 'scope' } };
  }
  const first = scope.split(/\s+/).find((s) => s.endsWith('/.default'));
  if (!first) {
    return { code: 1002012, extra: { scope } };
  }
  return { resource: first.slice(0, -'/.default'.length) };
}

function formOf(info: RequestInfo): URLSearchParams {
  const type = info.headers['content-type'] ?? '';
  return type.toLowerCase().includes('application/x-www-form-urlencoded')
    ? new URLSearchParams(info.body)
    : new URLSearchParams();
}

/** Query parameter by case-insensitive name, as Azure DevOps reads them. */
function queryParam(info: RequestInfo, name: string): string | undefined {
  const key = Object.keys(info.query).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : info.query[key];
}

/** `application/json;api-version=7.1-preview.1`: how azure-devops-node-api sends the version. */
function apiVersionFromAccept(accept: string | undefined): string | undefined {
  return /api-version=([^;,\s]+)/i.exec(accept ?? '')?.[1];
}

function safeDecode(s: string): string {
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

function readBody(req: IncomingMessage): Promise<string> {
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
