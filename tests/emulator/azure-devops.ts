/**
 * The emulated Azure DevOps: the Oidctoken API, the Azure DevOps issuer's discovery document and JWKS, the API
 * resource locations azure-devops-node-api negotiates routes with, and the headers and sign-in page every Azure
 * DevOps response carries. The Emulator routes requests here (see its route table in emulator.ts).
 */
import { adoErrors, signInPageHtml } from './errors';
import { htmlReply, jsonReply, type HttpReply } from './http';
import { newGuid, randomHex } from './ids';
import { signJwt, toJwks, type JwtClaims } from './jwt';
import type { MintIdTokenOptions } from './emulator';
import { DEFAULT_AUDIENCE, DEFAULTS, sameId, type EmulatorConnection } from './model';
import { ADO_ISSUER_PREFIX, queryParam, type EmulatorHost, type RequestContext } from './shared';

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

/** `application/json;api-version=7.1-preview.1`: how azure-devops-node-api sends the version. */
function apiVersionFromAccept(accept: string | undefined): string | undefined {
  return /api-version=([^;,\s]+)/i.exec(accept ?? '')?.[1];
}

export class AzureDevOps {
  constructor(private readonly host: EmulatorHost) {}

  /** Signs (and records) an idToken for a connection as the Oidctoken API does: see Emulator.mintIdToken. */
  signIdToken(c: EmulatorConnection, options: MintIdTokenOptions): string {
    const iat = options.issuedAt ?? this.host.nowSeconds();
    const lifetime = options.lifetimeSeconds ?? this.host.state.idTokenLifetimeSeconds;
    const claims: JwtClaims = {
      jti: newGuid(),
      sub: this.host.emulator.subjectFor(c),
      aud: options.audience ?? DEFAULT_AUDIENCE,
      iss: this.host.emulator.issuerFor(c),
      nbf: iat,
      exp: iat + lifetime,
      iat,
      ...(options.claims ?? {}),
    };
    const key =
      c.issuerStyle === 'entra'
        ? this.host.keys.tenantKey(c.tenantId)
        : this.host.keys.adoKey(this.host.state.organizationId);
    const token = signJwt(claims, key);
    this.host.emulator.issuedIdTokens.push(token);
    return token;
  }

  handleOidcToken(c: RequestContext, [org, project, hub, plan, job]: string[]): HttpReply {
    const s = this.host.state;
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
          'x-tfs-fedauthrealm': this.host.url,
          'x-tfs-fedauthissuer': `${this.host.url}/`,
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
    return jsonReply(200, { oidcToken: this.host.emulator.mintIdToken(connection, { audience }) }, h);
  }

  /** Bearer <token>, or Basic with the token as password (how PAT-style clients send it). */
  private isJobAccessToken(authorization: string | undefined): boolean {
    const m = /^(\S+)\s+(\S+)\s*$/.exec(authorization ?? '');
    if (!m) {
      return false;
    }
    const scheme = m[1].toLowerCase();
    if (scheme === 'bearer') {
      return m[2] === this.host.state.jobAccessToken;
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(m[2], 'base64').toString('utf8');
      return decoded.slice(decoded.indexOf(':') + 1) === this.host.state.jobAccessToken;
    }
    return false;
  }

  handleAdoDiscovery(c: RequestContext, organizationId: string): HttpReply {
    if (!sameId(organizationId, this.host.state.organizationId)) {
      return htmlReply(404, '<html><body><h1>404 - Not found</h1></body></html>', this.adoHeaders(c));
    }
    return jsonReply(
      200,
      {
        issuer: `${ADO_ISSUER_PREFIX}${this.host.state.organizationId}`,
        jwks_uri: `${this.host.url}/_vstoken/${this.host.state.organizationId}/.well-known/jwks`,
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
  handleResourceLocations(c: RequestContext, org: string, area: string): HttpReply {
    const h = this.adoHeaders(c);
    const location = RESOURCE_LOCATIONS[area.toLowerCase()];
    if (c.info.method !== 'OPTIONS' || !sameId(org, this.host.state.organizationName) || !location) {
      return htmlReply(404, '<html><body><h1>404 - Not found</h1></body></html>', h);
    }
    if (!this.isJobAccessToken(c.info.headers.authorization)) {
      return jsonReply(401, adoErrors.unauthorized(), { ...h, 'www-authenticate': this.wwwAuthenticate() });
    }
    return jsonReply(200, { count: location.length, value: location }, h);
  }

  handleAdoJwks(c: RequestContext, organizationId: string): HttpReply {
    if (
      !sameId(organizationId, this.host.state.organizationId) &&
      !this.host.keys.adoKeys.has(organizationId.toLowerCase())
    ) {
      return htmlReply(404, '<html><body><h1>404 - Not found</h1></body></html>', this.adoHeaders(c));
    }
    return jsonReply(200, toJwks([this.host.keys.adoKey(organizationId)]), this.adoHeaders(c));
  }
  /** Headers every Azure DevOps response carries; x-vss-e2eid and x-msedge-ref are what support asks for. */
  adoHeaders(c: RequestContext): Record<string, string> {
    return {
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'x-tfs-processid': this.host.processId,
      'x-tfs-session': c.e2eId,
      'x-vss-e2eid': c.e2eId,
      activityid: c.e2eId,
      'x-msedge-ref': `Ref A: ${randomHex(16).toUpperCase()} Ref B: EMU01EDGE0109 Ref C: ${new Date().toISOString().slice(0, 19)}Z`,
    };
  }

  signInUrl(c: RequestContext): string {
    const host = new URL(this.host.url).host;
    const replyTo = `${this.host.url}${c.info.path}`;
    return `${this.host.url}/_signin?realm=${encodeURIComponent(host)}&reply_to=${encodeURIComponent(replyTo)}&redirect=1`;
  }

  wwwAuthenticate(): string[] {
    return [
      `Bearer authorization_uri=${this.host.url}/${this.host.primaryTenant()}`,
      `Basic realm="${this.host.url}/"`,
      'TFS-Federated',
    ];
  }

  /** The variables an agent would give a task using the emulator's connections (see Emulator.agentEnvironment). */
  agentEnvironment(): Record<string, string> {
    const s = this.host.state;
    const env: Record<string, string> = {
      SYSTEM_OIDCREQUESTURI: this.host.emulator.oidcRequestUri,
      SYSTEM_COLLECTIONURI: this.host.emulator.collectionUri,
      SYSTEM_TEAMFOUNDATIONCOLLECTIONURI: this.host.emulator.collectionUri,
      SYSTEM_COLLECTIONID: s.organizationId,
      SYSTEM_TEAMPROJECT: s.projectName,
      SYSTEM_TEAMPROJECTID: s.projectId,
      SYSTEM_HOSTTYPE: s.hostType,
      SYSTEM_PLANID: s.planId,
      SYSTEM_JOBID: s.jobId,
      SYSTEM_ACCESSTOKEN: s.jobAccessToken,
      ENDPOINT_URL_SYSTEMVSSCONNECTION: this.host.emulator.collectionUri,
      ENDPOINT_AUTH_SYSTEMVSSCONNECTION: JSON.stringify({
        parameters: { AccessToken: s.jobAccessToken },
        scheme: 'OAuth',
      }),
      ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION: 'OAuth',
      ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN: s.jobAccessToken,
      AGENT_CAINFO: this.host.emulator.caFile,
      NODE_EXTRA_CA_CERTS: this.host.emulator.caFile,
    };
    for (const c of s.connections) {
      const issuer = this.host.emulator.issuerFor(c);
      const subject = this.host.emulator.subjectFor(c);
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
      env[`ENDPOINT_DATA_${c.id}_ACTIVEDIRECTORYAUTHORITY`] = this.host.emulator.authorityHost;
      env[`ENDPOINT_DATA_${c.id}_ENVIRONMENTAUTHORITYURL`] = this.host.emulator.authorityHost;
      env[`ENDPOINT_DATA_${c.id}_ACTIVEDIRECTORYSERVICEENDPOINTRESOURCEID`] =
        'https://management.core.windows.net/';
      env[`ENDPOINT_DATA_${c.id}_MICROSOFTGRAPHURL`] = 'https://graph.microsoft.com/';
    }
    return env;
  }
}
