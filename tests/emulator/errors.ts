/**
 * Every error body the emulator can produce, in one place, so their shapes stay consistent and a reviewer
 * can compare them with the real services at a glance.
 *
 * Azure DevOps: errors are "VSS" JSON objects (`$id`, `innerException`, `message`, `typeName`, `typeKey`,
 * `errorCode`, `eventId`); an unauthenticated request that does not ask for `X-TFS-FedAuthRedirect: Suppress`
 * gets an HTML sign-in page instead.
 *
 * Entra ID: errors are OAuth JSON (`error`, `error_description`, `error_codes`, `timestamp`, `trace_id`,
 * `correlation_id`, `error_uri`), the description starting with `AADSTS<code>: ` and ending with the trace,
 * correlation and timestamp lines. The catalogue below is keyed by AADSTS code; adding a code is one entry.
 */

// ---------------------------------------------------------------------------------------------------------
// Azure DevOps

export interface VssError {
  $id: '1';
  innerException: null;
  message: string;
  typeName: string;
  typeKey: string;
  errorCode: number;
  eventId: number;
}

export function vssError(typeKey: string, typeName: string, message: string): VssError {
  return { $id: '1', innerException: null, message, typeName, typeKey, errorCode: 0, eventId: 3000 };
}

const WEBAPI = 'Microsoft.VisualStudio.Services.WebApi';
const DT_WEBAPI = 'Microsoft.TeamFoundation.DistributedTask.WebApi';
const FRAMEWORK = 'Microsoft.TeamFoundation.Framework.Server';

/** Azure DevOps error bodies, by the situation that produces them. */
export const adoErrors = {
  noApiVersion: (method: string): VssError =>
    vssError(
      'VssVersionNotSpecifiedException',
      `${WEBAPI}.VssVersionNotSpecifiedException, ${WEBAPI}`,
      `No api-version was supplied for the "${method}" request. The version must be supplied either as part of ` +
        `the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter (e.g. '?api-version=1.0').`,
    ),
  // The wording of the real out-of-range message is known for versions above the server's latest; the
  // emulator uses it for every version it does not accept (the Oidctoken resource exists from 7.1-preview.1).
  versionOutOfRange: (version: string): VssError =>
    vssError(
      'VssVersionOutOfRangeException',
      `${WEBAPI}.VssVersionOutOfRangeException, ${WEBAPI}`,
      `The requested REST API version of ${version} is out of range for this server. The latest REST API version ` +
        `this server supports is 7.2.`,
    ),
  unauthorized: (): VssError =>
    vssError(
      'UnauthorizedRequestException',
      `${FRAMEWORK}.UnauthorizedRequestException, ${FRAMEWORK}`,
      `TF400813: The user '' is not authorized to access this resource.`,
    ),
  forbidden: (organizationName: string): VssError =>
    vssError(
      'AccessCheckException',
      `${FRAMEWORK}.AccessCheckException, ${FRAMEWORK}`,
      `Access denied. Project Collection Build Service (${organizationName}) needs Use permissions to perform the ` +
        `action. For more information, contact the Azure DevOps Server administrator.`,
    ),
  // The message users report while a job is still being started; its exception type and status are inferred
  // (the agent's own OIDC callers treat TaskOrchestrationPlanSecurityException as retryable:
  // azure-pipelines-agent src/Agent.Worker/ContainerOperationProvider.cs).
  pendingJob: (): VssError =>
    vssError(
      'TaskOrchestrationPlanSecurityException',
      `${DT_WEBAPI}.TaskOrchestrationPlanSecurityException, ${DT_WEBAPI}`,
      "Can't issue ID_TOKEN for job in 'Pending' state.",
    ),
  connectionNotFound: (id: string): VssError =>
    vssError(
      'ServiceEndpointNotFoundException',
      `${DT_WEBAPI}.ServiceEndpointNotFoundException, ${DT_WEBAPI}`,
      `No service connection found with identifier ${id}.`,
    ),
  missingParameter: (name: string): VssError =>
    vssError(
      'ArgumentNullException',
      'System.ArgumentNullException, mscorlib',
      `Value cannot be null.\r\nParameter name: ${name}`,
    ),
  projectNotFound: (projectId: string): VssError =>
    vssError(
      'ProjectDoesNotExistException',
      'Microsoft.TeamFoundation.Core.WebApi.ProjectDoesNotExistException, Microsoft.TeamFoundation.Core.WebApi',
      `VS800075: The project with id 'vstfs:///Classification/TeamProject/${projectId}' does not exist, or you do ` +
        `not have permission to access it.`,
    ),
  planNotFound: (planId: string): VssError =>
    vssError(
      'TaskOrchestrationPlanNotFoundException',
      `${DT_WEBAPI}.TaskOrchestrationPlanNotFoundException, ${DT_WEBAPI}`,
      `Plan with id ${planId} does not exist.`,
    ),
  jobNotFound: (jobId: string): VssError =>
    vssError(
      'TaskOrchestrationJobNotFoundException',
      `${DT_WEBAPI}.TaskOrchestrationJobNotFoundException, ${DT_WEBAPI}`,
      `Job with id ${jobId} does not exist.`,
    ),
  methodNotAllowed: (method: string): { $id: '1'; message: string } => ({
    $id: '1',
    message: `The requested resource does not support http method '${method}'.`,
  }),
  serverError: (): VssError =>
    vssError(
      'InvalidOperationException',
      'System.InvalidOperationException, mscorlib',
      'Operation is not valid due to the current state of the object.',
    ),
  throttled: (): VssError =>
    vssError(
      'RequestBlockedException',
      `${FRAMEWORK}.RequestBlockedException, ${FRAMEWORK}`,
      `TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in ` +
        `namespace 'User'.`,
    ),
  /**
   * Since 2026 the service answers 200 without `oidcToken` when no task of the job references the connection.
   * Shape `{count, value}` is Azure DevOps' JSON wrapper around a string; for a string the wrapper's count is
   * computed over its characters (a .NET string is an IEnumerable<char>): an inference, not observed.
   */
  noExplicitReference: (connectionId: string): { count: number; value: string } => {
    const value =
      `There is no explicit reference to service connection ${connectionId} from current stage. Please make ` +
      `sure that the service connection is referenced by a task input in the stage.`;
    return { count: value.length, value };
  },
};

/** The HTML the service answers an unauthenticated browser-style request with (203 or behind a 302). */
export function signInPageHtml(signInUrl: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en-US">',
    '<head><meta charset="utf-8"><title>Azure DevOps Services | Sign In</title>',
    `<meta http-equiv="X-UA-Compatible" content="IE=11;&#32;IE=10;&#32;IE=9;&#32;IE=8" />`,
    '</head>',
    '<body>',
    `<script type="text/javascript">window.location.href = ${JSON.stringify(signInUrl)};</script>`,
    `<noscript><a href="${escapeHtml(signInUrl)}">Sign in to Azure DevOps</a></noscript>`,
    '</body>',
    '</html>',
    '',
  ].join('\r\n');
}

/** Body of the 302 the service sends to browsers (IIS-style "Object moved"). */
export function objectMovedHtml(location: string): string {
  return `<html><head><title>Object moved</title></head><body>\r\n<h2>Object moved to <a href="${escapeHtml(
    location,
  )}">here</a>.</h2>\r\n</body></html>\r\n`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// ---------------------------------------------------------------------------------------------------------
// Entra ID

/** What an AADSTS description may mention. Every field is optional: descriptions fall back to placeholders. */
export interface AadstsContext {
  tenant?: string;
  clientId?: string;
  /** Display name of the app registration or managed identity. */
  identityName?: string;
  parameter?: string;
  grantType?: string;
  scope?: string;
  method?: string;
  /** Claims of the presented client assertion, when it could be parsed. */
  assertion?: {
    iss?: unknown;
    sub?: unknown;
    aud?: unknown;
    nbf?: unknown;
    exp?: unknown;
    kid?: unknown;
  };
  now: Date;
}

export interface AadstsDefinition {
  /** OAuth `error`. */
  error: string;
  /** HTTP status: Entra answers 401 for `invalid_client` and 400 for most other token errors. */
  status: number;
  /** The text after `AADSTS<code>: `. */
  describe: (ctx: AadstsContext) => string;
  /** Extra response headers (e.g. Retry-After on throttling). */
  headers?: Record<string, string>;
}

const WIF_DOC = 'https://learn.microsoft.com/entra/workload-id/workload-identity-federation';
const CHECK_FIC = `Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WIF_DOC}`;

function q(value: unknown, fallback = ''): string {
  if (value === undefined || value === null) {
    return fallback;
  }
  return Array.isArray(value) ? value.map(String).join(',') : String(value);
}

/**
 * AADSTS codes the emulator knows. Descriptions follow messages published in Microsoft's documentation and
 * in users' bug reports; the ones marked "(wording unconfirmed)" were reconstructed from the documented
 * meaning of the code.
 */
export const AADSTS: Record<number, AadstsDefinition> = {
  // ---- tenant / endpoint
  900023: {
    error: 'invalid_request',
    status: 400,
    describe: (c) =>
      `Specified tenant identifier '${q(c.tenant)}' is neither a valid DNS name, nor a valid external domain.`,
  },
  90002: {
    error: 'invalid_tenant',
    status: 400,
    describe: (c) =>
      `Tenant '${q(c.tenant)}' not found. Check to make sure you have the correct tenant ID and are signing into ` +
      `the correct cloud. Check with your subscription administrator, this may happen if there are no active ` +
      `subscriptions for the tenant.`,
  },
  9001023: {
    error: 'invalid_request',
    status: 400,
    describe: () =>
      'The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations ' +
      'or tenant-specific endpoint.',
  },
  50049: {
    error: 'invalid_instance',
    status: 400,
    describe: () => 'Unknown or invalid instance.',
  },
  900561: {
    error: 'invalid_request',
    status: 400,
    describe: (c) =>
      `The endpoint only accepts POST, OPTIONS requests. Received a ${q(c.method, 'GET')} request.`,
  },
  // ---- client
  700016: {
    error: 'unauthorized_client',
    status: 400,
    describe: (c) =>
      `Application with identifier '${q(c.clientId)}' was not found in the directory '${q(c.tenant)}'. This can ` +
      `happen if the application has not been installed by the administrator of the tenant or consented to by any ` +
      `user in the tenant. You may have sent your authentication request to the wrong tenant.`,
  },
  // ---- protocol parameters
  900144: {
    error: 'invalid_request',
    status: 400,
    describe: (c) => `The request body must contain the following parameter: '${q(c.parameter)}'.`,
  },
  70003: {
    error: 'unsupported_grant_type',
    status: 400,
    describe: (c) => `The app requested an unsupported grant type '${q(c.grantType)}'.`,
  },
  90011: {
    error: 'invalid_request',
    status: 400,
    describe: () => 'Unexpected client assertion type.',
  },
  7000218: {
    error: 'invalid_client',
    status: 401,
    describe: () =>
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
  },
  901002: {
    error: 'invalid_request',
    status: 400,
    describe: () => "The 'resource' request parameter is not supported.",
  },
  1002012: {
    error: 'invalid_scope',
    status: 400,
    describe: (c) =>
      `The provided value for scope ${q(c.scope)} is not valid. Client credential flows must have a scope value ` +
      `with /.default suffixed to the resource identifier (application ID URI).`,
  },
  // ---- the assertion itself
  50027: {
    error: 'invalid_request',
    status: 400,
    describe: () => 'JWT token is invalid or malformed.',
  },
  7000272: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `The certificate with identifier ${q(c.assertion?.kid)} used to sign the federated credential could not be ` +
      `found in the metadata of identity provider ${q(c.assertion?.iss)}. Please validate that your Identity ` +
      `Provider's metadata exposes the key used to sign the incoming token.`,
  },
  700027: {
    error: 'invalid_client',
    status: 401,
    describe: () =>
      'Client assertion failed signature validation. [Reason - The provided signature value did not match the ' +
      'expected signature value.]',
  },
  700024: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `Client assertion is not within its valid time range. Current time: ${dotNetUtc(c.now)}, assertion valid ` +
      `from ${dotNetUtc(epochToDate(c.assertion?.nbf))}, expiry time of assertion ` +
      `${dotNetUtc(epochToDate(c.assertion?.exp))}. Review the documentation at ` +
      `https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
  },
  // ---- federated identity credential matching
  70025: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `The client '${q(c.clientId)}'(${q(c.identityName)}) has no configured federated identity credentials.`,
  },
  700211: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `No matching federated identity record found for presented assertion issuer '${q(c.assertion?.iss)}'. ${CHECK_FIC}`,
  },
  700212: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `No matching federated identity record found for presented assertion audience '${q(c.assertion?.aud)}'. ${CHECK_FIC}`,
  },
  700213: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `No matching federated identity record found for presented assertion subject '${q(c.assertion?.sub)}'. ${CHECK_FIC}`,
  },
  70021: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `No matching federated identity record found for presented assertion. Assertion Issuer: ` +
      `'${q(c.assertion?.iss)}'. Assertion Subject: '${q(c.assertion?.sub)}'. Assertion Audience: ` +
      `'${q(c.assertion?.aud)}'. ${WIF_DOC}`,
  },
  70052: {
    error: 'invalid_client',
    status: 401,
    describe: () => 'The identity must be a managed identity, a single tenant app, or a service account.',
  },
  // ---- tenant policy (wording unconfirmed)
  700223: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `Workload identity federation has been disabled or constrained by the administrator of tenant ` +
      `'${q(c.tenant)}'. The presented assertion from issuer '${q(c.assertion?.iss)}' cannot be used with ` +
      `application '${q(c.clientId)}'. ${WIF_DOC}`,
  },
  700238: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `The issuer '${q(c.assertion?.iss)}' is not allowed to be used for workload identity federation with ` +
      `identity '${q(c.clientId)}' by the federated identity credential policy of tenant '${q(c.tenant)}'. ${WIF_DOC}`,
  },
  900382: {
    error: 'invalid_request',
    status: 400,
    describe: () => 'Confidential Client is not supported in Cross Cloud request.',
  },
  // ---- secret-based connections
  7000215: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, ` +
      `not the client secret ID, for a secret added to app '${q(c.clientId)}'.`,
  },
  7000222: {
    error: 'invalid_client',
    status: 401,
    describe: (c) =>
      `The provided client secret keys for app '${q(c.clientId)}' are expired. Visit the Azure portal to create ` +
      `new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added ` +
      `security: https://aka.ms/certCreds.`,
  },
  // ---- service-side (wording unconfirmed)
  50000: {
    error: 'server_error',
    status: 500,
    describe: () => 'There was an error issuing a token or an issue with our sign-in service.',
  },
  90055: {
    error: 'temporarily_unavailable',
    status: 429,
    describe: () => 'There are too many incoming requests. Please try again later.',
    headers: { 'retry-after': '1' },
  },
  90033: {
    error: 'temporarily_unavailable',
    status: 503,
    describe: () => 'A transient error has occurred. Please try again.',
    headers: { 'retry-after': '1' },
  },
};

export interface EntraErrorBody {
  error: string;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
}

export interface EntraErrorReply {
  status: number;
  headers: Record<string, string>;
  body: EntraErrorBody;
}

/** Builds the Entra error reply for an AADSTS code. Throws for a code the catalogue does not know. */
export function entraError(
  code: number,
  ctx: AadstsContext,
  traceId: string,
  correlationId: string,
): EntraErrorReply {
  const def = AADSTS[code];
  if (!def) {
    throw new Error(`The emulator has no AADSTS${code} in its catalogue (tests/emulator/errors.ts)`);
  }
  const timestamp = entraTimestamp(ctx.now);
  return {
    status: def.status,
    headers: { ...(def.headers ?? {}) },
    body: {
      error: def.error,
      error_description:
        `AADSTS${code}: ${def.describe(ctx)}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}` +
        `\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

/** `2024-03-01 07:41:07Z`: the format of Entra's `timestamp` field and description line. */
export function entraTimestamp(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** `2024-10-02T22:05:03.6755165Z`: .NET's round-trip format, used inside AADSTS700024. */
export function dotNetUtc(d: Date | undefined): string {
  if (!d || Number.isNaN(d.getTime())) {
    return '1970-01-01T00:00:00.0000000Z';
  }
  return `${d.toISOString().slice(0, 23)}0000Z`;
}

function epochToDate(value: unknown): Date | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? new Date(value * 1000) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Azure Resource Manager (the slice clients call right after signing in: az login lists subscriptions)

/** ARM's error body: `{"error":{"code","message"}}`. */
export interface ArmError {
  error: { code: string; message: string };
}

/** The audiences Resource Manager accepts in the public cloud, in the order its error message lists them. */
export const ARM_AUDIENCES = [
  'https://management.core.windows.net/',
  'https://management.core.windows.net',
  'https://management.azure.com/',
  'https://management.azure.com',
];

function armError(code: string, message: string): ArmError {
  return { error: { code, message } };
}

/** `11/23/2026 1:05:09 PM`: .NET's invariant `G` format, used in ARM's expiry message. */
export function dotNetInvariantTime(d: Date): string {
  const hours = d.getUTCHours() % 12 === 0 ? 12 : d.getUTCHours() % 12;
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ` +
    `${hours}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? 'AM' : 'PM'}`
  );
}

/**
 * Resource Manager error bodies, with the `WWW-Authenticate` challenge of each 401. Wording from published
 * captures (users' bug reports and Microsoft's troubleshooting pages).
 */
export const armErrors = {
  missingApiVersion: (): ArmError =>
    armError(
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    ),
  missingAuthorization: (): ArmError =>
    armError('AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing."),
  invalidToken: (): ArmError => armError('InvalidAuthenticationToken', 'The access token is invalid.'),
  expiredToken: (expiredAt: Date, now: Date): ArmError =>
    armError(
      'ExpiredAuthenticationToken',
      `The access token expiry UTC time '${dotNetInvariantTime(expiredAt)}' is earlier than current UTC time ` +
        `'${dotNetInvariantTime(now)}'.`,
    ),
  wrongAudience: (audience: string, allowed: string[] = ARM_AUDIENCES): ArmError =>
    armError(
      'InvalidAuthenticationTokenAudience',
      `The access token has been obtained for wrong audience or resource '${audience}'. It should exactly match ` +
        `with one of the allowed audiences ${allowed.map((a) => `'${a}'`).join(',')}.`,
    ),
  /** The challenge ARM sends with a 401 (the login host it names is the public cloud's). */
  challenge: (description: string): string =>
    `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="${description}"`,
};
