import * as tl from 'azure-pipelines-task-lib/task';
import { version } from '../task.json';
import {
  CREATED_PATHS_TASK_VARIABLE,
  readCertConfiguration,
  readJobAccessToken,
  readOidcContext,
  readServiceConnection,
  taskLogger,
} from './agent';
import { signInAzureCli } from './azcli';
import { acquire } from './core/acquire';
import { commandConfig } from './core/command-config';
import { loadMsal } from './core/entra';
import { TaskFailure } from './core/errors';
import { createTransport } from './core/http';
import { DEFAULT_RETRY_POLICY } from './core/retry';
import { createPrivateDirectory } from './core/tokenfile';
import { readTaskInputs } from './inputs';
import { installTokenCommand } from './token-command';

function userAgent(): string {
  return `AzureWorkloadIdentityTask/${version.Major}.${version.Minor}.${version.Patch} (node ${process.version}; ${process.platform})`;
}

function failureMessage(error: unknown, secrets: string[]): string {
  const message =
    error instanceof TaskFailure
      ? error.message
      : `The task failed unexpectedly: ${error instanceof Error ? error.message : String(error)}. ` +
        "Re-run with system.debug=true and report the log (it holds no secrets) to the task's issue tracker.";
  // The agent masks registered secrets too; this keeps them out even where it would not.
  return secrets.reduce((text, secret) => text.split(secret).join('***'), message);
}

/** The task's main step: read the agent's inputs, acquire, write the variables. */
export async function run(): Promise<void> {
  const secrets: string[] = [];
  const registerSecret = (secret: string): void => {
    secrets.push(secret);
    tl.setSecret(secret);
  };
  try {
    const jobAccessToken = readJobAccessToken();
    // The agent masks it already; registering it again costs nothing and guards against agents that don't.
    if (jobAccessToken) registerSecret(jobAccessToken);
    const inputs = readTaskInputs();
    const tempDirectory = tl.getVariable('Agent.TempDirectory');
    if (!tempDirectory) {
      throw new TaskFailure(
        'The agent did not set Agent.TempDirectory, where the task keeps its token file. Run the task on agent 3.220 or newer.',
      );
    }
    const workDirectory = createPrivateDirectory(tempDirectory, 'azure-wif-');
    // Recorded at once, so the post-job step cleans up even after a failure.
    tl.setTaskVariable(CREATED_PATHS_TASK_VARIABLE, JSON.stringify([workDirectory]));
    const proxy = tl.getHttpProxyConfiguration() ?? undefined;
    const certificates = readCertConfiguration(workDirectory);
    const requestTimeoutMs = inputs.requestTimeoutSeconds * 1000;
    const deadlineMs = inputs.overallTimeoutSeconds * 1000;
    const result = await acquire(
      {
        connection: readServiceConnection(inputs.connectionId),
        oidc: readOidcContext(),
        jobAccessToken,
        workDirectory,
        exportIdToken: inputs.exportIdToken,
        resources: inputs.resources,
        prefix: inputs.prefix,
      },
      {
        transport: createTransport({
          userAgent: userAgent(),
          proxy,
          cert: certificates,
          timeoutMs: requestTimeoutMs,
          // MSAL loads while Azure DevOps answers the idToken request, not before it is sent.
          whileWaiting: loadMsal,
        }),
        logger: taskLogger,
        registerSecret,
        retryPolicy: { ...DEFAULT_RETRY_POLICY, deadlineMs },
      },
    );
    for (const variable of result.variables) {
      tl.setVariable(variable.name, variable.value, variable.secret, variable.output);
    }
    if (inputs.azureCliLogin) {
      const configDirectory = await signInAzureCli({
        connection: result.connection,
        idToken: result.idToken,
        workDirectory,
        caFile: certificates?.caFile,
        proxyUrl: proxy?.proxyFormattedUrl,
        logger: taskLogger,
      });
      if (configDirectory) tl.setVariable(`${inputs.prefix}AZURE_CONFIG_DIR`, configDirectory);
    }
    installTokenCommand(
      workDirectory,
      inputs.prefix,
      commandConfig(result.connection, result.oidcEndpoint, result.federatedTokenFile, {
        caFile: certificates?.caFile,
        // The password stays out of the file: a step that needs it maps Agent.ProxyPassword.
        proxy: proxy && {
          proxyUrl: proxy.proxyUrl,
          proxyUsername: proxy.proxyUsername,
          proxyBypassHosts: proxy.proxyBypassHosts,
        },
        requestTimeoutMs,
        deadlineMs,
      }),
    );
    const subscription = result.connection.subscriptionId
      ? ` and subscription ${result.connection.subscriptionId}`
      : '';
    tl.setResult(
      tl.TaskResult.Succeeded,
      `Later steps of this job can sign in to Azure as ${result.connection.clientId} in tenant ${result.connection.tenantId}${subscription}.`,
    );
  } catch (error) {
    tl.setResult(tl.TaskResult.Failed, failureMessage(error, secrets));
  }
}
