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
import { createPrivateDirectory } from './core/tokenfile';
import taskManifest from '../task.json';

const REQUEST_TIMEOUT_MS = 30_000;

function userAgent(): string {
  const { Major, Minor, Patch } = taskManifest.version;
  return `AzureWorkloadIdentityTask/${Major}.${Minor}.${Patch} (node ${process.version}; ${process.platform})`;
}

function failureMessage(error: unknown): string {
  if (error instanceof TaskFailure) return error.message;
  const detail = error instanceof Error ? error.message : String(error);
  return `The task failed unexpectedly: ${detail}. Re-run with system.debug=true and report the log (it holds no secrets) to the task's issue tracker.`;
}

function recordCreatedPath(created: string[], entry: string): void {
  created.push(entry);
  tl.setTaskVariable(CREATED_PATHS_TASK_VARIABLE, JSON.stringify(created));
}

/** The task's main step: read the agent's inputs, acquire, write the variables. */
export async function run(): Promise<void> {
  try {
    const jobAccessToken = readJobAccessToken();
    // The agent masks it already; registering it again costs nothing and guards against agents that don't.
    if (jobAccessToken) tl.setSecret(jobAccessToken);
    const connectionId = tl.getInput(CONNECTION_INPUT, false);
    if (!connectionId) {
      throw new TaskFailure(
        `The input '${CONNECTION_INPUT}' (YAML: azureSubscription) is empty, so the task does not know which service connection to use. ` +
          'Set azureSubscription to the name of an Azure Resource Manager service connection that uses workload identity federation.',
      );
    }
    const tempDirectory = tl.getVariable('Agent.TempDirectory');
    const created: string[] = [];
    const workDirectory = tempDirectory ? createPrivateDirectory(tempDirectory, 'azure-wif-') : undefined;
    if (workDirectory) recordCreatedPath(created, workDirectory);
    const transport = createTransport({
      userAgent: userAgent(),
      proxy: tl.getHttpProxyConfiguration() ?? undefined,
      cert: workDirectory ? readCertConfiguration(workDirectory) : undefined,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    const result = await acquire(
      {
        connection: readServiceConnection(connectionId),
        oidc: readOidcContext(),
        jobAccessToken,
        workDirectory,
      },
      { transport, logger: taskLogger, registerSecret: (secret) => tl.setSecret(secret) },
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
    tl.setResult(tl.TaskResult.Failed, failureMessage(error));
  }
}
