import * as tl from 'azure-pipelines-task-lib/task';
import { name as taskName, version } from '../../task.json';
import {
  CREATED_PATHS_TASK_VARIABLE,
  readCertConfiguration,
  readJobAccessToken,
  readOidcContext,
  readServiceConnection,
  taskLogger,
} from './agent';
import { signInAzureCli } from '../core/azure-cli';
import { acquire, type AcquireResult } from '../core/acquire';
import { commandConfig } from '../command/config';
import { loadMsal } from '../core/entra';
import { describeError, failureMessage, TaskFailure } from '../core/errors';
import { createTransport, type IProxyConfiguration } from '../core/http';
import type { ExportedVariable } from '../core/plan';
import { DEFAULT_RETRY_POLICY } from '../core/retry';
import type { ServiceDependencies } from '../core/services';
import { createPrivateDirectory } from '../core/tokenfile';
import { readTaskInputs, type TaskInputs } from './inputs';
import { publishRunSummary } from './run-summary';
import { commandNameFor, installTokenCommand } from '../command/install';
import { MINIMUM_AGENT_VERSION } from '../core/agent-requirements';
import { proveOtherClouds, resolveOtherClouds, type OtherCloudTargets } from '../core/other-clouds';
import { planOtherCloudExports } from '../core/plan';
import { readOtherCloudSettings } from './other-cloud-inputs';
import { startRenewer } from '../renewer/control';

function userAgent(): string {
  return `AzureWorkloadIdentityTask/${version.Major}.${version.Minor}.${version.Patch} (node ${process.version}; ${process.platform})`;
}

/**
 * Sets one variable. task-lib's setVariable cannot ask the agent to keep a name's case, so those few are
 * written as the logging command task-lib would write, plus `preservecase`.
 */
function setVariable(variable: ExportedVariable): void {
  if (!variable.preserveCase) {
    tl.setVariable(variable.name, variable.value, variable.secret, variable.output);
    return;
  }
  if (variable.secret) tl.setSecret(variable.value);
  tl.command(
    'task.setvariable',
    {
      variable: variable.name,
      isOutput: String(variable.output),
      issecret: String(variable.secret),
      preservecase: 'true',
    },
    variable.value,
  );
}

/** What the step read from the agent and set up before its first request. */
interface StepContext {
  inputs: TaskInputs;
  jobAccessToken: string;
  otherClouds: OtherCloudTargets;
  tempDirectory: string;
  /** The task's private directory under Agent.TempDirectory (0700 / owner-only ACL). */
  workDirectory: string;
  proxy?: IProxyConfiguration;
  caFile?: string;
  requestTimeoutMs: number;
  /** One transport (one TLS context) and one retry policy for every service the step calls. */
  services: ServiceDependencies;
  /** Every secret registered so far, masked again in what az prints and in the failure message. */
  secrets: string[];
}

/** Reads and checks everything from the agent, so that a mistake costs no request. */
function prepare(registerSecret: (secret: string) => void, secrets: string[]): StepContext {
  // First, so it is registered before task-lib logs anything: the agent masks it already, and registering it
  // again costs nothing and guards against agents that don't.
  const jobAccessToken = readJobAccessToken();
  registerSecret(jobAccessToken);
  const inputs = readTaskInputs();
  const otherClouds = resolveOtherClouds(readOtherCloudSettings());
  const tempDirectory = tl.getVariable('Agent.TempDirectory');
  if (!tempDirectory) {
    throw new TaskFailure(
      `The agent did not set Agent.TempDirectory, where the task keeps its token file. Run the task on agent ${MINIMUM_AGENT_VERSION} or newer.`,
    );
  }
  const workDirectory = createPrivateDirectory(tempDirectory, 'azure-wif-');
  // Recorded at once, so the post-job step cleans up even after a failure.
  tl.setTaskVariable(CREATED_PATHS_TASK_VARIABLE, JSON.stringify([workDirectory]));
  const proxy = tl.getHttpProxyConfiguration() ?? undefined;
  if (proxy?.proxyPassword) registerSecret(proxy.proxyPassword);
  const certificates = readCertConfiguration(workDirectory);
  const requestTimeoutMs = inputs.requestTimeoutSeconds * 1000;
  const services: ServiceDependencies = {
    transport: createTransport({
      userAgent: userAgent(),
      proxy,
      cert: certificates,
      timeoutMs: requestTimeoutMs,
      // MSAL loads while Azure DevOps answers the idToken request, not before it is sent (runs once).
      whileWaiting: loadMsal,
    }),
    logger: taskLogger,
    registerSecret,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, deadlineMs: inputs.overallTimeoutSeconds * 1000 },
  };
  return {
    inputs,
    jobAccessToken,
    otherClouds,
    tempDirectory,
    workDirectory,
    proxy,
    caFile: certificates?.caFile || undefined,
    requestTimeoutMs,
    services,
    secrets,
  };
}

/** AWS, Google Cloud, Vault: proven with the idToken Entra accepted, exported the way their own tools read them. */
async function exportOtherClouds(step: StepContext, result: AcquireResult): Promise<ExportedVariable[]> {
  const proven = await proveOtherClouds(
    step.otherClouds,
    { ...result, workDirectory: step.workDirectory },
    step.services,
  );
  return planOtherCloudExports({
    aws: proven.aws?.target,
    gcp: proven.gcp && {
      credentialFile: proven.gcp.proof.credentialFile,
      projectId: proven.gcp.target.projectId,
    },
    vault: proven.vault && { ...proven.vault.target, ...proven.vault.login },
    federatedTokenFile: result.federatedTokenFile,
    prefix: step.inputs.prefix,
  });
}

/** Signs az in to a job-private profile; its AZURE_CONFIG_DIR, or nothing when az is not installed. */
async function signInAzureCliFor(
  step: StepContext,
  result: AcquireResult,
): Promise<ExportedVariable | undefined> {
  const configDirectory = await signInAzureCli({
    connection: result.connection,
    federatedTokenFile: result.federatedTokenFile,
    workDirectory: step.workDirectory,
    caFile: step.caFile,
    proxy: step.proxy,
    secrets: step.secrets,
    logger: taskLogger,
    env: process.env,
  });
  return configDirectory === undefined
    ? undefined
    : { name: `${step.inputs.prefix}AZURE_CONFIG_DIR`, value: configDirectory, secret: false, output: false };
}

/** Puts azure-wif-token on PATH for the rest of the job; returns its configuration file, which the renewer reads. */
function installCommand(step: StepContext, result: AcquireResult): string {
  const { proxy } = step;
  const command = installTokenCommand(step.workDirectory, step.inputs.prefix, {
    vault: step.otherClouds.vault,
    ...commandConfig(result.connection, result.oidcEndpoint, result.federatedTokenFile, {
      caFile: step.caFile,
      // The password stays out of the file: a step that needs it maps Agent.ProxyPassword.
      proxy: proxy && {
        proxyUrl: proxy.proxyUrl,
        proxyUsername: proxy.proxyUsername || undefined,
        proxyBypassHosts: proxy.proxyBypassHosts,
      },
      requestTimeoutMs: step.requestTimeoutMs,
      deadlineMs: step.services.retryPolicy.deadlineMs,
    }),
  });
  tl.prependPath(command.binDirectory);
  console.log(
    `Later steps can run ${command.name} for a fresh idToken or access token (it needs SYSTEM_ACCESSTOKEN mapped).`,
  );
  return command.configFile;
}

/** Starts the job-wide renewer; a failure to start costs the job nothing but the renewal, so it only warns. */
function startJobRenewer(
  step: StepContext,
  configFile: string,
  azureConfigDirectory: string | undefined,
): number | undefined {
  try {
    const pid = startRenewer({
      workDirectory: step.workDirectory,
      configFile,
      azureConfigDirectory,
      secrets: { jobAccessToken: step.jobAccessToken, proxyPassword: step.proxy?.proxyPassword || undefined },
    });
    const what = azureConfigDirectory
      ? 'the federated token file and the Azure CLI sign-in'
      : 'the federated token file';
    console.log(
      `Started the token renewer (pid ${pid}): it keeps ${what} fresh until the job ends; the post-job step stops it.`,
    );
    return pid;
  } catch (error) {
    tl.warning(
      `Could not start the token renewer (${describeError(error)}), so the federated token file lasts only as long as its first idToken. ` +
        'Re-run the job; if it persists, use azure-wif-token exec in steps that outlive the idToken.',
    );
    return undefined;
  }
}

/**
 * The task's main step: read the agent, acquire (cloud, idToken, proven exchanges), export for Azure and the
 * other clouds, sign az in, install the command, start the renewer, publish the summary.
 */
export async function run(): Promise<void> {
  const secrets: string[] = [];
  const registerSecret = (secret: string): void => {
    secrets.push(secret);
    tl.setSecret(secret);
  };
  try {
    const step = prepare(registerSecret, secrets);
    const { inputs } = step;
    const result = await acquire(
      {
        connection: readServiceConnection(inputs.connectionId),
        oidc: readOidcContext(),
        jobAccessToken: step.jobAccessToken,
        workDirectory: step.workDirectory,
        exportIdToken: inputs.exportIdToken,
        exportTokenOutputs: inputs.exportTokenOutputs,
        resources: inputs.resources,
        prefix: inputs.prefix,
      },
      step.services,
    );
    const exported = [...result.variables];
    for (const variable of exported) setVariable(variable);
    for (const variable of await exportOtherClouds(step, result)) {
      setVariable(variable);
      exported.push(variable);
    }
    const azureConfig = inputs.azureCliLogin ? await signInAzureCliFor(step, result) : undefined;
    if (azureConfig) {
      setVariable(azureConfig);
      exported.push(azureConfig);
    }
    const configFile = installCommand(step, result);
    const renewerPid = inputs.renewTokens ? startJobRenewer(step, configFile, azureConfig?.value) : undefined;
    const commandName = commandNameFor(inputs.prefix);
    publishRunSummary({
      result,
      variables: exported,
      tempDirectory: step.tempDirectory,
      prefix: inputs.prefix,
      exportIdToken: inputs.exportIdToken,
      commandName,
      taskName,
      renewer:
        renewerPid === undefined
          ? undefined
          : {
              running: true,
              detail: `keeps the federated token file${azureConfig ? ' and the Azure CLI sign-in' : ''} fresh until the job ends (pid ${renewerPid}); \`${commandName} status\` shows its log`,
            },
    });
    const subscription = result.connection.subscriptionId
      ? ` and subscription ${result.connection.subscriptionId}`
      : '';
    tl.setResult(
      tl.TaskResult.Succeeded,
      `Later steps of this job can sign in to Azure as ${result.connection.clientId} in tenant ${result.connection.tenantId}${subscription}.`,
    );
  } catch (error) {
    tl.setResult(
      tl.TaskResult.Failed,
      failureMessage(
        error,
        (detail) =>
          `The task failed unexpectedly: ${detail}. ` +
          "Re-run with system.debug=true and report the log (it holds no secrets) to the task's issue tracker.",
        secrets,
      ),
    );
  }
}
