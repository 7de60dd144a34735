import type { INetworkModule, NetworkResponse } from '@azure/msal-node';
import type { AzureConnection } from './connection';
import { describeError, TaskFailure, TransientFailure } from './errors';
import type { HttpTransport } from './http';
import type { Logger } from './logger';
import { isTransientStatus, parseRetryAfter } from './retry';
import { quoteUntrusted } from './text';

type Msal = typeof import('./msal');
let msal: Msal | undefined;

/**
 * MSAL, loaded on first use rather than at start-up: loading it takes ≈11 ms of CPU on Node 20 and ≈16 ms on
 * Node 24 (`node --cpu-prof`), which the task can spend while Azure DevOps answers the idToken request
 * (the transport's whileWaiting, src/pipeline/step.ts) instead of before sending it.
 */
export function loadMsal(): Msal {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  msal ??= require('./msal') as Msal;
  return msal;
}

export interface AccessToken {
  token: string;
  expiresOn: Date;
}

export interface EntraExchangeOptions {
  transport: HttpTransport;
  connection: AzureConnection;
  /** Returns a fresh idToken each time Entra needs one. */
  getAssertion: () => Promise<string>;
  registerSecret: (secret: string) => void;
  logger: Logger;
}

/** Entra's error as the task reports it; the diagnostics turn it into cause and remedy. */
export interface EntraError {
  code?: number;
  error: string;
  description: string;
  traceId?: string;
  correlationId?: string;
}

export type EntraErrorExplainer = (error: EntraError) => string;

/** What the last MSAL network call saw: MSAL rewrites errors, the task reports what the service said. */
interface NetworkObservations {
  failure?: unknown;
  errorBody?: Record<string, unknown>;
}

/** What is wrong with a 200 token response, checked before MSAL reads it (it assumes the types). */
export function tokenResponseProblem(body: unknown): string | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'body is not a JSON object';
  const { access_token: accessToken, expires_in: expiresIn } = body as Record<string, unknown>;
  if (typeof accessToken !== 'string' || accessToken === '') return 'access_token is not a string';
  const seconds = typeof expiresIn === 'string' ? Number(expiresIn) : expiresIn;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    return 'expires_in is not a positive number of seconds';
  }
  return undefined;
}

/** MSAL's network calls go through the task's transport, so they share its proxy, CA and limits. */
export function msalNetworkModule(
  transport: HttpTransport,
  logger: Logger,
  observations: NetworkObservations = {},
): INetworkModule {
  async function send<T>(
    method: 'GET' | 'POST',
    url: string,
    options?: { headers?: Record<string, string>; body?: string },
  ): Promise<NetworkResponse<T>> {
    const started = Date.now();
    try {
      const response = await transport.send({
        method,
        url,
        headers: options?.headers ?? {},
        body: options?.body ?? '',
      });
      logger.debug(
        `${method} ${url} -> HTTP ${response.status} in ${Date.now() - started} ms; headers: ${Object.keys(response.headers).join(', ')}`,
      );
      if (isTransientStatus(response.status)) {
        throw new TransientFailure(
          `Entra ID answered the token request with HTTP ${response.status}. ` +
            'Re-run the job; if it persists, check the Azure status page for Entra ID.',
          `HTTP ${response.status} from Entra ID`,
          parseRetryAfter(response.headers['retry-after'], Date.now()),
        );
      }
      let body: unknown;
      try {
        body = JSON.parse(response.body);
      } catch {
        throw new TaskFailure(
          `Entra ID answered ${url.split('?')[0]} with HTTP ${response.status} and a body that is not JSON. ` +
            'Check that no proxy or gateway between the agent and Entra ID rewrites responses.',
        );
      }
      const shapeProblem = response.status === 200 ? tokenResponseProblem(body) : undefined;
      if (shapeProblem) {
        throw new TaskFailure(
          `Entra ID answered ${url.split('?')[0]} with a token response whose ${shapeProblem}. ` +
            'Check that no proxy or gateway between the agent and Entra ID rewrites responses.',
        );
      }
      if (response.status >= 400 && body && typeof body === 'object') {
        observations.errorBody = body as Record<string, unknown>;
      }
      return { status: response.status, headers: response.headers, body: body as T };
    } catch (error) {
      observations.failure = error;
      throw error;
    }
  }
  return {
    sendGetRequestAsync: (url, options) => send('GET', url, options),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}

/**
 * Authority metadata handed to MSAL up front: with it and the host in knownAuthorities, MSAL makes no
 * instance-discovery or metadata request, so an exchange is exactly one HTTP request on every cloud.
 */
export function authorityMetadata(authorityHost: string, tenantId: string): string {
  const base = `${authorityHost}${tenantId}`;
  return JSON.stringify({
    token_endpoint: `${base}/oauth2/v2.0/token`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    jwks_uri: `${base}/discovery/v2.0/keys`,
    issuer: `${base}/v2.0`,
  });
}

export function defaultScope(resource: string): string {
  return `${resource}/.default`;
}

function toEntraError(body: Record<string, unknown>): EntraError | undefined {
  const {
    error,
    error_description: description,
    error_codes: codes,
    trace_id: traceId,
    correlation_id: correlationId,
  } = body;
  if (typeof error !== 'string') return undefined;
  const text = typeof description === 'string' ? description : '';
  const codeInText = /AADSTS(\d+)/.exec(text);
  const firstCode = Array.isArray(codes) && typeof codes[0] === 'number' ? codes[0] : undefined;
  return {
    code: firstCode ?? (codeInText ? Number(codeInText[1]) : undefined),
    error: quoteUntrusted(error, 100),
    // Entra appends the ids and a timestamp on further lines; the ids are reported separately.
    description: quoteUntrusted(text.split(/\r?\n/)[0], 600),
    traceId: typeof traceId === 'string' ? quoteUntrusted(traceId, 100) : undefined,
    correlationId: typeof correlationId === 'string' ? quoteUntrusted(correlationId, 100) : undefined,
  };
}

/** Exchanges the connection's idToken at Entra ID for an access token to `resource`. */
export async function exchangeForAccessToken(
  options: EntraExchangeOptions,
  resource: string,
  explain: EntraErrorExplainer,
): Promise<AccessToken> {
  const { connection } = options;
  const authorityHost = connection.cloud.authorityHost;
  const observations: NetworkObservations = {};
  const { ConfidentialClientApplication } = loadMsal();
  const app = new ConfidentialClientApplication({
    auth: {
      clientId: connection.clientId,
      authority: `${authorityHost}${connection.tenantId}`,
      clientAssertion: () => options.getAssertion(),
      knownAuthorities: [new URL(authorityHost).host],
      authorityMetadata: authorityMetadata(authorityHost, connection.tenantId),
    },
    system: {
      networkClient: msalNetworkModule(options.transport, options.logger, observations),
      // The task's own retry policy decides what to retry; MSAL's would double the requests.
      disableInternalRetries: true,
    },
  });
  let result;
  try {
    result = await app.acquireTokenByClientCredential({ scopes: [defaultScope(resource)], skipCache: true });
  } catch (error) {
    if (error instanceof TaskFailure) throw error;
    if (observations.failure !== undefined) throw observations.failure;
    const entraError = observations.errorBody && toEntraError(observations.errorBody);
    if (entraError) throw new TaskFailure(explain(entraError));
    const detail = describeError(error);
    throw new TaskFailure(
      `The token request to Entra ID for client ${connection.clientId} failed: ${quoteUntrusted(detail)}. ` +
        'Re-run with system.debug=true to see the request, and check that no proxy rewrites responses from Entra ID.',
    );
  }
  if (!result?.accessToken || !result.expiresOn) {
    throw new TaskFailure(
      `Entra ID answered the token request for client ${connection.clientId} without an access token. ` +
        'Re-run the job; if it persists, check that no proxy rewrites responses from Entra ID.',
    );
  }
  options.registerSecret(result.accessToken);
  return { token: result.accessToken, expiresOn: result.expiresOn };
}
