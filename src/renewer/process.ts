import * as fs from 'node:fs';
import { findOnPath, signInAzureCliAgain } from '../core/azure-cli';
import {
  configuredProxy,
  configuredServices,
  parseTokenCommandConfig,
  type TokenCommandConfig,
} from '../command/config';
import { decodeIdTokenClaims } from '../core/jwt';
import type { Logger } from '../core/logger';
import { Renewer, type HeldToken, type RenewerState } from '../core/renewal';
import { TokenSource } from '../core/token-source';
import { writeSecretFileAtomic } from '../core/tokenfile';
import { renewerFiles, isAlive, parseRenewerSecrets, type RenewerSecrets } from './control';
import { describeError } from '../core/errors';

/**
 * The job-wide renewer process (`node main.js renew …`), started detached by the task: it keeps the
 * federated token file fresh, and the job-private Azure CLI profile signed in, until the job ends. Thin glue
 * around src/core/renewal.ts. The job access token arrives on stdin and lives only in this process's memory.
 */

interface RenewerArguments {
  configFile: string;
  workDirectory: string;
  azureConfigDirectory?: string;
  parentPid?: number;
}

function parse(args: string[]): RenewerArguments | undefined {
  const values: Record<string, string> = {};
  for (let i = 0; i + 1 < args.length; i += 2) values[args[i]] = args[i + 1];
  const parentPid = Number(values['--parent-pid']);
  if (!values['--config'] || !values['--dir']) return undefined;
  return {
    configFile: values['--config'],
    workDirectory: values['--dir'],
    azureConfigDirectory: values['--azure-config-dir'],
    parentPid: Number.isInteger(parentPid) && parentPid > 1 ? parentPid : undefined,
  };
}

function readStdin(): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', () => resolve(''));
  });
}

/** renewer.log moves to renewer.log.1 past this size (48 h of renewals every 3 minutes is ~150 KB). */
const MAX_LOG_BYTES = 1024 * 1024;

/** How often the renewer checks that its job still exists (agent worker alive, work directory present). */
const WATCH_INTERVAL_MS = 1000;

export async function runRenewer(args: string[]): Promise<number> {
  const parsed = parse(args);
  if (!parsed) return 2;
  const files = renewerFiles(parsed.workDirectory);
  const log = (message: string) => {
    try {
      // Bounded: a long job under a flaky network must not fill the agent's disk.
      if (fs.existsSync(files.log) && fs.statSync(files.log).size > MAX_LOG_BYTES) {
        fs.renameSync(files.log, `${files.log}.1`);
      }
      fs.appendFileSync(files.log, `${new Date().toISOString()} ${message}\n`, { mode: 0o600 });
    } catch {
      // the work directory is gone: the watchdog ends the process
    }
  };
  let secrets: RenewerSecrets;
  let config: TokenCommandConfig;
  try {
    secrets = parseRenewerSecrets(await readStdin());
    config = parseTokenCommandConfig(fs.readFileSync(parsed.configFile, 'utf8'), parsed.configFile);
  } catch (error) {
    log(
      `Not started: the task did not hand over the job access token or the configuration (${describeError(error)}).`,
    );
    return 1;
  }
  fs.writeFileSync(files.pid, `${process.pid}\n`, { mode: 0o600 });

  const logger: Logger = { info: log, warn: log, debug: () => {} };
  const proxy = configuredProxy(config, secrets.proxyPassword);
  const source = new TokenSource(
    {
      connection: config.connection,
      endpoint: config.oidcEndpoint,
      jobAccessToken: secrets.jobAccessToken,
      idTokenActivity: 'Renewing the token file',
    },
    configuredServices(config, {
      userAgent: `AzureWorkloadIdentityRenewer (node ${process.version}; ${process.platform})`,
      proxyPassword: secrets.proxyPassword,
      logger,
      // Nothing reads this process's output, so there is no masker to register with: it never prints a token.
      registerSecret: () => {},
    }),
  );
  const tokenFile = config.federatedTokenFile;
  const readCurrent = (): HeldToken | undefined => {
    try {
      const claims = decodeIdTokenClaims(fs.readFileSync(tokenFile, 'utf8').trim());
      // When it was written, on this machine's clock: the renewal schedule is measured from it.
      return { claims, receivedAtMs: fs.statSync(tokenFile).mtimeMs };
    } catch {
      return undefined;
    }
  };

  const abort = new AbortController();
  const az = parsed.azureConfigDirectory ? findOnPath('az', process.env) : undefined;
  const signInAzureCli =
    az && parsed.azureConfigDirectory
      ? () =>
          signInAzureCliAgain({
            az,
            configDirectory: parsed.azureConfigDirectory!,
            connection: config.connection,
            tokenFile,
            caFile: config.caFile,
            proxy,
            baseEnv: process.env,
            signal: abort.signal,
          })
      : undefined;

  const startedAtMs = Date.now();
  const renewer = new Renewer(
    {
      fetchIdToken: () => source.idToken(),
      readCurrent,
      write: (token) => writeSecretFileAtomic(tokenFile, token.token),
      signInAzureCli,
      log,
      saveState: (state: RenewerState) => writeStateAtomic(files.state, state),
    },
    {
      pid: process.pid,
      startedAtMs,
      // The task signed az in with the token it wrote to the file just before starting this process.
      azureCliToken: signInAzureCli ? readCurrent() : undefined,
    },
  );

  const end = (reason: 'stopped' | 'job-ended', message: string) => {
    renewer.stop(reason, message);
    abort.abort();
    finish();
    process.exit(0);
  };
  const finish = () => {
    clearInterval(watch);
    try {
      fs.rmSync(files.pid, { force: true });
    } catch {
      // already gone with the directory
    }
  };
  const watch = setInterval(() => {
    if (parsed.parentPid !== undefined && !isAlive(parsed.parentPid)) {
      end(
        'job-ended',
        `the agent process that ran the task (pid ${parsed.parentPid}) has exited, so the job is over.`,
      );
    } else if (!fs.existsSync(parsed.workDirectory)) {
      end('job-ended', `its work directory ${parsed.workDirectory} is gone, so the job is over.`);
    }
  }, WATCH_INTERVAL_MS);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => end('stopped', `it received ${signal} (the post-job step stops it).`));
  }

  try {
    const exit = await renewer.run();
    return exit.reason === 'job-token-refused' || exit.reason === 'time-limit' ? 0 : 1;
  } catch (error) {
    renewer.stop('error', `it failed unexpectedly: ${describeError(error)}`);
    return 1;
  } finally {
    abort.abort();
    finish();
  }
}

function writeStateAtomic(file: string, state: RenewerState): void {
  const staging = `${file}.tmp`;
  fs.writeFileSync(staging, JSON.stringify(state, null, 2), { mode: 0o600 });
  fs.renameSync(staging, file);
}
