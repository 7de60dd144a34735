/**
 * The emulated Azure Resource Manager: the lists clients read right after signing in (`GET /subscriptions`,
 * `GET /tenants`), the headers every Resource Manager response carries, and Azure Stack Hub's metadata endpoint.
 * The Emulator routes requests here (see its route table in emulator.ts).
 */
import { ARM_AUDIENCES, armErrors, type ArmError } from './errors';
import { jsonReply, type HttpReply } from './http';
import { isGuid } from './ids';
import { checkJwtSignature, tryDecodeJwt } from './jwt';
import { DEFAULTS, sameId } from './model';
import { queryParam, type EmulatorHost, type RequestContext } from './shared';

/** The Resource Manager audience the emulated Azure Stack Hub names in its metadata. */
export const AZURE_STACK_AUDIENCE =
  'https://management.azurestack.example/4f1e2d3c-0000-4000-8000-00000000a57c';

export class ResourceManager {
  constructor(private readonly host: EmulatorHost) {}

  /** Azure Stack Hub's Resource Manager metadata, which names the Entra authority and the audience. */
  metadataEndpoints(): HttpReply {
    return jsonReply(200, {
      galleryEndpoint: `${this.host.url}/gallery/`,
      graphEndpoint: 'https://graph.windows.net/',
      portalEndpoint: `${this.host.url}/portal/`,
      authentication: { loginEndpoint: `${this.host.url}/`, audiences: [AZURE_STACK_AUDIENCE] },
    });
  }
  /**
   * `GET /subscriptions` and `GET /tenants`, authenticated as Resource Manager does: a bearer access token this
   * emulator issued (signature, expiry, audience). The subscriptions are those of the connections that sign in
   * as the token's app in its tenant: in this model, what the service principal holds a role on.
   * Checking authentication before the api-version is an inference.
   */
  handleArmList(c: RequestContext, list: 'subscriptions' | 'tenants'): HttpReply {
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
      !this.host.isKnownTenant(tenant) ||
      checkJwtSignature(jwt, [this.host.keys.tenantKey(tenant)]) !== 'valid'
    ) {
      return unauthorized(armErrors.invalidToken());
    }
    const claims = jwt.payload;
    const now = this.host.nowSeconds();
    if (typeof claims.exp !== 'number' || claims.exp <= now) {
      const exp = typeof claims.exp === 'number' ? claims.exp : 0;
      return unauthorized(armErrors.expiredToken(new Date(exp * 1000), new Date(now * 1000)));
    }
    const audience = Array.isArray(claims.aud) ? claims.aud.map(String).join(',') : String(claims.aud);
    // Resource Manager accepts its well-known audiences and its own URL, with or without the trailing slash
    // (the list its InvalidAuthenticationTokenAudience message names); the emulator's URL stands in for its own.
    const allowed = [...ARM_AUDIENCES, `${this.host.url}/`, this.host.url];
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
    const value = this.host.state.connections
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
  /** Headers every Resource Manager response carries. */
  armHeaders(c: RequestContext): Record<string, string> {
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
      'x-ms-routing-request-id': `WESTEUROPE:${new Date(this.host.nowMs()).toISOString().replace(/[-:]|\.\d+/g, '')}:${c.traceId}`,
    };
  }
}
