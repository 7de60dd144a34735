import * as tl from 'azure-pipelines-task-lib/task';
import {
  CONNECTION_INPUT,
  CREATED_PATHS_TASK_VARIABLE,
  readCertConfiguration,
  readJobAccessToken,
  readOidcContext,
  readServiceConnection,
  taskLogger,
} from './agent';
import { acquire } from './core/acquire';
import { TaskFailure } from './core/errors';
import { createTransport } from './core/http';
import { DEFAULT_RETRY_POLICY } from './core/retry';
import { quoteUntrusted } from './core/text';
import { createPrivateDirectory } from './core/tokenfile';
import taskManifest from '../task.json';

export const REQUEST_TIMEOUT_INPUT = 'requestTimeoutSeconds';
export const OVERALL_TIMEOUT_INPUT = 'overallTimeoutSeconds';

function userAgent(): string {
  const { Major, Minor, Patch } = taskManifest.version;
  return `AzureWorkloadIdentityTask/${Major}.${Minor}.${Patch} (node ${process.version}; ${process.platform})`;
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

function secondsInput(name: string, fallback: number, max: number): number {
  const raw = tl.getInput(name, false)?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new TaskFailure(
      `The input '${name}' is '${quoteUntrusted(raw, 40)}', which is not a whole number of seconds from 1 to ${max}. ` +
        `Set it to such a number, or remove it to use the default of ${fallback}.`,
    );
  }
  return value;
}

function recordCreatedPath(created: string[], entry: string): void {
  created.push(entry);
  tl.setTaskVariable(CREATED_PATHS_TASK_VARIABLE, JSON.stringify(created));
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
    const connectionId = tl.getInput(CONNECTION_INPUT, false);
    if (!connectionId) {
      throw new TaskFailure(
        `The input '${CONNECTION_INPUT}' (YAML: azureSubscription) is empty, so the task does not know which service connection to use. ` +
          'Set azureSubscription to the name of an Azure Resource Manager service connection that uses workload identity federation.',
      );
    }
    const requestTimeoutSeconds = secondsInput(REQUEST_TIMEOUT_INPUT, 30, 600);
    const overallTimeoutSeconds = secondsInput(OVERALL_TIMEOUT_INPUT, 120, 3600);
    const tempDirectory = tl.getVariable('Agent.TempDirectory');
    const created: string[] = [];
    const workDirectory = tempDirectory ? createPrivateDirectory(tempDirectory, 'azure-wif-') : undefined;
    if (workDirectory) recordCreatedPath(created, workDirectory);
    const transport = createTransport({
      userAgent: userAgent(),
      proxy: tl.getHttpProxyConfiguration() ?? undefined,
      cert: workDirectory ? readCertConfiguration(workDirectory) : undefined,
      timeoutMs: requestTimeoutSeconds * 1000,
    });
    const result = await acquire(
      {
        connection: readServiceConnection(connectionId),
        oidc: readOidcContext(),
        jobAccessToken,
        workDirectory,
      },
      {
        transport,
        logger: taskLogger,
        registerSecret,
        retryPolicy: { ...DEFAULT_RETRY_POLICY, deadlineMs: overallTimeoutSeconds * 1000 },
      },
    );
    for (const variable of result.variables) {
      tl.setVariable(variable.name, variable.value, variable.secret, variable.output);
    }
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
