import { JobTokenRefused, TaskFailure, TransientFailure } from './errors';
import type { HttpResponse, HttpTransport } from './http';
import { decodeIdTokenClaims, type IdTokenClaims } from './jwt';
import type { Logger } from './logger';
import { isTransientStatus, parseRetryAfter } from './retry';
import { quoteUntrusted } from './text';
import { MINIMUM_AGENT_VERSION } from './agent-requirements';

/** The wait before asking again after an answer without a token, as Microsoft's tasks wait. */
export const NO_TOKEN_RETRY_DELAY_MS = 2000;

/** The agent variables that locate the Oidctoken API for this job. */
export interface OidcRequestContext {
  /** System.OidcRequestUri: present on current Azure DevOps. */
  oidcRequestUri?: string;
  /** The route older servers need, from System.CollectionUri and the job's ids. */
  collectionUri?: string;
  projectId?: string;
  hostType?: string;
  planId?: string;
  jobId?: string;
}

export interface OidcEndpoint {
  /** The URL without query, as Terraform's ARM_OIDC_REQUEST_URL wants it. */
  baseUrl: string;
  apiVersion: string;
  /** The body the service expects on this route. */
  body: string;
}

export interface IdToken {
  token: string;
  claims: IdTokenClaims;
}

export interface IdTokenClientOptions {
  transport: HttpTransport;
  endpoint: OidcEndpoint;
  jobAccessToken: string;
  /** Called with the token the moment it arrives, before anything could print it. */
  registerSecret: (secret: string) => void;
  logger: Logger;
  now?: () => number;
}

/** Picks the Oidctoken route: System.OidcRequestUri, else the collection-URI route older servers serve. */
export function resolveOidcEndpoint(context: OidcRequestContext): OidcEndpoint {
  if (context.oidcRequestUri) {
    return { baseUrl: context.oidcRequestUri, apiVersion: '7.1', body: '' };
  }
  const { collectionUri, projectId, hostType, planId, jobId } = context;
  if (collectionUri && projectId && hostType && planId && jobId) {
    const collection = collectionUri.endsWith('/') ? collectionUri : `${collectionUri}/`;
    return {
      baseUrl: `${collection}${projectId}/_apis/distributedtask/hubs/${hostType}/plans/${planId}/jobs/${jobId}/oidctoken`,
      apiVersion: '7.1-preview.1',
      body: '{}',
    };
  }
  throw new TaskFailure(
    'The agent did not provide System.OidcRequestUri nor System.CollectionUri with the job ids, so the task cannot ask Azure DevOps for an idToken. ' +
      `Run the task as a step of a pipeline job on Azure DevOps Services or Azure DevOps Server 2022.1 or later, with agent ${MINIMUM_AGENT_VERSION} or newer.`,
  );
}

export function oidcTokenUrl(endpoint: OidcEndpoint, connectionId: string): string {
  const query = new URLSearchParams({
    'api-version': endpoint.apiVersion,
    serviceConnectionId: connectionId,
  });
  return `${endpoint.baseUrl}?${query.toString()}`;
}

/** Support ids Azure DevOps puts on every response, to quote in a ticket. */
export function supportIds(response: HttpResponse): string {
  const ids = ['x-vss-e2eid', 'x-msedge-ref', 'activityid']
    .filter((name) => response.headers[name])
    .map((name) => `${name}: ${quoteUntrusted(response.headers[name], 100)}`);
  return ids.length > 0 ? ` (${ids.join(', ')})` : '';
}

function serviceMessage(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object') {
      const { message, value } = parsed as Record<string, unknown>;
      if (typeof message === 'string') return quoteUntrusted(message);
      if (typeof value === 'string') return quoteUntrusted(value);
    }
  } catch {
    // not JSON: the caller reports the status alone
  }
  return undefined;
}

function failureFor(response: HttpResponse, connectionId: string): TaskFailure {
  const ids = supportIds(response);
  const said = serviceMessage(response.body);
  const saying = said ? `: ${said}` : '';
  const { status } = response;
  if (said && /in 'Pending' state/i.test(said)) {
    // The job is not marked in progress yet; the service issues tokens once it is.
    return new TransientFailure(
      `Azure DevOps would not issue an idToken yet (HTTP ${status})${saying}${ids}. ` +
        'Re-run the job; if it persists, report the ids above to Azure DevOps support.',
      `the job is still pending (HTTP ${status})`,
      NO_TOKEN_RETRY_DELAY_MS,
    );
  }
  const isHtml =
    (response.headers['content-type'] ?? '').includes('text/html') || /^\s*</.test(response.body);
  if (status === 203 || (status >= 300 && status < 400) || (status === 200 && isHtml)) {
    return new JobTokenRefused(
      `Azure DevOps answered the idToken request with a sign-in page (HTTP ${status})${ids}, so it did not accept the job access token. ` +
        'Re-run the job; if it persists, check that the job can use its access token (for a release, enable "Allow scripts to access the OAuth token" on the agent job).',
    );
  }
  if (status === 400) {
    return new TaskFailure(
      `Azure DevOps rejected the idToken request for service connection ${connectionId} (HTTP 400)${saying}${ids}. ` +
        'Update the agent to the latest version; if it persists, report the message and ids above to Azure DevOps support.',
    );
  }
  if (status === 401) {
    return new JobTokenRefused(
      `Azure DevOps did not accept the job access token when asked for an idToken (HTTP 401)${ids}. ` +
        'Re-run the job; the token is issued per job and is only valid while the job runs.',
    );
  }
  if (status === 403) {
    return new JobTokenRefused(
      `Azure DevOps refused this job an idToken for service connection ${connectionId} (HTTP 403)${saying}${ids}. ` +
        'Allow this pipeline to use the connection: Project settings > Service connections > the connection > Security > Pipeline permissions.',
    );
  }
  if (status === 404) {
    return new TaskFailure(
      `Azure DevOps found no service connection ${connectionId} for this job (HTTP 404)${saying}${ids}. ` +
        'Check that the azureSubscription input names an Azure Resource Manager connection that exists in this project or is shared with it.',
    );
  }
  const message =
    `Azure DevOps failed the idToken request for service connection ${connectionId} with HTTP ${status}${saying}${ids}. ` +
    'Re-run the job; if it persists, check the Azure DevOps status page and report the ids above to support.';
  if (isTransientStatus(status)) {
    return new TransientFailure(
      message,
      `HTTP ${status} from Azure DevOps`,
      parseRetryAfter(response.headers['retry-after'], Date.now()),
    );
  }
  return new TaskFailure(message);
}

function tokenFrom(response: HttpResponse, connectionId: string): string {
  const ids = supportIds(response);
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body);
  } catch {
    throw new TaskFailure(
      `Azure DevOps answered the idToken request with a body that is not JSON${ids}. ` +
        'Check that no proxy or gateway between the agent and Azure DevOps rewrites responses.',
    );
  }
  const record = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  if (typeof record.oidcToken === 'string' && record.oidcToken !== '') return record.oidcToken;
  if (typeof record.value === 'string' && /no explicit reference/i.test(record.value)) {
    throw new TaskFailure(
      `Azure DevOps would not issue an idToken for service connection ${connectionId}: ${quoteUntrusted(record.value)}${ids}. ` +
        "Reference the connection by its name or id in a task input of this job (this task's azureSubscription input does so when it names the connection directly, not through a runtime variable).",
    );
  }
  // Microsoft's tasks retry an answer without a token (azure-pipelines-tasks-common-packages
  // common-npm-packages/azure-arm-rest azure-arm-common.ts, initOIDCToken: 3 tries, 2 s apart): the service gives
  // one while the job is still being started, for instance.
  throw new TransientFailure(
    `Azure DevOps answered the idToken request for service connection ${connectionId} without an oidcToken${ids}. ` +
      'Re-run the job; if it persists, update the agent and report the ids above to Azure DevOps support.',
    'an answer without an oidcToken',
    NO_TOKEN_RETRY_DELAY_MS,
  );
}

/** Asks Azure DevOps for a fresh idToken for one service connection. */
export async function requestIdToken(options: IdTokenClientOptions, connectionId: string): Promise<IdToken> {
  const { transport, endpoint, logger } = options;
  const url = oidcTokenUrl(endpoint, connectionId);
  const started = Date.now();
  const response = await transport.send({
    method: 'POST',
    url,
    headers: {
      Authorization: `Bearer ${options.jobAccessToken}`,
      Accept: 'application/json',
      'Content-Type': 'application/json',
      // Without this, a rejected token yields a 203/302 sign-in page instead of 401.
      'X-TFS-FedAuthRedirect': 'Suppress',
    },
    body: endpoint.body,
  });
  logger.debug(
    `POST ${url} -> HTTP ${response.status} in ${Date.now() - started} ms; headers: ${Object.keys(response.headers).join(', ')}`,
  );
  if (response.status !== 200 || /^\s*</.test(response.body)) throw failureFor(response, connectionId);
  const token = tokenFrom(response, connectionId);
  options.registerSecret(token);
  const claims = decodeIdTokenClaims(token);
  const now = (options.now ?? Date.now)();
  if (claims.exp * 1000 <= now) {
    throw new TaskFailure(
      `Azure DevOps returned an idToken that expired at ${new Date(claims.exp * 1000).toISOString()}, before it could be used${supportIds(response)}. ` +
        "Check the agent machine's clock; if it is right, re-run the job.",
    );
  }
  return { token, claims };
}
