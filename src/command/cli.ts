import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMAND_NAME, configuredServices, readTokenCommandConfig, type TokenCommandConfig } from './config';
import { describeError, failureMessage, TaskFailure, UsageError } from '../core/errors';
import type { IdToken } from '../core/idtoken';
import type { Logger } from '../core/logger';
import { withRetry } from '../core/retry';
import type { ServiceDependencies } from '../core/services';
import { TokenSource } from '../core/token-source';
import { quoteUntrusted } from '../core/text';
import { writeSecretFileAtomic } from '../core/tokenfile';
import { assertJobTokenDestination } from '../core/job-token-origin';
import { resolveWindowsCommand, windowsInvocation, type Invocation } from '../core/windows-command';
import { vaultLogin, type VaultTarget } from '../core/vault';
import { lifetimeSeconds, MIN_DELAY_MS } from '../core/renewal';
import { renewerStatus } from '../renewer/control';

/**
 * azure-wif-token: fresh tokens for a later step, on demand, without the task running again.
 *   azure-wif-token [id-token]             print a fresh idToken (and renew the federated token file)
 *   azure-wif-token access-token [--resource <uri>]   print an Entra access token (default: Resource Manager)
 *   azure-wif-token renew-file             renew the federated token file only
 *   azure-wif-token exec -- <command…>     run a command, renewing the token file while it runs
 *   azure-wif-token vault-login            log in to the task's Vault with a fresh idToken, print the Vault token
 *   azure-wif-token status                 whether the job-wide renewer runs, what it did, and its log
 * All but status need the job access token in SYSTEM_ACCESSTOKEN, which a step has only when its author maps it.
 */

export const USAGE = `usage: ${COMMAND_NAME} [id-token | access-token [--resource <uri>] | renew-file | vault-login | exec -- <command> [args…] | status]`;

/** The logging command that registers a secret, escaped as task-lib escapes command data (% first). */
export function setSecretCommand(secret: string): string {
  return `##vso[task.setsecret]${secret.replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}`;
}

/**
 * Where secret registrations and progress go. The agent reads logging commands on a Node task's stderr too
 * (azure-pipelines-agent src/Agent.Worker/Handlers/NodeHandler.cs, OnDataReceived for both streams), and in a
 * script step everything the script writes reaches it; stderr keeps them out of `$(azure-wif-token)`'s capture.
 * Actions whose stdout nobody captures (renew-file, exec) use stdout instead, so a step with
 * `failOnStderr: true`, which fails on any stderr line, can use them.
 */
let logStream: NodeJS.WritableStream = process.stderr;

/** Every secret this run registered, masked again in its own output and failure message. */
const registeredSecrets: string[] = [];

function registerSecret(secret: string): void {
  registeredSecrets.push(secret);
  logStream.write(`${setSecretCommand(secret)}\n`);
}

const stderrLogger: Logger = {
  info: (message) => logStream.write(`${quoteUntrusted(message, 4000, registeredSecrets)}\n`),
  warn: (message) => logStream.write(`##[warning]${quoteUntrusted(message, 4000, registeredSecrets)}\n`),
  debug: () => {},
};

const ACTIONS = ['id-token', 'access-token', 'renew-file', 'exec', 'vault-login', 'status'] as const;

interface Parsed {
  action: (typeof ACTIONS)[number];
  configFile: string;
  resource?: string;
  command: string[];
}

export function parseArguments(args: string[]): Parsed {
  const rest = [...args];
  let configFile: string | undefined;
  let resource: string | undefined;
  let action: Parsed['action'] | undefined;
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (arg === '--config') configFile = rest.shift();
    else if (arg === '--resource') resource = rest.shift();
    else if (arg === '--') break;
    else if (!action && ACTIONS.some((known) => known === arg)) action = arg as Parsed['action'];
    else throw new UsageError(`${COMMAND_NAME}: unknown argument '${quoteUntrusted(arg, 80)}'. ${USAGE}`);
  }
  if (!configFile)
    throw new UsageError(
      `${COMMAND_NAME}: --config is missing; run it through the launcher the task put on PATH.`,
    );
  // The Windows launcher names it relative to itself (`%~dp0..\token-command.json`): resolved once, every
  // message and check sees the one canonical path.
  const parsed: Parsed = {
    action: action ?? 'id-token',
    configFile: path.resolve(configFile),
    resource,
    command: rest,
  };
  if (parsed.action === 'exec' && parsed.command.length === 0) {
    throw new UsageError(`${COMMAND_NAME} exec: no command given. ${USAGE}`);
  }
  if (resource !== undefined && parsed.action !== 'access-token') {
    throw new UsageError(`${COMMAND_NAME}: --resource goes with access-token. ${USAGE}`);
  }
  return parsed;
}

/** The Vault the task logged in to; checked before anything else, as a usage mistake. */
function vaultTargetOf(config: TokenCommandConfig): VaultTarget {
  if (!config.vault) {
    throw new UsageError(
      `${COMMAND_NAME} vault-login: the task that installed this command has no Vault configured. Set its input vaultAddress (and vaultRole).`,
    );
  }
  return config.vault;
}

/** A new Vault token from a fresh idToken. */
async function newVaultToken(
  source: TokenSource,
  services: ServiceDependencies,
  target: VaultTarget,
): Promise<string> {
  const { token, claims } = await source.idToken();
  const login = await withRetry(
    'Logging in to Vault',
    () => vaultLogin(target, token, claims, { transport: services.transport, registerSecret }),
    services.retryPolicy,
    services.logger,
  );
  return login.token;
}

/** How `exec` starts `command`: never through a shell; on Windows a batch file goes the quoted cmd.exe route. */
function execInvocation(command: string[]): Invocation {
  if (process.platform !== 'win32') {
    return { file: command[0], args: command.slice(1), windowsVerbatimArguments: false };
  }
  try {
    return windowsInvocation(
      resolveWindowsCommand(command[0], process.env, (file) => fs.existsSync(file)),
      command.slice(1),
      process.env.ComSpec ?? 'cmd.exe',
    );
  } catch (error) {
    throw new UsageError(
      `${COMMAND_NAME} exec: cannot start '${quoteUntrusted(command[0], 200)}': ${quoteUntrusted(describeError(error), 300)}. ` +
        'Pass a multi-line value in a file or an environment variable, and run a batch file from a path without % or ".',
    );
  }
}

/** Runs `command`, renewing the token file at 40% of each idToken's life so a reader always gets 60% of one. */
async function execWithRenewal(
  source: TokenSource,
  first: IdToken,
  command: string[],
  invocation: Invocation,
): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const schedule = (token: IdToken) => {
    const lifetimeMs = lifetimeSeconds(token.claims) * 1000;
    timer = setTimeout(
      async () => {
        try {
          schedule(await source.idToken());
        } catch (error) {
          stderrLogger.warn(`Could not renew the federated token file: ${describeError(error)}`);
          schedule(token);
        }
      },
      Math.max(MIN_DELAY_MS, lifetimeMs * 0.4),
    );
  };
  schedule(first);
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(invocation.file, invocation.args, {
        stdio: 'inherit',
        windowsVerbatimArguments: invocation.windowsVerbatimArguments,
      });
      child.on('error', (error) =>
        reject(
          new TaskFailure(
            `${COMMAND_NAME} exec: cannot start '${quoteUntrusted(command[0], 200)}': ${error.message}.`,
          ),
        ),
      );
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  } finally {
    clearTimeout(timer);
  }
}

export async function runCommand(args: string[]): Promise<number> {
  try {
    const parsed = parseArguments(args);
    logStream = parsed.action === 'renew-file' || parsed.action === 'exec' ? process.stdout : process.stderr;
    const config = readTokenCommandConfig(parsed.configFile);
    if (parsed.action === 'status') {
      // Needs no job access token: it reads the renewer's record beside the config.
      const { running, text } = renewerStatus(path.dirname(parsed.configFile));
      process.stdout.write(text);
      return running ? 0 : 1;
    }
    assertJobTokenDestination(config.oidcEndpoint.baseUrl, process.env.SYSTEM_COLLECTIONURI);
    if (parsed.action === 'vault-login') vaultTargetOf(config);
    // Refused before any request, as every other usage mistake is.
    const invocation = parsed.action === 'exec' ? execInvocation(parsed.command) : undefined;
    const jobAccessToken = process.env.SYSTEM_ACCESSTOKEN;
    if (!jobAccessToken) {
      throw new TaskFailure(
        `${COMMAND_NAME} needs the job access token to ask Azure DevOps for a fresh idToken, and this step does not have it. ` +
          'Map it into the step: env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)',
      );
    }
    registerSecret(jobAccessToken);
    if (process.env.AGENT_PROXYPASSWORD) registerSecret(process.env.AGENT_PROXYPASSWORD);
    const services = configuredServices(config, {
      userAgent: `${COMMAND_NAME} (node ${process.version}; ${process.platform})`,
      proxyPassword: process.env.AGENT_PROXYPASSWORD,
      logger: stderrLogger,
      registerSecret,
    });
    const source = new TokenSource(
      {
        connection: config.connection,
        endpoint: config.oidcEndpoint,
        jobAccessToken,
        idTokenActivity: 'Requesting a fresh idToken from Azure DevOps',
        // Every idToken the command gets renews the federated token file too.
        onIdToken: (idToken) => writeSecretFileAtomic(config.federatedTokenFile, idToken.token),
      },
      services,
    );
    switch (parsed.action) {
      case 'id-token': {
        const { token } = await source.idToken();
        process.stdout.write(`${token}\n`);
        return 0;
      }
      case 'access-token': {
        const { token } = await source.accessToken(
          parsed.resource ?? config.connection.cloud.resourceManager,
        );
        process.stdout.write(`${token}\n`);
        return 0;
      }
      case 'renew-file': {
        const { claims } = await source.idToken();
        stderrLogger.info(
          `Renewed ${config.federatedTokenFile}; the idToken in it expires ${new Date(claims.exp * 1000).toISOString()}.`,
        );
        return 0;
      }
      case 'vault-login':
        process.stdout.write(`${await newVaultToken(source, services, vaultTargetOf(config))}\n`);
        return 0;
      case 'exec':
        return await execWithRenewal(source, await source.idToken(), parsed.command, invocation!);
    }
  } catch (error) {
    const message = failureMessage(
      error,
      (detail) =>
        `${COMMAND_NAME} failed unexpectedly: ${detail}. ` +
        "Report this message to the task's issue tracker.",
      registeredSecrets,
    );
    process.stderr.write(`##[error]${message}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
