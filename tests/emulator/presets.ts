/**
 * Named failure presets for `emulator.failNext(kind, preset)`: each real-world condition a client can meet,
 * as data, so a test asks for "the 203 sign-in page" without knowing what it looks like.
 */
import { adoErrors, entraError, objectMovedHtml, signInPageHtml, AADSTS, type AadstsContext } from './errors';
import type { RequestInfo, ScriptedResponse } from './http';
import type { EndpointKind } from './model';

/** What a preset may need from the emulator to build its answer. */
export interface PresetTools {
  request: RequestInfo;
  organizationName: string;
  /** Where the sign-in page lives (on the emulator, so clients that follow redirects stay local). */
  signInUrl(): string;
  /** The WWW-Authenticate challenges of a 401 from Azure DevOps. */
  wwwAuthenticate(): string[];
  /** A correctly signed idToken for the requested connection whose lifetime has already ended. */
  expiredIdToken(connectionId: string | undefined): string;
  aadstsContext(): AadstsContext;
  traceId(): string;
  correlationId(): string;
}

export type Preset = (tools: PresetTools) => ScriptedResponse;

/** Failures of the Oidctoken API. */
export type OidcFailurePreset =
  | 'unauthorized'
  | 'forbidden'
  | 'notFound'
  | 'noApiVersion'
  | 'signInPage203'
  | 'signInRedirect302'
  | 'noExplicitReference'
  | 'missingOidcToken'
  | 'pendingJob'
  | 'notAJwt'
  | 'expiredToken'
  | 'serverError'
  | 'throttled';

/** Named service-side failures of the Entra token endpoint (AADSTS codes are passed as numbers). */
export type TokenFailurePreset = 'serverError' | 'throttled' | 'temporarilyUnavailable';

/** Failures of the discovery endpoints (openid-configuration, jwks, instance-discovery, other) and of ARM. */
export type DiscoveryFailurePreset = 'serverError' | 'notFound';

/** Transport failures, available for every endpoint kind. */
export type TransportFailurePreset = 'drop' | 'hang';

export type FailurePresetFor<K extends EndpointKind> = K extends 'oidctoken'
  ? OidcFailurePreset | TransportFailurePreset
  : K extends 'token'
    ? number | TokenFailurePreset | TransportFailurePreset
    : DiscoveryFailurePreset | TransportFailurePreset;

export const TRANSPORT_PRESETS: Record<TransportFailurePreset, Preset> = {
  drop: () => ({ drop: true }),
  hang: () => ({ hang: true }),
};

export const OIDC_PRESETS: Record<OidcFailurePreset, Preset> = {
  unauthorized: (t) => ({
    status: 401,
    headers: { 'www-authenticate': t.wwwAuthenticate() },
    body: adoErrors.unauthorized(),
  }),
  forbidden: (t) => ({ status: 403, body: adoErrors.forbidden(t.organizationName) }),
  notFound: (t) => ({
    status: 404,
    body: adoErrors.connectionNotFound(
      t.request.query.serviceConnectionId ?? '00000000-0000-0000-0000-000000000000',
    ),
  }),
  noApiVersion: (t) => ({ status: 400, body: adoErrors.noApiVersion(t.request.method) }),
  signInPage203: (t) => ({
    status: 203,
    headers: { 'content-type': 'text/html; charset=utf-8', 'x-tfs-fedauthredirect': t.signInUrl() },
    body: signInPageHtml(t.signInUrl()),
  }),
  signInRedirect302: (t) => ({
    status: 302,
    headers: { 'content-type': 'text/html; charset=utf-8', location: t.signInUrl() },
    body: objectMovedHtml(t.signInUrl()),
  }),
  noExplicitReference: (t) => ({
    status: 200,
    body: adoErrors.noExplicitReference(t.request.query.serviceConnectionId ?? ''),
  }),
  missingOidcToken: () => ({ status: 200, body: {} }),
  pendingJob: () => ({ status: 400, body: adoErrors.pendingJob() }),
  notAJwt: () => ({ status: 200, body: { oidcToken: 'not-a-jwt' } }),
  expiredToken: (t) => ({
    status: 200,
    body: { oidcToken: t.expiredIdToken(t.request.query.serviceConnectionId) },
  }),
  serverError: () => ({ status: 500, body: adoErrors.serverError() }),
  throttled: () => ({
    status: 429,
    headers: {
      'retry-after': '1',
      'x-ratelimit-resource': 'Core',
      'x-ratelimit-delay': '1.0',
      'x-ratelimit-limit': '200',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 1),
    },
    body: adoErrors.throttled(),
  }),
};

/** Named token-endpoint failures map onto AADSTS codes of the catalogue. */
export const TOKEN_PRESET_CODES: Record<TokenFailurePreset, number> = {
  serverError: 50000,
  throttled: 90055,
  temporarilyUnavailable: 90033,
};

/** The Entra error reply for an AADSTS code, as a scripted response. */
export function aadstsPreset(code: number): Preset {
  if (!AADSTS[code]) {
    const known = Object.keys(AADSTS).join(', ');
    throw new Error(
      `No AADSTS${code} in the emulator's catalogue (tests/emulator/errors.ts). Known: ${known}`,
    );
  }
  return (t) => {
    const reply = entraError(code, t.aadstsContext(), t.traceId(), t.correlationId());
    return { status: reply.status, headers: reply.headers, body: reply.body };
  };
}

export const DISCOVERY_PRESETS: Record<DiscoveryFailurePreset, Preset> = {
  serverError: () => ({
    status: 500,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: '<html><body><h1>500 Internal Server Error</h1></body></html>',
  }),
  notFound: () => ({
    status: 404,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: '<html><body><h1>404 Not Found</h1></body></html>',
  }),
};

/** Resolves a preset name (or AADSTS code) for an endpoint kind; throws on a name that kind does not have. */
export function resolvePreset(kind: EndpointKind, preset: string | number): Preset {
  if (typeof preset === 'string' && preset in TRANSPORT_PRESETS) {
    return TRANSPORT_PRESETS[preset as TransportFailurePreset];
  }
  if (kind === 'oidctoken') {
    if (typeof preset === 'string' && preset in OIDC_PRESETS) {
      return OIDC_PRESETS[preset as OidcFailurePreset];
    }
  } else if (kind === 'token') {
    if (typeof preset === 'number') {
      return aadstsPreset(preset);
    }
    if (preset in TOKEN_PRESET_CODES) {
      return aadstsPreset(TOKEN_PRESET_CODES[preset as TokenFailurePreset]);
    }
  } else if (typeof preset === 'string' && preset in DISCOVERY_PRESETS) {
    return DISCOVERY_PRESETS[preset as DiscoveryFailurePreset];
  }
  throw new Error(`No failure preset '${preset}' for endpoint kind '${kind}'`);
}
