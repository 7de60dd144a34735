import * as path from 'node:path';
import {
  parseConnection,
  type AzureConnection,
  type Cloud,
  type ServiceConnectionFields,
} from './connection';
import { describeClaims, preflightWarnings } from './diagnostics';
import type { AccessToken } from './entra';
import { TaskFailure } from './errors';
import { resolveOidcEndpoint, type IdToken, type OidcEndpoint, type OidcRequestContext } from './idtoken';
import type { IdTokenClaims } from './jwt';
import { planExports, type ExportedVariable } from './plan';
import { systemClock, withRetry } from './retry';
import type { ServiceDependencies } from './services';
import { TokenSource } from './token-source';
import { writeSecretFileAtomic } from './tokenfile';
import { assertJobTokenDestination } from './job-token-origin';
import { discoverAzureStackCloud } from './azurestack';
import { resolveResources, type ResourceEntry } from './resources';

export interface AcquireInputs {
  connection: ServiceConnectionFields;
  oidc: OidcRequestContext;
  /** The job access token, which the glue has checked is there. */
  jobAccessToken: string;
  /** A private directory under Agent.TempDirectory for the token file. */
  workDirectory: string;
  exportIdToken: boolean;
  /** Whether the tokens also become secret output variables (they then leave the job). */
  exportTokenOutputs?: boolean;
  /** The resources input, its syntax checked with the other inputs. */
  resources?: readonly ResourceEntry[];
  /** The variablePrefix input. */
  prefix?: string;
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

interface ProvenTokens {
  resourceManager: AccessToken;
  extra: Array<{ name: string; resource: string; token: string; expiresOn: Date }>;
}

/**
 * Service connection → cloud → idToken → proven Entra exchanges → the variables later steps need. Every
 * input is checked before the first request, and the job access token only goes to the job's own collection.
 */
export async function acquire(inputs: AcquireInputs, deps: ServiceDependencies): Promise<AcquireResult> {
  const connection = parseConnection(inputs.connection);
  const endpoint = resolveOidcEndpoint(inputs.oidc);
  assertJobTokenDestination(endpoint.baseUrl, inputs.oidc.collectionUri);

  connection.cloud = await resolveCloud(connection, deps);
  // Aliases need the cloud, which for Azure Stack Hub is only known now; still before any token is requested.
  const extraResources = resolveResources(inputs.resources ?? [], connection.cloud);
  const source = new TokenSource({ connection, endpoint, jobAccessToken: inputs.jobAccessToken }, deps);
  const idToken = await firstIdToken(source, connection, deps);
  const tokens = await proveExchanges(source, connection, extraResources, deps);
  // The exchanges may have replaced an idToken that ran short: the file gets the one Entra accepted last.
  const proven = source.latest ?? idToken;

  const federatedTokenFile = path.join(inputs.workDirectory, FEDERATED_TOKEN_FILE_NAME);
  writeSecretFileAtomic(federatedTokenFile, proven.token);
  return {
    connection,
    claims: proven.claims,
    oidcEndpoint: endpoint,
    federatedTokenFile,
    idToken: proven.token,
    accessTokenExpiresOn: tokens.resourceManager.expiresOn,
    extraTokens: tokens.extra.map(({ name, resource, expiresOn }) => ({ name, resource, expiresOn })),
    variables: planExports({
      connection,
      oidcRequestUrl: endpoint.baseUrl,
      idToken: proven.token,
      idTokenExpiresOn: new Date(proven.claims.exp * 1000),
      accessToken: tokens.resourceManager.token,
      accessTokenExpiresOn: tokens.resourceManager.expiresOn,
      federatedTokenFile,
      exportIdToken: inputs.exportIdToken,
      exportTokenOutputs: inputs.exportTokenOutputs ?? false,
      extraTokens: tokens.extra,
      prefix: inputs.prefix ?? '',
    }),
  };
}

/** The connection's cloud; an Azure Stack Hub's authority and audience come from its metadata. */
async function resolveCloud(connection: AzureConnection, deps: ServiceDependencies): Promise<Cloud> {
  const cloud = connection.cloud;
  if (!cloud.metadataUrl) return cloud;
  return withRetry(
    'Reading the Azure Stack Hub metadata',
    () => discoverAzureStackCloud(cloud, connection.id, deps.transport, deps.logger),
    deps.retryPolicy,
    deps.logger,
    deps.clock ?? systemClock,
  );
}

/** The first idToken, described for the log, with what its claims say about the connection's setup. */
async function firstIdToken(
  source: TokenSource,
  connection: AzureConnection,
  { logger }: ServiceDependencies,
): Promise<IdToken> {
  const idToken = await source.idToken();
  for (const line of describeClaims(idToken.claims)) logger.info(line);
  for (const warning of preflightWarnings(idToken.claims, connection)) logger.warn(warning);
  return idToken;
}

/** Exchanges the idToken for Resource Manager and each extra resource: the proof that federation works. */
async function proveExchanges(
  source: TokenSource,
  connection: AzureConnection,
  extraResources: ReadonlyArray<{ name: string; resource: string }>,
  { logger }: ServiceDependencies,
): Promise<ProvenTokens> {
  logger.info(
    `Exchanging the idToken at ${connection.cloud.authorityHost} for client ${connection.clientId} in tenant ${connection.tenantId}.`,
  );
  const resourceManager = await source.accessToken(connection.cloud.resourceManager);
  logger.info(
    `Entra ID accepted the idToken; the Resource Manager access token expires ${resourceManager.expiresOn.toISOString()}.`,
  );
  const extra: ProvenTokens['extra'] = [];
  for (const { name, resource } of extraResources) {
    try {
      const { token, expiresOn } = await source.accessToken(resource);
      extra.push({ name, resource, token, expiresOn });
      logger.info(`Access token for ${name} (${resource}) expires ${expiresOn.toISOString()}.`);
    } catch (error) {
      if (!(error instanceof TaskFailure)) throw error;
      throw new TaskFailure(`For the resource ${name} (${resource}): ${error.message}`);
    }
  }
  return { resourceManager, extra };
}
