import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AzureConnection } from './core/connection';
import { TaskFailure } from './core/errors';
import type { Logger } from './core/logger';
import { quoteUntrusted } from './core/text';

/** Clouds the Azure CLI knows by name, when the connection uses their standard authority. */
const AZ_CLOUDS: Record<string, string> = {
  'https://login.microsoftonline.com/': 'AzureCloud',
  'https://login.chinacloudapi.cn/': 'AzureChinaCloud',
  'https://login.microsoftonline.us/': 'AzureUSGovernment',
};
const CUSTOM_CLOUD = 'AzureWorkloadIdentity';
const DEFAULT_REMEDY =
  'Check that the agent has a working Azure CLI (az version), or turn azureCliLogin off and sign in in a script step.';

export function findOnPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const names = process.platform === 'win32' ? [`${command}.cmd`, `${command}.exe`] : [command];
  for (const directory of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of names) {
      const candidate = path.join(directory, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

function runAz(
  az: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(az, args, {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      shell: process.platform === 'win32',
      signal,
    });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stderr: Buffer.concat(stderr).toString('utf8') }));
  });
}

export interface AzureCliSignIn {
  connection: AzureConnection;
  idToken: string;
  workDirectory: string;
  /** CA bundle (system roots plus the agent's CA) for az's Python TLS stack. */
  caFile?: string;
  /** The agent proxy as a URL (with credentials), for az's own requests only. */
  proxyUrl?: string;
  logger: Logger;
}

/**
 * Signs the Azure CLI in with the federated token, into a job-private AZURE_CONFIG_DIR (the agent's global
 * profile is untouched). Returns that directory, or undefined when az is not installed.
 */
export async function signInAzureCli(options: AzureCliSignIn): Promise<string | undefined> {
  const az = findOnPath('az');
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
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AZURE_CONFIG_DIR: configDirectory,
    AZURE_CORE_COLLECT_TELEMETRY: 'false',
    AZURE_CORE_ONLY_SHOW_ERRORS: 'true',
  };
  if (options.caFile) env.REQUESTS_CA_BUNDLE = options.caFile;
  if (options.proxyUrl) env.HTTPS_PROXY = options.proxyUrl;
  const run = async (what: string, args: string[], remedy = DEFAULT_REMEDY) => {
    const { code, stderr } = await runAz(az, args, env);
    if (code !== 0) {
      const said = quoteUntrusted(stderr.split(/\r?\n/).filter(Boolean).slice(-3).join(' '), 600);
      throw new TaskFailure(`The Azure CLI could not ${what} (az exited with ${code}: ${said}). ${remedy}`);
    }
  };
  const knownCloud = AZ_CLOUDS[connection.cloud.authorityHost];
  if (knownCloud) {
    await run(`select the cloud ${knownCloud}`, ['cloud', 'set', '--name', knownCloud]);
  } else {
    await run("register the connection's cloud", [
      'cloud',
      'register',
      '--name',
      CUSTOM_CLOUD,
      '--endpoint-active-directory',
      connection.cloud.authorityHost.replace(/\/+$/, ''),
      '--endpoint-resource-manager',
      (connection.resourceManagerUrl ?? connection.cloud.resourceManager).replace(/\/+$/, ''),
      '--endpoint-active-directory-resource-id',
      `${connection.cloud.resourceManager}/`,
      '--endpoint-management',
      `${connection.cloud.resourceManager}/`,
      // Named so az does not go looking for the cloud's metadata to fill it in.
      '--endpoint-active-directory-graph-resource-id',
      'https://graph.windows.net/',
    ]);
    await run("select the connection's cloud", ['cloud', 'set', '--name', CUSTOM_CLOUD]);
  }
  await run(`sign in as ${connection.clientId}`, [
    'login',
    '--service-principal',
    '--username',
    connection.clientId,
    '--tenant',
    connection.tenantId,
    '--federated-token',
    options.idToken,
    '--allow-no-subscriptions',
    '--output',
    'none',
  ]);
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
  proxyUrl?: string;
  /** The renewer's own minimal environment (PATH, HOME…), never the step's. */
  baseEnv: NodeJS.ProcessEnv;
  /** Ends a running az when the renewer is stopped. */
  signal?: AbortSignal;
}

/** Signs the job-private Azure CLI profile in again with the token now in the file. */
export async function signInAzureCliAgain(options: AzureCliRenewal): Promise<void> {
  const { connection } = options;
  const env: NodeJS.ProcessEnv = {
    ...options.baseEnv,
    AZURE_CONFIG_DIR: options.configDirectory,
    AZURE_CORE_COLLECT_TELEMETRY: 'false',
    AZURE_CORE_ONLY_SHOW_ERRORS: 'true',
  };
  if (options.caFile) env.REQUESTS_CA_BUNDLE = options.caFile;
  if (options.proxyUrl) env.HTTPS_PROXY = options.proxyUrl;
  const run = async (what: string, args: string[]) => {
    const { code, stderr } = await runAz(options.az, args, env, options.signal);
    if (code !== 0) {
      const said = quoteUntrusted(stderr.split(/\r?\n/).filter(Boolean).slice(-3).join(' '), 600);
      throw new TaskFailure(`The Azure CLI could not ${what} (az exited with ${code}: ${said}).`);
    }
  };
  await run(`sign in again as ${connection.clientId}`, [
    'login',
    '--service-principal',
    '--username',
    connection.clientId,
    '--tenant',
    connection.tenantId,
    '--federated-token',
    `@${options.tokenFile}`,
    '--allow-no-subscriptions',
    '--output',
    'none',
  ]);
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
