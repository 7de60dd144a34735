import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AzureConnection } from './connection';
import { describeError, TaskFailure } from './errors';
import type { Logger } from './logger';
import { proxyEnvironment, type AgentProxy } from './proxy-env';
import { quoteUntrusted } from './text';
import { azWindowsInvocation, findWindowsCommand, type Invocation } from './windows-command';

const CUSTOM_CLOUD = 'AzureWorkloadIdentity';
const DEFAULT_REMEDY =
  'Check that the agent has a working Azure CLI (az version), or turn azureCliLogin off and sign in in a script step.';

/** Where a program is on PATH; on Windows as cmd.exe finds it (PATHEXT), since az is az.cmd there. */
export function findOnPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const isFile = (candidate: string) => {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return fs.statSync(candidate).isFile();
    } catch {
      return false;
    }
  };
  if (process.platform === 'win32') return findWindowsCommand(command, env, isFile);
  for (const directory of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(directory, command);
    if (isFile(candidate)) return candidate;
  }
  return undefined;
}

/** How az is started: directly on POSIX; on Windows never through a shell (see core/windows-command). */
export function azInvocation(
  az: string,
  args: string[],
  platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): Invocation {
  if (platform !== 'win32') return { file: az, args, windowsVerbatimArguments: false };
  return azWindowsInvocation(
    az,
    args,
    (file) => fs.existsSync(file),
    env.ComSpec ?? env.COMSPEC ?? 'cmd.exe',
  );
}

function runAz(
  az: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const invocation = azInvocation(az, args, process.platform, env);
    const child = spawn(invocation.file, invocation.args, {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      windowsVerbatimArguments: invocation.windowsVerbatimArguments,
      windowsHide: true,
      signal,
    });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stderr: Buffer.concat(stderr).toString('utf8') }));
  });
}

/**
 * The clouds az knows by name, keyed by the connection's `environment` as Microsoft's AzureCLI@2 does
 * (microsoft/azure-pipelines-tasks Tasks/AzureCLIV2/azureclitask.ts, setAzureCloudBasedOnServiceEndpoint:
 * `az cloud set -n <environment>`), so az keeps the cloud's own storage, Key Vault and other suffixes.
 * The authorities are the ones az's built-in cloud signs in at; a connection that names such a cloud but
 * points its authority elsewhere is treated as a custom cloud, or az would sign in where the task did not.
 */
const AZ_CLOUDS: Record<string, { name: string; authorities: string[] }> = {
  azurecloud: {
    name: 'AzureCloud',
    authorities: ['login.microsoftonline.com', 'login.windows.net', 'login.microsoft.com', 'sts.windows.net'],
  },
  azurechinacloud: {
    name: 'AzureChinaCloud',
    authorities: ['login.chinacloudapi.cn', 'login.partner.microsoftonline.cn'],
  },
  azureusgovernment: {
    name: 'AzureUSGovernment',
    authorities: ['login.microsoftonline.us', 'login.usgovcloudapi.net'],
  },
  azuregermancloud: { name: 'AzureGermanCloud', authorities: ['login.microsoftonline.de'] },
};

/** The az commands that select the connection's cloud: by name where az knows it, else a registered one. */
export function cloudCommands(connection: AzureConnection): Array<{ what: string; args: string[] }> {
  const known = AZ_CLOUDS[connection.cloud.name.toLowerCase()];
  const authority = new URL(connection.cloud.authorityHost);
  if (known && authority.pathname === '/' && known.authorities.includes(authority.hostname.toLowerCase())) {
    return [{ what: `select the cloud ${known.name}`, args: ['cloud', 'set', '--name', known.name] }];
  }
  const audience = connection.cloud.resourceManager.replace(/\/*$/, '/');
  return [
    {
      what: "register the connection's cloud",
      args: [
        'cloud',
        'register',
        '--name',
        CUSTOM_CLOUD,
        '--endpoint-active-directory',
        connection.cloud.authorityHost.replace(/\/+$/, ''),
        '--endpoint-resource-manager',
        (connection.resourceManagerUrl ?? connection.cloud.resourceManager).replace(/\/+$/, ''),
        // The audience the task itself asks for, its own trailing slash kept (never doubled).
        '--endpoint-active-directory-resource-id',
        audience,
        '--endpoint-management',
        audience,
        // Named so az does not go looking for the cloud's metadata to fill it in.
        '--endpoint-active-directory-graph-resource-id',
        'https://graph.windows.net/',
      ],
    },
    { what: "select the connection's cloud", args: ['cloud', 'set', '--name', CUSTOM_CLOUD] },
  ];
}

export interface AzureCliSignIn {
  connection: AzureConnection;
  /** The federated token file (owner-only): az reads the idToken from it, so no argv ever holds it. */
  federatedTokenFile: string;
  workDirectory: string;
  /** CA bundle (system roots plus the agent's CA) for az's Python TLS stack. */
  caFile?: string;
  /** The agent proxy, for az's own requests only. */
  proxy?: AgentProxy;
  /** Every secret registered so far, masked in what az prints before it is quoted. */
  secrets?: readonly string[];
  logger: Logger;
  /** The step's environment: where az is found (PATH) and what it starts from. */
  env: NodeJS.ProcessEnv;
}

/** The environment az runs in: its private profile, no telemetry, the agent's CA and proxy (with NO_PROXY). */
function azureCliEnvironment(
  base: NodeJS.ProcessEnv,
  configDirectory: string,
  caFile: string | undefined,
  proxy: AgentProxy | undefined,
): { env: NodeJS.ProcessEnv; untranslated: string[] } {
  const env: NodeJS.ProcessEnv = {
    ...base,
    AZURE_CONFIG_DIR: configDirectory,
    AZURE_CORE_COLLECT_TELEMETRY: 'false',
    AZURE_CORE_ONLY_SHOW_ERRORS: 'true',
  };
  if (caFile) env.REQUESTS_CA_BUNDLE = caFile;
  if (!proxy) return { env, untranslated: [] };
  const { env: proxyEnv, untranslated } = proxyEnvironment(proxy);
  return { env: { ...env, ...proxyEnv }, untranslated };
}

/**
 * Runs az, failing with its last lines masked before they are cut (quoteUntrusted does both), so no token's
 * prefix survives the cut; the proxy password is masked as az would print it, percent-encoded in a URL.
 */
function azRunner(
  az: string,
  env: NodeJS.ProcessEnv,
  secrets: readonly string[],
  proxy?: AgentProxy,
  signal?: AbortSignal,
) {
  const masked = [...secrets];
  if (proxy?.proxyPassword) masked.push(proxy.proxyPassword, encodeURIComponent(proxy.proxyPassword));
  return async (what: string, args: string[], remedy?: string): Promise<void> => {
    let result: { code: number; stderr: string };
    try {
      result = await runAz(az, args, env, signal);
    } catch (error) {
      // Stopped on purpose (the renewer is ending): not a failure to report.
      if (signal?.aborted) throw error;
      // az could not be started at all: a broken install, or a path cmd.exe cannot run (windows-command.ts).
      throw new TaskFailure(
        `The Azure CLI could not ${what}: ${quoteUntrusted(describeError(error), 300, masked)}.${remedy ? ` ${remedy}` : ''}`,
      );
    }
    const { code, stderr } = result;
    if (code !== 0) {
      const said = quoteUntrusted(stderr.split(/\r?\n/).filter(Boolean).slice(-3).join(' '), 600, masked);
      throw new TaskFailure(
        `The Azure CLI could not ${what} (az exited with ${code}: ${said}).${remedy ? ` ${remedy}` : ''}`,
      );
    }
  };
}

/**
 * `az login` with the federated token read by az from the file: az expands `@<file>` to the file's content
 * (measured with azure-cli 2.45, REFERENCE §5), so argv, which /proc/<pid>/cmdline shows every local user, never
 * holds the token.
 */
function azLoginArgs(connection: AzureConnection, federatedTokenFile: string): string[] {
  return [
    'login',
    '--service-principal',
    '--username',
    connection.clientId,
    '--tenant',
    connection.tenantId,
    '--federated-token',
    `@${federatedTokenFile}`,
    '--allow-no-subscriptions',
    '--output',
    'none',
  ];
}

/**
 * Signs the Azure CLI in with the federated token, into a job-private AZURE_CONFIG_DIR (the agent's global
 * profile is untouched). Returns that directory, or undefined when az is not installed.
 */
export async function signInAzureCli(options: AzureCliSignIn): Promise<string | undefined> {
  const az = findOnPath('az', options.env);
  if (!az) {
    options.logger.warn(
      'azureCliLogin is on, but the Azure CLI (az) is not installed on this agent, so no later step is signed in to it. ' +
        'Install the Azure CLI on the agent, or turn azureCliLogin off.',
    );
    return undefined;
  }
  const { connection } = options;
  const configDirectory = path.join(options.workDirectory, 'azure-cli');
  fs.mkdirSync(configDirectory, { mode: 0o700 });
  const { env, untranslated } = azureCliEnvironment(
    options.env,
    configDirectory,
    options.caFile,
    options.proxy,
  );
  if (untranslated.length > 0) {
    options.logger.info(
      `The Azure CLI goes through the agent's proxy even for ${untranslated.join(', ')}: those bypass-list entries are expressions no NO_PROXY host name can express.`,
    );
  }
  const azRun = azRunner(az, env, options.secrets ?? [], options.proxy);
  const run = (what: string, args: string[], remedy = DEFAULT_REMEDY) => azRun(what, args, remedy);
  for (const { what, args } of cloudCommands(connection)) await run(what, args);
  await run(`sign in as ${connection.clientId}`, azLoginArgs(connection, options.federatedTokenFile));
  if (connection.subscriptionId) {
    await run(
      `select the subscription ${connection.subscriptionId}`,
      ['account', 'set', '--subscription', connection.subscriptionId],
      `The identity ${connection.clientId} signed in but cannot see that subscription: give it a role on the subscription (for example Reader), or fix the connection's subscription.`,
    );
  }
  options.logger.info(
    `Signed the Azure CLI in as ${connection.clientId}; later steps use AZURE_CONFIG_DIR=${configDirectory}.`,
  );
  return configDirectory;
}

// ---------------------------------------------------------------------------------------------------------
// Signing in again for the job-wide renewer (issue #14): same profile, same flags, the token read from the
// federated token file by az itself (`@<file>`, REFERENCE §5), so no token is ever on a command line.

export interface AzureCliRenewal {
  az: string;
  configDirectory: string;
  connection: AzureConnection;
  /** The federated token file the renewer keeps fresh. */
  tokenFile: string;
  caFile?: string;
  /** The agent proxy, with its password (held in the renewer's memory only). */
  proxy?: AgentProxy;
  /** The renewer's own minimal environment (PATH, HOME…), never the step's. */
  baseEnv: NodeJS.ProcessEnv;
  /** Ends a running az when the renewer is stopped. */
  signal?: AbortSignal;
}

/** Signs the job-private Azure CLI profile in again with the token now in the file: same profile, same flags. */
export async function signInAzureCliAgain(options: AzureCliRenewal): Promise<void> {
  const { connection } = options;
  const { env } = azureCliEnvironment(
    options.baseEnv,
    options.configDirectory,
    options.caFile,
    options.proxy,
  );
  const run = azRunner(options.az, env, [], options.proxy, options.signal);
  await run(`sign in again as ${connection.clientId}`, azLoginArgs(connection, options.tokenFile));
  // A new sign-in picks its own default subscription: select the connection's again.
  if (connection.subscriptionId) {
    await run(`select the subscription ${connection.subscriptionId} again`, [
      'account',
      'set',
      '--subscription',
      connection.subscriptionId,
    ]);
  }
}
