import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as tl from 'azure-pipelines-task-lib/task';
import type { ICertConfiguration } from '../core/http';
import { CONNECTION_DATA_KEYS, type ServiceConnectionFields } from '../core/connection';
import type { OidcRequestContext } from '../core/idtoken';
import type { Logger } from '../core/logger';
import { TaskFailure } from '../core/errors';
import { quoteUntrusted } from '../core/text';
import { MINIMUM_AGENT_VERSION } from '../core/agent-requirements';

/** Task-lib glue: everything the task reads from, or writes to, the agent. */

/** Task variable (private to this task instance) that tells the post-job step what to remove. */
export const CREATED_PATHS_TASK_VARIABLE = 'AZUREWIF_CREATED_PATHS';

/**
 * The endpoint's authorization, read whole: task-lib's per-parameter getter debug-logs the value, and its
 * parse error quotes the raw JSON, either of which would print a secret.
 */
function readAuthorization(id: string): tl.EndpointAuthorization | undefined {
  try {
    return tl.getEndpointAuthorization(id, true);
  } catch {
    throw new TaskFailure(
      `The agent passed the authorization of endpoint ${id} in a form the task cannot read (not JSON). ` +
        'Update the agent to the latest version and re-run the job.',
    );
  }
}

export function readServiceConnection(id: string): ServiceConnectionFields {
  const authorization = readAuthorization(id);
  const data: Record<string, string | undefined> = {};
  for (const key of CONNECTION_DATA_KEYS) data[key] = tl.getEndpointDataParameter(id, key, true);
  return {
    id,
    url: tl.getEndpointUrl(id, true),
    scheme: tl.getEndpointAuthorizationScheme(id, true) ?? authorization?.scheme,
    authParameters: authorization?.parameters ?? {},
    data,
  };
}

export function readOidcContext(): OidcRequestContext {
  return {
    oidcRequestUri: tl.getVariable('System.OidcRequestUri'),
    collectionUri: tl.getVariable('System.CollectionUri'),
    projectId: tl.getVariable('System.TeamProjectId'),
    hostType: tl.getVariable('System.HostType'),
    planId: tl.getVariable('System.PlanId'),
    jobId: tl.getVariable('System.JobId'),
  };
}

/** The job access token, which the task needs to ask Azure DevOps for an idToken. */
export function readJobAccessToken(): string {
  const token = readAuthorization('SYSTEMVSSCONNECTION')?.parameters?.AccessToken;
  if (!token) {
    throw new TaskFailure(
      'The agent did not give the task the job access token (endpoint SYSTEMVSSCONNECTION), which it needs to ask Azure DevOps for an idToken. ' +
        `Run the task on agent ${MINIMUM_AGENT_VERSION} or newer; in a classic release, enable "Allow scripts to access the OAuth token" on the agent job.`,
    );
  }
  return token;
}

/**
 * The agent's certificate settings. Node's `ca` option replaces the default trust store, so the agent's CA
 * is added to the system roots: Entra ID's public certificates must still verify when the agent trusts a
 * private CA for an Azure DevOps Server or a TLS-inspecting proxy.
 */
export function readCertConfiguration(workDirectory: string): ICertConfiguration | undefined {
  const config = tl.getHttpCertConfiguration();
  if (!config) return undefined;
  const cert: ICertConfiguration = { ...config };
  if (config.caFile) {
    const bundle = path.join(workDirectory, 'ca-bundle.pem');
    fs.writeFileSync(bundle, [...tls.rootCertificates, fs.readFileSync(config.caFile, 'utf8')].join('\n'), {
      mode: 0o600,
    });
    cert.caFile = bundle;
  }
  return cert;
}

export const taskLogger: Logger = {
  info: (message) => console.log(quoteUntrusted(message, 4000)),
  warn: (message) => tl.warning(message),
  debug: (message) => tl.debug(message),
};
