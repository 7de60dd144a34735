import * as path from 'node:path';
import { parseConnection, type AzureConnection, type ServiceConnectionFields } from './connection';
import { describeClaims, explainEntraError, preflightWarnings } from './diagnostics';
import { exchangeForAccessToken } from './entra';
import { TaskFailure } from './errors';
import type { HttpTransport } from './http';
import {
  requestIdToken,
  resolveOidcEndpoint,
  type IdToken,
  type OidcEndpoint,
  type OidcRequestContext,
} from './idtoken';
import type { IdTokenClaims } from './jwt';
import type { Logger } from './logger';
import { planExports, type ExportedVariable } from './plan';
import { systemClock, withRetry, type RetryClock, type RetryPolicy } from './retry';
import { writeSecretFileAtomic } from './tokenfile';
import { assertJobTokenDestination } from './job-token-origin';
import { discoverAzureStackCloud } from './azurestack';
import { parseResources } from './resources';
import { MINIMUM_AGENT_VERSION } from './agent-requirements';

export interface AcquireInputs {
  connection: ServiceConnectionFields;
  oidc: OidcRequestContext;
  jobAccessToken: string | undefined;
  /** A private directory under Agent.TempDirectory for the token file. */
  workDirectory: string;
  exportIdToken: boolean;
  /** Whether the tokens also become secret output variables (they then leave the job). */
  exportTokenOutputs?: boolean;
  /** The resources input, as the author wrote it. */
  resources?: string;
  /** The variablePrefix input. */
  prefix?: string;
}

export interface AcquireDependencies {
  transport: HttpTransport;
  logger: Logger;
  /** Registers a value with the agent's masker; called before the value could appear anywhere. */
  registerSecret: (secret: string) => void;
  retryPolicy: RetryPolicy;
  clock?: RetryClock;
}

export interface AcquireResult {
  connection: AzureConnection;
  claims: IdTokenClaims;
  variables: ExportedVariable[];
  oidcEndpoint: OidcEndpoint;
  federatedTokenFile: string;
  /** The idToken the exchange proved, for tools the glue signs in (registered as a secret already). */
  idToken: string;
  /** When the Resource Manager access token and each extra resource's expire, for the run summary. */
  accessTokenExpiresOn: Date;
  extraTokens: Array<{ name: string; resource: string; expiresOn: Date }>;
}

export const FEDERATED_TOKEN_FILE_NAME = 'federated-token.jwt';
/** Entra checks exp against its own clock; an assertion with less than this left is replaced first. */
const ASSERTION_FRESHNESS_MS = 60_000;

/** Service connection → idToken → proven Entra exchange → the variables later steps need. */
export async function acquire(inputs: AcquireInputs, deps: AcquireDependencies): Promise<AcquireResult> {
  const { logger } = deps;
  const clock = deps.clock ?? systemClock;
  const connection = parseConnection(inputs.connection);
  if (!inputs.jobAccessToken) {
    throw new TaskFailure(
      'The agent did not give the task the job access token (endpoint SYSTEMVSSCONNECTION), which it needs to ask Azure DevOps for an idToken. ' +
        `Run the task on agent ${MINIMUM_AGENT_VERSION} or newer; in a classic release, enable "Allow scripts to access the OAuth token" on the agent job.`,
    );
  }
  const endpoint = resolveOidcEndpoint(inputs.oidc);
  assertJobTokenDestination(endpoint.baseUrl, inputs.oidc.collectionUri);
  if (connection.cloud.metadataUrl) {
    const stack = connection.cloud;
    connection.cloud = await withRetry(
      'Reading the Azure Stack Hub metadata',
      () => discoverAzureStackCloud(stack, connection.id, deps.transport, logger),
      deps.retryPolicy,
      logger,
      clock,
    );
  }
  // Checked before any token is requested, so a typo costs no round trip.
  const extraResources = parseResources(inputs.resources, connection.cloud);
  const idTokenOptions = {
    transport: deps.transport,
    endpoint,
    jobAccessToken: inputs.jobAccessToken,
    registerSecret: deps.registerSecret,
    logger,
    now: clock.now,
  };
  const fetchIdToken = () =>
    withRetry(
      'Requesting the idToken from Azure DevOps',
      () => requestIdToken(idTokenOptions, connection.id),
      deps.retryPolicy,
      logger,
      clock,
    );

  let latest: IdToken = await fetchIdToken();
  for (const line of describeClaims(latest.claims)) logger.info(line);
  for (const warning of preflightWarnings(latest.claims, connection)) logger.warn(warning);

  // The first exchange uses the idToken just fetched; a retry reuses it while it has time left, and
  // fetches a fresh one when it has not.
  let firstUse = true;
  const getAssertion = async (): Promise<string> => {
    if (!firstUse && latest.claims.exp * 1000 - clock.now() < ASSERTION_FRESHNESS_MS)
      latest = await fetchIdToken();
    firstUse = false;
    return latest.token;
  };
  const exchange = (resource: string) =>
    withRetry(
      'Exchanging the idToken at Entra ID',
      () =>
        exchangeForAccessToken(
          {
            transport: deps.transport,
            connection,
            getAssertion,
            registerSecret: deps.registerSecret,
            logger,
          },
          resource,
          (error) => explainEntraError(error, connection, latest.claims),
        ),
      deps.retryPolicy,
      logger,
      clock,
    );
  logger.info(
    `Exchanging the idToken at ${connection.cloud.authorityHost} for client ${connection.clientId} in tenant ${connection.tenantId}.`,
  );
  const accessToken = await exchange(connection.cloud.resourceManager);
  logger.info(
    `Entra ID accepted the idToken; the Resource Manager access token expires ${accessToken.expiresOn.toISOString()}.`,
  );
  const extraTokens: Array<{ name: string; resource: string; token: string; expiresOn: Date }> = [];
  for (const { name, resource } of extraResources) {
    try {
      const { token, expiresOn } = await exchange(resource);
      extraTokens.push({ name, resource, token, expiresOn });
      logger.info(`Access token for ${name} (${resource}) expires ${expiresOn.toISOString()}.`);
    } catch (error) {
      if (!(error instanceof TaskFailure)) throw error;
      throw new TaskFailure(`For the resource ${name} (${resource}): ${error.message}`);
    }
  }

  const federatedTokenFile = path.join(inputs.workDirectory, FEDERATED_TOKEN_FILE_NAME);
  writeSecretFileAtomic(federatedTokenFile, latest.token);

  return {
    connection,
    claims: latest.claims,
    oidcEndpoint: endpoint,
    federatedTokenFile,
    idToken: latest.token,
    accessTokenExpiresOn: accessToken.expiresOn,
    extraTokens: extraTokens.map(({ name, resource, expiresOn }) => ({ name, resource, expiresOn })),
    variables: planExports({
      connection,
      oidcRequestUrl: endpoint.baseUrl,
      idToken: latest.token,
      idTokenExpiresOn: new Date(latest.claims.exp * 1000),
      accessToken: accessToken.token,
      accessTokenExpiresOn: accessToken.expiresOn,
      federatedTokenFile,
      exportIdToken: inputs.exportIdToken,
      exportTokenOutputs: inputs.exportTokenOutputs ?? false,
      extraTokens,
      prefix: inputs.prefix ?? '',
    }),
  };
}
