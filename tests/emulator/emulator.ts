/**
 * A local emulator of Azure DevOps' Oidctoken API and Microsoft Entra ID's token endpoint, served over HTTPS on
 * 127.0.0.1 by one server, so the task can be tested end to end over real sockets with real TLS, real JWTs and
 * the error shapes the real services answer with.
 *
 * Layout: a small regex router (the route table below) maps each request to an endpoint kind and a handler;
 * handlers return an HttpReply; scripted responses and failure presets are consumed per kind before normal
 * handling; every request is recorded in `requests` before it is answered (pipeline.ts). The handlers live
 * per service: azure-devops.ts, entra.ts, resource-manager.ts, and aws-sts.ts, gcp.ts, vault.ts for the other
 * clouds; they see the emulator through the EmulatorHost of shared.ts. Error bodies live in errors.ts, presets
 * in presets.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signInPageHtml } from './errors';
import { htmlReply, jsonReply, type RequestLogEntry, type ScriptEntry } from './http';
import { guidToBase64Url, newGuid, randomAccessToken } from './ids';
import { createSigningKey, decodeJwt, toJwks, type DecodedJwt, type JwtClaims } from './jwt';
import {
  AZURE_DEVOPS_APP_ID,
  DEFAULT_AUDIENCE,
  DEFAULTS,
  sameId,
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
import { resolvePreset, type FailurePresetFor, type PresetTools } from './presets';
import { AzureDevOps } from './azure-devops';
import { Entra } from './entra';
import { ResourceManager } from './resource-manager';
import { RequestPipeline, ScriptBook } from './pipeline';
import {
  ADO_ISSUER_PREFIX,
  ENTRA_ISSUER_PATTERN,
  IssuerKeyStore,
  completeConnection,
  completeIdentity,
  deriveIdentities,
  knownTenants,
  primaryTenant,
  keysForIssuer,
  type EmulatorHost,
  type RequestContext,
  type Route,
} from './shared';

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

/** The Resource Manager audience the emulated Azure Stack Hub names in its metadata. */
export { AZURE_STACK_AUDIENCE } from './resource-manager';

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
  private readonly keys = new IssuerKeyStore();
  private readonly scripts = new ScriptBook();
  private readonly hung = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private readonly processId = newGuid();
  private stopped = false;

  /** Relying parties that trust the idTokens: each checks them against the issuer's keys and its own trust. */
  /** The shared state as the service handlers see it, and the handlers of each service. */
  private readonly host: EmulatorHost;
  private readonly ado: AzureDevOps;
  private readonly entra: Entra;
  private readonly arm: ResourceManager;
  private readonly pipeline: RequestPipeline;

  private readonly issuerKeys: IssuerKeys = {
    keysFor: (iss) => keysForIssuer(this.host, iss),
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
      handle: (c, p) => this.ado.handleOidcToken(c, p),
    },
    {
      kind: 'openid-configuration',
      service: 'ado',
      pattern: /^\/_vstoken\/([^/]+)\/\.well-known\/openid-configuration$/i,
      handle: (c, p) => this.ado.handleAdoDiscovery(c, p[0]),
    },
    {
      kind: 'jwks',
      service: 'ado',
      pattern: /^\/_vstoken\/([^/]+)\/\.well-known\/jwks$/i,
      handle: (c, p) => this.ado.handleAdoJwks(c, p[0]),
    },
    {
      kind: 'other',
      service: 'ado',
      pattern: /^\/_signin$/i,
      handle: (c) => htmlReply(200, signInPageHtml(this.ado.signInUrl(c)), this.ado.adoHeaders(c)),
    },
    {
      // A connection whose authority is <host>/adfs/ (the layout az needs offline): MSAL appends the tenant.
      kind: 'token',
      service: 'entra',
      pattern: /^\/adfs\/([^/]+)\/oauth2\/v2\.0\/token\/?$/i,
      handle: (c, p) => this.entra.handleToken(c, 'v2', p[0]),
    },
    {
      kind: 'token',
      service: 'entra',
      pattern: /^\/adfs\/oauth2\/token\/?$/i,
      handle: (c) => this.entra.handleToken(c, 'adfs', undefined),
    },
    {
      kind: 'openid-configuration',
      service: 'entra',
      pattern: /^\/adfs\/\.well-known\/openid-configuration$/i,
      handle: (c) => jsonReply(200, this.entra.adfsConfiguration(), this.entra.entraHeaders(c)),
    },
    {
      kind: 'jwks',
      service: 'entra',
      pattern: /^\/adfs\/discovery\/keys$/i,
      handle: (c) =>
        jsonReply(200, toJwks(this.keys.allTenantKeys(this.knownTenants())), this.entra.entraHeaders(c)),
    },
    {
      // Azure Stack Hub's Resource Manager metadata, which names the Entra authority and the audience.
      kind: 'other',
      service: 'none',
      pattern: /^\/metadata\/endpoints$/i,
      handle: () => this.arm.metadataEndpoints(),
    },
    {
      kind: 'instance-discovery',
      service: 'entra',
      pattern: /^\/common\/discovery\/instance$/i,
      handle: (c) => this.entra.handleInstanceDiscovery(c),
    },
    {
      kind: 'arm',
      service: 'arm',
      pattern: /^\/subscriptions\/?$/i,
      handle: (c) => this.arm.handleArmList(c, 'subscriptions'),
    },
    {
      kind: 'arm',
      service: 'arm',
      pattern: /^\/tenants\/?$/i,
      handle: (c) => this.arm.handleArmList(c, 'tenants'),
    },
    {
      kind: 'token',
      service: 'entra',
      pattern: /^\/([^/]+)\/oauth2\/v2\.0\/token\/?$/i,
      handle: (c, p) => this.entra.handleToken(c, 'v2', p[0]),
    },
    {
      kind: 'token',
      service: 'entra',
      pattern: /^\/([^/]+)\/oauth2\/token\/?$/i,
      handle: (c, p) => this.entra.handleToken(c, 'v1', p[0]),
    },
    {
      kind: 'openid-configuration',
      service: 'entra',
      pattern: /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/i,
      handle: (c, p) => this.entra.handleEntraDiscovery(c, p[0], 'v2'),
    },
    {
      kind: 'openid-configuration',
      service: 'entra',
      pattern: /^\/([^/]+)\/\.well-known\/openid-configuration$/i,
      handle: (c, p) => this.entra.handleEntraDiscovery(c, p[0], 'v1'),
    },
    {
      kind: 'jwks',
      service: 'entra',
      pattern: /^\/([^/]+)\/discovery\/(?:v2\.0\/)?keys$/i,
      handle: (c, p) => this.entra.handleEntraJwks(c, p[0]),
    },
    {
      // OPTIONS {collection}/_apis/{area}: the resource locations azure-devops-node-api negotiates routes with.
      kind: 'other',
      service: 'ado',
      pattern: /^\/([^/]+)\/_apis\/([^/]+)\/?$/i,
      handle: (c, p) => this.ado.handleResourceLocations(c, p[0], p[1]),
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
    this.state.connections = connections.map((c, i) => completeConnection(c, i, tenant));
    this.state.identities = options.identities
      ? options.identities.map((i) => completeIdentity(i, tenant))
      : deriveIdentities(this.state, this.state.connections, (c) => this.federatedCredentialFor(c));
    this.state.tenants = this.knownTenants();
    this.host = {
      emulator: this,
      url,
      state: this.state,
      processId: this.processId,
      keys: this.keys,
      nowMs: () => this.nowMs(),
      nowSeconds: () => this.nowSeconds(),
      primaryTenant: () => this.primaryTenant(),
      knownTenants: () => this.knownTenants(),
      isKnownTenant: (tenant) => this.isKnownTenant(tenant),
    };
    this.ado = new AzureDevOps(this.host);
    this.entra = new Entra(this.host);
    this.arm = new ResourceManager(this.host);
    this.pipeline = new RequestPipeline({
      url,
      state: this.state,
      requests: this.requests,
      routes: this.routes,
      scripts: this.scripts,
      hung: this.hung,
      isStopped: () => this.stopped,
      ado: this.ado,
      entra: this.entra,
      arm: this.arm,
      presetTools: (ctx) => this.presetTools(ctx),
    });

    server.on(
      'request',
      (req: IncomingMessage, res: ServerResponse) => void this.pipeline.onRequest(req, res),
    );
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
    return this.entra.entraConfiguration(tenantId, 'v2');
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
      this.state.connections = connections.map((c, i) => completeConnection(c, i, tenant));
    }
    if (identities !== undefined) {
      this.state.identities = identities.map((i) => completeIdentity(i, tenant));
      this.identitiesDerived = false;
    } else if (connections !== undefined && this.identitiesDerived) {
      this.state.identities = deriveIdentities(this.state, this.state.connections, (c) =>
        this.federatedCredentialFor(c),
      );
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
    const connection = completeConnection(input, this.state.connections.length, this.primaryTenant());
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
        this.state.identities.push(
          deriveIdentities(this.state, [connection], (c) => this.federatedCredentialFor(c))[0],
        );
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
    const identity = completeIdentity(input, this.primaryTenant());
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
    this.scripts.queue(kind).push(...responses.map((entry) => ({ entry })));
  }

  /**
   * Makes the next `times` requests of an endpoint kind fail the way the real service does in a named
   * situation. For 'token', pass an AADSTS code (e.g. 700213) for Entra's exact error for that code.
   */
  failNext<K extends EndpointKind>(kind: K, preset: FailurePresetFor<K>, times = 1): void {
    const resolved = resolvePreset(kind, preset as string | number);
    for (let i = 0; i < times; i++) {
      this.scripts.queue(kind).push({ preset: resolved });
    }
  }

  /** Drops queued scripts and presets (of one kind, or all). */
  clearScripts(kind?: EndpointKind): void {
    this.scripts.clear(kind);
  }

  /** How many scripted responses are still queued for a kind. */
  pendingScripts(kind: EndpointKind): number {
    return this.scripts.pending(kind);
  }

  /**
   * Makes a share of the requests to the given endpoints fail transiently, as a flaky network or a
   * throttled service does: 500, 503 and 429 (with Retry-After: 0), 408, dropped connections and truncated
   * bodies. `random` makes a run reproducible.
   */
  setTransientFaults(kinds: EndpointKind[], rate: number, random: () => number = Math.random): void {
    this.scripts.setTransientFaults(kinds, rate, random);
  }

  clearTransientFaults(): void {
    this.scripts.clearTransientFaults();
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
    return this.ado.signIdToken(c, options);
  }

  /**
   * The variables an agent would give a task using these connections: System.* variables, the job's own
   * SYSTEMVSSCONNECTION endpoint, and each connection's ENDPOINT_URL/AUTH/DATA. Contains the job access token.
   */
  agentEnvironment(): Record<string, string> {
    return this.ado.agentEnvironment();
  }

  // ------------------------------------------------------------------------------------------------------
  // Request pipeline

  private presetTools(ctx: RequestContext): PresetTools {
    return {
      request: ctx.info,
      organizationName: this.state.organizationName,
      signInUrl: () => this.ado.signInUrl(ctx),
      wwwAuthenticate: () => this.ado.wwwAuthenticate(),
      expiredIdToken: (connectionId) => {
        const c = this.state.connections.find((x) => sameId(x.id, connectionId)) ?? this.connection();
        const lifetime = this.state.idTokenLifetimeSeconds;
        return this.mintIdToken(c, {
          issuedAt: this.nowSeconds() - lifetime - 300,
          lifetimeSeconds: lifetime,
        });
      },
      aadstsContext: () => this.entra.aadstsContext(ctx),
      traceId: () => ctx.traceId,
      correlationId: () => ctx.correlationId,
    };
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
    return primaryTenant(this.state, this.explicitTenants);
  }

  private knownTenants(): string[] {
    return knownTenants(this.state, this.explicitTenants);
  }

  private isKnownTenant(tenant: string): boolean {
    return this.knownTenants().some((t) => sameId(t, tenant));
  }

  private async preloadKeys(): Promise<void> {
    const tenants = this.knownTenants().filter((t) => !this.keys.tenantKeys.has(t.toLowerCase()));
    const [adoKey, ...keys] = await Promise.all([
      createSigningKey(),
      ...tenants.map(() => createSigningKey()),
    ]);
    this.keys.adoKeys.set(this.state.organizationId.toLowerCase(), adoKey);
    tenants.forEach((t, i) => this.keys.tenantKeys.set(t.toLowerCase(), keys[i]));
  }
}
