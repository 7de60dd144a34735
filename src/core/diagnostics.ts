import type { AzureConnection } from './connection';
import type { EntraError } from './entra';
import type { IdTokenClaims } from './jwt';
import { quoteUntrusted } from './text';

export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
const AZURE_DEVOPS_ISSUER = /^https:\/\/vstoken\.dev\.azure\.com\//i;

export type IssuerStyle = 'Microsoft Entra' | 'Azure DevOps (deprecated)' | 'unknown';

export function issuerStyle(issuer: string): IssuerStyle {
  if (AZURE_DEVOPS_ISSUER.test(issuer)) return 'Azure DevOps (deprecated)';
  if (/^https:\/\/login\.(microsoftonline\.(com|us)|chinacloudapi\.cn)\/[^/]+\/v2\.0$/i.test(issuer)) {
    return 'Microsoft Entra';
  }
  return 'unknown';
}

/** The non-secret claims, one per line, for the log. */
export function describeClaims(claims: IdTokenClaims): string[] {
  return [
    `idToken issuer:   ${quoteUntrusted(claims.iss)} (${issuerStyle(claims.iss)} issuer)`,
    `idToken subject:  ${quoteUntrusted(claims.sub)}`,
    `idToken audience: ${quoteUntrusted(claims.aud.join(', '))}`,
    `idToken expires:  ${new Date(claims.exp * 1000).toISOString()}`,
  ];
}

/**
 * A finding the author should act on, with its exact fix. One source for the log (as a warning or a plain
 * line) and for the run summary.
 */
export interface Advice {
  /** A few words for the summary's list. */
  title: string;
  /** One sentence: what was found. */
  cause: string;
  /** The exact fix. */
  fix: string;
  /** Extra lines the summary shows (the log keeps to cause and fix). */
  details?: string[];
  /** warning: something will break or has a deadline; note: fine as is, but worth knowing. */
  level: 'warning' | 'note';
}

/** The log line for a piece of advice: cause, then fix. */
export function adviceMessage(advice: Advice): string {
  return `${advice.cause} ${advice.fix}`;
}

const MISMATCH_FIX =
  'Make the federated credential on the app or managed identity match the idToken; the Entra exchange below will tell whether it does.';

/** Findings before calling Entra: a deprecated issuer, or claims that differ from the connection's record. */
export function preflightAdvice(claims: IdTokenClaims, connection: AzureConnection): Advice[] {
  const advice: Advice[] = [];
  if (AZURE_DEVOPS_ISSUER.test(claims.iss)) {
    const organizationId = claims.iss.replace(AZURE_DEVOPS_ISSUER, '').replace(/\/+$/, '');
    advice.push({
      title: 'Azure DevOps issuer retires on 2027-07-01',
      cause: `Service connection ${connection.id} uses the Azure DevOps issuer (${quoteUntrusted(claims.iss)}), which Microsoft deprecated on 2026-07-01 and retires on 2027-07-01.`,
      fix: 'Convert it to the Microsoft Entra issuer: Project settings > Service connections > the connection > "Convert", then update the federated credential to the new issuer and subject it shows.',
      details: [
        `Today's federated credential: issuer ${quoteUntrusted(claims.iss)}, subject ${quoteUntrusted(claims.sub)}.`,
        // The shape of the Entra issuer's claims; the exact values are on the connection's page after "Convert".
        `After conversion: issuer https://login.microsoftonline.com/<your organization's Entra tenant id>/v2.0, ` +
          `subject /eid1/c/pub/t/<tenant>/a/<app>/sc/${quoteUntrusted(organizationId || '<organization id>')}/${connection.id}.`,
        'Add the new credential next to the old one before converting, so no run fails in between.',
      ],
      level: 'warning',
    });
  }
  if (connection.expectedIssuer && connection.expectedIssuer !== claims.iss) {
    advice.push({
      title: "The idToken's issuer differs from the connection's",
      cause: `The idToken's issuer '${quoteUntrusted(claims.iss)}' differs from the issuer the service connection records ('${quoteUntrusted(connection.expectedIssuer)}').`,
      fix: MISMATCH_FIX,
      level: 'warning',
    });
  }
  if (connection.expectedSubject && connection.expectedSubject !== claims.sub) {
    advice.push({
      title: "The idToken's subject differs from the connection's",
      cause: `The idToken's subject '${quoteUntrusted(claims.sub)}' differs from the subject the service connection records ('${quoteUntrusted(connection.expectedSubject)}').`,
      fix: MISMATCH_FIX,
      level: 'warning',
    });
  }
  return advice;
}

/** Warnings to show before calling Entra (the log's view of {@link preflightAdvice}). */
export function preflightWarnings(claims: IdTokenClaims, connection: AzureConnection): string[] {
  return preflightAdvice(claims, connection).map(adviceMessage);
}

/** Where the step runs, as the agent's variables tell it. */
export interface JobContext {
  /** Agent.ContainerId: the agent sets it only for a container job's job container. */
  containerId?: string;
  /** Environment.Name and Strategy.Name: set in deployment jobs. */
  environmentName?: string;
  strategyName?: string;
  exportIdToken: boolean;
  /** The variablePrefix input. */
  prefix: string;
  /** The federated token file as this step sees it. */
  federatedTokenFile: string;
  /** azure-wif-token's name for this instance. */
  commandName: string;
}

/** Findings about where the step runs and what later steps may do with its variables. */
export function jobContextAdvice(context: JobContext): Advice[] {
  const advice: Advice[] = [];
  if (context.containerId) {
    // The agent mounts Agent.TempDirectory into the job container at a different path and rewrites host
    // paths in variables for steps in the container, never container paths for steps on the host
    // (microsoft/azure-pipelines-agent src/Agent.Worker/ContainerOperationProvider.cs MountVolumes,
    // src/Agent.Worker/ExecutionContext.cs TranslatePathForStepTarget). The launcher on PATH names this
    // step's node, which exists only where this step ran.
    advice.push({
      title: 'Container job: paths differ between the container and the host',
      cause:
        `This step runs in a container job (Agent.ContainerId ${quoteUntrusted(context.containerId, 80)}): ` +
        `the token file ${quoteUntrusted(context.federatedTokenFile)} and ${context.commandName} are where this step ran, ` +
        'and the agent translates host paths for steps in the container but not container paths for steps on the host.',
      fix: 'Run this task where the steps that use it run: in the container for container steps, or with `target: host` before steps that have `target: host`.',
      level: 'warning',
    });
  }
  if (context.environmentName) {
    // "Each of the lifecycle hooks resolves into an agent job or a server job" (learn.microsoft.com,
    // azure/devops/pipelines/yaml-schema/jobs-deployment-strategy).
    const strategy = context.strategyName ? `, strategy ${quoteUntrusted(context.strategyName, 40)}` : '';
    advice.push({
      title: 'Deployment job: variables stay in this lifecycle hook',
      cause:
        `This step runs in a deployment job (environment ${quoteUntrusted(context.environmentName, 80)}${strategy}), ` +
        'where each lifecycle hook (preDeploy, deploy, routeTraffic, postRouteTraffic, on) runs as its own job, so these variables reach only the later steps of this hook.',
      fix: 'Run this task in each hook whose steps need Azure; other jobs read its outputs with the job name before the step name, as the output table shows.',
      level: 'warning',
    });
  }
  if (context.exportIdToken) {
    advice.push({
      title: `${context.prefix}ARM_OIDC_TOKEN can shadow Terraform's own refresh`,
      cause:
        `exportIdToken is on, so ${context.prefix}ARM_OIDC_TOKEN holds this step's idToken, which expires about 10 minutes after it was issued; ` +
        'a Terraform step that maps it uses that static token instead of refreshing its own.',
      fix:
        `For Terraform, map \`SYSTEM_ACCESSTOKEN: $(System.AccessToken)\` instead of ${context.prefix}ARM_OIDC_TOKEN, so it refreshes through ARM_OIDC_REQUEST_URL and ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID; ` +
        'or set exportIdToken: false if no step needs the static idToken.',
      level: 'note',
    });
  }
  return advice;
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The exact credential to configure, and the az commands that create it. */
export function federatedCredentialFix(claims: IdTokenClaims, connection: AzureConnection): string {
  const iss = quoteUntrusted(claims.iss, 300);
  const sub = quoteUntrusted(claims.sub, 300);
  const parameters = JSON.stringify({
    name: 'azure-pipelines',
    issuer: iss,
    subject: sub,
    audiences: [TOKEN_EXCHANGE_AUDIENCE],
  });
  return (
    `Add a federated credential with issuer '${iss}', subject '${sub}' and audience '${TOKEN_EXCHANGE_AUDIENCE}' to the identity ${connection.clientId}: ` +
    `for an app registration run: az ad app federated-credential create --id ${connection.clientId} --parameters ${shellQuote(parameters)}; ` +
    `for a user-assigned managed identity run: az identity federated-credential create --name azure-pipelines --identity-name <identity-name> --resource-group <resource-group> ` +
    `--issuer ${shellQuote(iss)} --subject ${shellQuote(sub)} --audiences ${TOKEN_EXCHANGE_AUDIENCE}.`
  );
}

interface EntraAdvice {
  cause: string;
  remedy: (claims: IdTokenClaims | undefined, connection: AzureConnection) => string;
}

const credentialRemedy = (claims: IdTokenClaims | undefined, connection: AzureConnection): string =>
  claims
    ? federatedCredentialFix(claims, connection)
    : `Make a federated credential on the identity ${connection.clientId} match the connection's issuer and subject (shown on the service connection's page).`;

const signatureRemedy = (): string =>
  'Re-run the job (the issuer may have just rotated its keys); if it persists, check that nothing between the agent and Azure DevOps rewrites responses, and report the ids below to Azure DevOps support.';

const ENTRA_ADVICE: Record<number, EntraAdvice> = {
  700211: {
    cause: "No federated credential on the identity trusts the idToken's issuer",
    remedy: credentialRemedy,
  },
  700213: {
    cause:
      "No federated credential on the identity matches the idToken's subject (typically after the organization, project or connection was renamed, or the connection was converted to the Entra issuer)",
    remedy: credentialRemedy,
  },
  70021: {
    cause:
      'No federated credential on the identity matches the idToken (typically after an organization, project or connection rename)',
    remedy: credentialRemedy,
  },
  70025: {
    cause: 'The identity has no federated credentials at all',
    remedy: credentialRemedy,
  },
  700212: {
    cause: `The federated credential expects a different audience than '${TOKEN_EXCHANGE_AUDIENCE}'`,
    remedy: (claims, connection) => credentialRemedy(claims, connection),
  },
  700016: {
    cause: "The connection's client id is not an application or managed identity in its tenant",
    remedy: (_claims, connection) =>
      `Check that the service connection's client id ${connection.clientId} and tenant id ${connection.tenantId} name an existing app registration or managed identity, then edit the connection or recreate it.`,
  },
  900023: {
    cause: "The connection's tenant id is not a tenant Entra ID knows",
    remedy: (_claims, connection) =>
      `Set the service connection's tenant id to the directory (tenant) id of the identity ${connection.clientId}; it is currently ${connection.tenantId}.`,
  },
  90002: {
    cause: "The connection's tenant id names no tenant Entra ID knows (deleted, or mistyped)",
    remedy: (_claims, connection) =>
      `Set the service connection's tenant id to the directory (tenant) id of the identity ${connection.clientId}; it is currently ${connection.tenantId}.`,
  },
  700027: {
    cause: "Entra ID could not verify the idToken's signature against its issuer's published keys",
    remedy: signatureRemedy,
  },
  7000272: {
    cause: "Entra ID found no published key of the idToken's issuer that signed it",
    remedy: signatureRemedy,
  },
  50027: {
    cause: 'Entra ID could not read the idToken as a JWT',
    remedy: signatureRemedy,
  },
  700024: {
    cause: 'The idToken was expired or not yet valid when Entra ID checked it',
    remedy: () =>
      "Check that the agent machine's clock is right, and re-run the job; later steps must fetch a fresh idToken rather than reuse one older than 10 minutes.",
  },
  700223: {
    cause: 'The tenant does not allow federated credentials for this identity',
    remedy: () =>
      'Ask a tenant administrator to allow workload identity federation for this identity (Entra ID policy on flexible or federated credentials).',
  },
  700238: {
    cause: "A tenant policy restricts which issuers or subjects the identity's federated credentials may use",
    remedy: () =>
      "Ask a tenant administrator to allow the idToken's issuer and subject in the federated credential policy, or use an identity the policy permits.",
  },
  70052: {
    cause: 'The identity is a multitenant app, which the Microsoft Entra issuer does not support',
    remedy: () =>
      'Make the app registration single-tenant, or use a user-assigned managed identity for the service connection.',
  },
  900382: {
    cause: "The idToken comes from a different cloud than the connection's Entra authority",
    remedy: (_claims, connection) =>
      `Create the service connection in the same cloud as the identity; this connection targets ${connection.cloud.name} at ${connection.cloud.authorityHost}.`,
  },
  7000215: {
    cause: 'Entra ID expected a client secret: the identity is set up for a secret-based connection',
    remedy: () =>
      'Convert the service connection to workload identity federation (Project settings > Service connections > "Convert") so that Entra ID accepts the idToken.',
  },
  7000222: {
    cause:
      'The client secret the identity was set up with has expired: the identity is set up for a secret-based connection',
    remedy: () =>
      'Convert the service connection to workload identity federation (Project settings > Service connections > "Convert") so that no secret is needed.',
  },
};

/** One sentence of cause and one of remedy for an Entra error, with Entra's own code and ids. */
export function explainEntraError(
  error: EntraError,
  connection: AzureConnection,
  claims: IdTokenClaims | undefined,
): string {
  const advice = error.code !== undefined ? ENTRA_ADVICE[error.code] : undefined;
  const ids = [
    error.traceId ? `Trace ID: ${error.traceId}` : undefined,
    error.correlationId ? `Correlation ID: ${error.correlationId}` : undefined,
  ].filter(Boolean);
  const said = `Entra ID said: ${error.description}${ids.length ? ` (${ids.join(', ')})` : ''}`;
  if (advice) {
    return `Entra ID refused the idToken for client ${connection.clientId} in tenant ${connection.tenantId}: ${advice.cause}. ${advice.remedy(claims, connection)} ${said}`;
  }
  return (
    `Entra ID refused the idToken for client ${connection.clientId} in tenant ${connection.tenantId} (${error.error}). ` +
    `Look up the AADSTS code below at https://login.microsoftonline.com/error and fix the identity or the service connection. ${said}`
  );
}
