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
import { signInAzureCli } from './azcli';
import { acquire } from './core/acquire';
import { TaskFailure } from './core/errors';
import { createTransport } from './core/http';
import { DEFAULT_RETRY_POLICY } from './core/retry';
import { quoteUntrusted } from './core/text';
import { createPrivateDirectory } from './core/tokenfile';
import taskManifest from '../task.json';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  COMMAND_NAME,
  commandConfig,
  posixLauncher,
  windowsLauncher,
  type TokenCommandConfig,
} from './core/command-config';

export const REQUEST_TIMEOUT_INPUT = 'requestTimeoutSeconds';
export const OVERALL_TIMEOUT_INPUT = 'overallTimeoutSeconds';
export const EXPORT_ID_TOKEN_INPUT = 'exportIdToken';
export const RESOURCES_INPUT = 'resources';
export const PREFIX_INPUT = 'variablePrefix';
export const AZURE_CLI_LOGIN_INPUT = 'azureCliLogin';

function prefixInput(): string {
  const prefix = tl.getInput(PREFIX_INPUT, false)?.trim() ?? '';
  if (prefix !== '' && !/^[A-Za-z][A-Za-z0-9_]*$/.test(prefix)) {
    throw new TaskFailure(
      `The input '${PREFIX_INPUT}' is '${quoteUntrusted(prefix, 60)}', which cannot start a variable name. ` +
        'Use letters, digits and _ starting with a letter, for example STATE_.',
    );
  }
  return prefix;
}

/** The command's name on PATH: a prefixed instance gets its own, so two instances do not shadow each other. */
export function commandNameFor(prefix: string): string {
  const suffix = prefix.toLowerCase().replace(/_+$/, '').replace(/_/g, '-');
  return suffix ? `${COMMAND_NAME}-${suffix}` : COMMAND_NAME;
}

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

function booleanInput(name: string, fallback: boolean): boolean {
  const raw = tl.getInput(name, false)?.trim().toLowerCase();
  if (!raw) return fallback;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  throw new TaskFailure(
    `The input '${name}' is '${quoteUntrusted(raw, 40)}', which is neither true nor false. Set it to true or false.`,
  );
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

/**
 * Puts azure-wif-token on PATH for the rest of the job: launchers that run this bundle with the agent's
 * own node, in command mode, with a config file that holds no secret.
 */
function installTokenCommand(workDirectory: string, name: string, config: TokenCommandConfig): void {
  const bin = path.join(workDirectory, 'bin');
  fs.mkdirSync(bin, { mode: 0o700 });
  const configFile = path.join(workDirectory, 'token-command.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  const script = path.join(__dirname, 'main.js');
  fs.writeFileSync(path.join(bin, name), posixLauncher(process.execPath, script, configFile), {
    mode: 0o700,
  });
  fs.writeFileSync(
    path.join(bin, `${COMMAND_NAME}.cmd`),
    windowsLauncher(process.execPath, script, configFile),
    {
      mode: 0o600,
    },
  );
  tl.prependPath(bin);
  console.log(
    `Later steps can run ${name} for a fresh idToken or access token (it needs SYSTEM_ACCESSTOKEN mapped).`,
  );
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
    const prefix = prefixInput();
    const requestTimeoutSeconds = secondsInput(REQUEST_TIMEOUT_INPUT, 30, 600);
    const overallTimeoutSeconds = secondsInput(OVERALL_TIMEOUT_INPUT, 120, 3600);
    const tempDirectory = tl.getVariable('Agent.TempDirectory');
    const created: string[] = [];
    const workDirectory = tempDirectory ? createPrivateDirectory(tempDirectory, 'azure-wif-') : undefined;
    if (workDirectory) recordCreatedPath(created, workDirectory);
    const proxy = tl.getHttpProxyConfiguration() ?? undefined;
    const certificates = workDirectory ? readCertConfiguration(workDirectory) : undefined;
    const transport = createTransport({
      userAgent: userAgent(),
      proxy,
      cert: certificates,
      timeoutMs: requestTimeoutSeconds * 1000,
    });
    const result = await acquire(
      {
        connection: readServiceConnection(connectionId),
        oidc: readOidcContext(),
        jobAccessToken,
        workDirectory,
        exportIdToken: booleanInput(EXPORT_ID_TOKEN_INPUT, true),
        resources: tl.getInput(RESOURCES_INPUT, false),
        prefix,
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
    if (workDirectory && booleanInput(AZURE_CLI_LOGIN_INPUT, false)) {
      const configDirectory = await signInAzureCli({
        connection: result.connection,
        idToken: result.idToken,
        workDirectory,
        caFile: certificates?.caFile,
        proxyUrl: proxy?.proxyFormattedUrl,
        logger: taskLogger,
      });
      if (configDirectory) tl.setVariable(`${prefix}AZURE_CONFIG_DIR`, configDirectory);
    }
    if (workDirectory) {
      installTokenCommand(
        workDirectory,
        commandNameFor(prefix),
        commandConfig(result.connection, result.oidcEndpoint, result.federatedTokenFile, {
          caFile: certificates?.caFile,
          proxy: proxy && {
            proxyUrl: proxy.proxyUrl,
            proxyUsername: proxy.proxyUsername,
            proxyBypassHosts: proxy.proxyBypassHosts,
          },
          requestTimeoutMs: requestTimeoutSeconds * 1000,
          deadlineMs: overallTimeoutSeconds * 1000,
        }),
      );
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
