/**
 * The emulated Microsoft Entra ID: the token endpoint (client credentials with a federated client assertion,
 * v2, v1 and AD FS flavours), federated-credential matching, the tenants' discovery documents and JWKS, instance
 * discovery, and the headers every Entra response carries. The Emulator routes requests here (see its route
 * table in emulator.ts).
 */
import { entraError, type AadstsContext } from './errors';
import { jsonReply, type HttpReply } from './http';
import { isGuid, newGuid, randomHex } from './ids';
import { checkJwtSignature, signJwt, toJwks, tryDecodeJwt, type JwtClaims } from './jwt';
import { sameId, type EmulatorIdentity } from './model';
import {
  ENTRA_ISSUER_PATTERN,
  MULTI_TENANT_SEGMENTS,
  formOf,
  keysForIssuer,
  safeDecode,
  type EmulatorHost,
  type RequestContext,
  type TokenVariant,
} from './shared';

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export class Entra {
  constructor(private readonly host: EmulatorHost) {}
  /**
   * Client-credentials grant with a federated client assertion, checked in the order Entra reports problems:
   * tenant, client, protocol parameters, scope, assertion format, signature, validity period, federated
   * identity credential match (audience, issuer, subject), identity restrictions.
   */
  handleToken(c: RequestContext, variant: TokenVariant, tenantSegment: string | undefined): HttpReply {
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
      if (!this.host.isKnownTenant(tenantSegment)) {
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
        ? this.host.state.identities.find((i) => sameId(i.clientId, clientId))
        : this.host.emulator.identity(clientId, tenantSegment);
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
    const keys = keysForIssuer(this.host, claims.iss);
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
    const now = this.host.nowSeconds();
    const skew = this.host.state.clockSkewSeconds;
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

  issueAccessToken(identity: EmulatorIdentity, resource: string, variant: TokenVariant): object {
    const iat = this.host.nowSeconds();
    const lifetime = this.host.state.accessTokenLifetimeSeconds;
    const tenant = identity.tenantId;
    const sts = `https://sts.windows.net/${tenant}/`;
    const oid = identity.objectId ?? newGuid();
    const claims: JwtClaims = {
      aud: resource,
      iss: variant === 'adfs' ? `${this.host.url}/adfs` : sts,
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
    const key = this.host.keys.tenantKey(tenant);
    // Entra access tokens carry the key id twice, as kid and x5t.
    const token = signJwt(claims, key, { x5t: key.kid });
    this.host.emulator.issuedAccessTokens.push(token);
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
  aadstsContext(c: RequestContext): AadstsContext {
    const form = formOf(c.info);
    const tenant = /^\/([^/]+)\/oauth2\//.exec(c.info.path)?.[1];
    const clientId = form.get('client_id') ?? undefined;
    const identity = clientId
      ? this.host.state.identities.find(
          (i) => sameId(i.clientId, clientId) && (tenant === 'adfs' || sameId(i.tenantId, tenant)),
        )
      : undefined;
    const jwt = tryDecodeJwt(form.get('client_assertion') ?? '');
    return {
      now: new Date(this.host.nowMs()),
      tenant: tenant === 'adfs' ? identity?.tenantId : tenant && safeDecode(tenant),
      clientId,
      identityName: identity?.displayName,
      scope: form.get('scope') ?? undefined,
      method: c.info.method,
      assertion: jwt ? { ...jwt.payload, kid: jwt.header.kid } : undefined,
    };
  }
  // ------------------------------------------------------------------------------------------------------
  // Entra ID: discovery

  handleEntraDiscovery(c: RequestContext, tenant: string, version: 'v1' | 'v2'): HttpReply {
    const problem = this.tenantProblem(tenant);
    if (problem) {
      const r = entraError(problem, { now: new Date(this.host.nowMs()), tenant }, c.traceId, c.correlationId);
      return jsonReply(r.status, r.body, this.entraHeaders(c));
    }
    return jsonReply(200, this.entraConfiguration(tenant, version), this.entraHeaders(c));
  }

  handleEntraJwks(c: RequestContext, tenant: string): HttpReply {
    if (MULTI_TENANT_SEGMENTS.includes(tenant.toLowerCase())) {
      return jsonReply(
        200,
        toJwks(this.host.keys.allTenantKeys(this.host.knownTenants())),
        this.entraHeaders(c),
      );
    }
    const problem = this.tenantProblem(tenant);
    if (problem) {
      const r = entraError(problem, { now: new Date(this.host.nowMs()), tenant }, c.traceId, c.correlationId);
      return jsonReply(r.status, r.body, this.entraHeaders(c));
    }
    return jsonReply(200, toJwks([this.host.keys.tenantKey(tenant)]), this.entraHeaders(c));
  }

  handleInstanceDiscovery(c: RequestContext): HttpReply {
    const hosts = [new URL(this.host.url).host, `localhost:${new URL(this.host.url).port}`];
    const endpoint = c.info.query.authorization_endpoint;
    let requested: URL | undefined;
    try {
      requested = endpoint ? new URL(endpoint) : undefined;
    } catch {
      requested = undefined;
    }
    if (!requested || !hosts.includes(requested.host)) {
      const r = entraError(50049, { now: new Date(this.host.nowMs()) }, c.traceId, c.correlationId);
      return jsonReply(r.status, r.body, this.entraHeaders(c));
    }
    const tenant = requested.pathname.split('/').filter(Boolean)[0] ?? 'common';
    return jsonReply(
      200,
      {
        tenant_discovery_endpoint: `${this.host.url}/${tenant}/v2.0/.well-known/openid-configuration`,
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
  entraConfiguration(tenant: string, version: 'v1' | 'v2'): Record<string, unknown> {
    const isTemplate = MULTI_TENANT_SEGMENTS.includes(tenant.toLowerCase());
    const issuerTenant = isTemplate ? '{tenantid}' : tenant;
    const base = `${this.host.url}/${tenant}`;
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
      userinfo_endpoint: `${this.host.url}/oidc/userinfo`,
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

  adfsConfiguration(): Record<string, unknown> {
    const base = `${this.host.url}/adfs`;
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
  tenantProblem(tenant: string): number | undefined {
    if (MULTI_TENANT_SEGMENTS.includes(tenant.toLowerCase()) || this.host.isKnownTenant(tenant)) {
      return undefined;
    }
    return isGuid(tenant) || /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(tenant) ? 90002 : 900023;
  }
  entraHeaders(c: RequestContext): Record<string, string> {
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
}

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
