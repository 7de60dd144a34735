import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { summarize, type RenewerState } from '../core/renewal';
import { ENTRY_SCRIPT } from '../entry';

/**
 * Starting, stopping and reading the job-wide renewer (src/renewer/process.ts) from the task, the post-job step and
 * `azure-wif-token status`. No task-lib here: the command and the renewer load it too.
 */

/** The bundle's mode for the renewer (src/main.ts dispatches on it). */
export const RENEW_MODE = 'renew';

export interface RenewerFiles {
  log: string;
  state: string;
  pid: string;
}

/** The renewer's files, in the task's private work directory (0700), each 0600. */
export function renewerFiles(workDirectory: string): RenewerFiles {
  return {
    log: path.join(workDirectory, 'renewer.log'),
    state: path.join(workDirectory, 'renewer.state.json'),
    pid: path.join(workDirectory, 'renewer.pid'),
  };
}

/** What the renewer needs that may not go on its command line or in its environment, sent over stdin. */
export interface RenewerSecrets {
  jobAccessToken: string;
  proxyPassword?: string;
}

/** Reads what the task wrote to the renewer's stdin; the message never quotes it. */
export function parseRenewerSecrets(json: string): RenewerSecrets {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error('stdin is not JSON');
  }
  const record = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  const { jobAccessToken, proxyPassword } = record;
  if (typeof jobAccessToken !== 'string' || jobAccessToken === '') throw new Error('no job access token');
  if (proxyPassword !== undefined && typeof proxyPassword !== 'string')
    throw new Error('the proxy password is not a string');
  return { jobAccessToken, proxyPassword };
}

export interface RenewerLaunch {
  workDirectory: string;
  /** The azure-wif-token config (token-command.json): connection, endpoint, token file, network settings. */
  configFile: string;
  /** The job-private AZURE_CONFIG_DIR, when the task signed the Azure CLI in. */
  azureConfigDirectory?: string;
  secrets: RenewerSecrets;
}

/** Variables the renewer and the az it runs may need; everything else (the step's inputs, endpoints) stays out. */
const PASSED_VARIABLES = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'TMPDIR',
  // Windows
  'SYSTEMROOT',
  'WINDIR',
  'TEMP',
  'TMP',
  'USERPROFILE',
  'APPDATA',
  'LOCALAPPDATA',
  'PATHEXT',
  'COMSPEC',
  // The machine's own proxy and CA settings, which az honours
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'REQUESTS_CA_BUNDLE',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'NODE_EXTRA_CA_CERTS',
  // The agent ends every process carrying the job's lookup id when the job ends (orphan cleanup in
  // microsoft/azure-pipelines-agent src/Agent.Worker/JobExtension.cs): a backstop should the post-job step not run.
  'VSTS_PROCESS_LOOKUP_ID',
];

/**
 * The renewer's environment: a short allow-list, not process.env. task-lib moves ENDPOINT_AUTH_* into its
 * vault, but the step's env may still carry SYSTEM_ACCESSTOKEN, INPUT_* or secrets a pipeline mapped in;
 * any value holding a secret is dropped as well.
 */
export function renewerEnvironment(env: NodeJS.ProcessEnv, secrets: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name of PASSED_VARIABLES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (secrets.some((secret) => secret !== '' && value.includes(secret))) continue;
    result[name] = value;
  }
  return result;
}

/**
 * Starts the renewer as a process of its own that no step waits on. The agent waits for a step's process
 * and, 5 s after it exits, ends it if its stdout/stderr are still held open (microsoft/azure-pipelines-agent
 * src/Agent.Sdk/ProcessInvoker.cs, ProcessExitedHandler); it does not end other descendants until the job
 * ends (src/Agent.Worker/JobExtension.cs). So: detached (own process group, no console on Windows),
 * stdout/stderr not the step's, stdin a pipe that carries the secrets and is closed at once, unref'd. Node
 * makes the handles it inherited (the step's pipes) non-inheritable at start-up (nodejs/node src/node.cc,
 * uv_disable_stdio_inheritance), so on Windows too the renewer holds none of them. Returns its pid.
 */
export function startRenewer(launch: RenewerLaunch, script = ENTRY_SCRIPT): number | undefined {
  const args = [script, RENEW_MODE, '--config', launch.configFile, '--dir', launch.workDirectory];
  if (launch.azureConfigDirectory) args.push('--azure-config-dir', launch.azureConfigDirectory);
  // The agent's worker (this step's parent): when it is gone, the job is over.
  if (process.ppid > 1) args.push('--parent-pid', String(process.ppid));
  const secrets = [launch.secrets.jobAccessToken, launch.secrets.proxyPassword ?? ''];
  const child = spawn(process.execPath, args, {
    detached: true,
    windowsHide: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: renewerEnvironment(process.env, secrets),
    // Not the step's working directory, which the renewer would otherwise hold (and lock on Windows).
    cwd: path.dirname(launch.workDirectory),
  });
  child.on('error', () => {});
  child.stdin?.on('error', () => {});
  child.stdin?.end(JSON.stringify(launch.secrets));
  child.unref();
  // Recorded now, not only by the renewer once Node has started it: a post-job step that runs sooner (a short
  // job on a loaded agent) must still find and stop it.
  if (child.pid) fs.writeFileSync(renewerFiles(launch.workDirectory).pid, `${child.pid}\n`, { mode: 0o600 });
  return child.pid;
}

export function readPid(workDirectory: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(renewerFiles(workDirectory).pid, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function readState(workDirectory: string): RenewerState | undefined {
  try {
    const state = JSON.parse(fs.readFileSync(renewerFiles(workDirectory).state, 'utf8')) as RenewerState;
    return state.version === 1 ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live process (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Whether `pid` is still this work directory's renewer, not another process that reused the number. On
 * Linux its command line says so; elsewhere the state file must not record an exit.
 */
function isOurRenewer(pid: number, workDirectory: string): boolean {
  if (!isAlive(pid)) return false;
  if (process.platform === 'linux') {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv.includes(RENEW_MODE) && argv.includes(workDirectory);
    } catch {
      return false;
    }
  }
  return readState(workDirectory)?.exit === undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Post-job: ends the work directory's renewer (SIGTERM, up to `graceMs`, then SIGKILL; on Windows
 * process.kill terminates at once) and says what it did. Undefined when no renewer ever ran there.
 */
export async function stopRenewer(workDirectory: string, graceMs = 2000): Promise<string | undefined> {
  const pid = readPid(workDirectory);
  const before = readState(workDirectory);
  if (pid === undefined && before === undefined) return undefined;
  let action: string;
  if (pid !== undefined && isOurRenewer(pid, workDirectory)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone meanwhile
    }
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(25);
    if (isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      action = `Killed the token renewer (pid ${pid}), which did not stop within ${graceMs / 1000} s`;
    } else {
      action = `Stopped the token renewer (pid ${pid})`;
    }
  } else {
    const exit = before?.exit;
    action = exit
      ? `The token renewer had stopped on its own at ${exit.at}: ${exit.message}`
      : 'The token renewer was no longer running';
  }
  const state = readState(workDirectory);
  return state ? `${action}. It made ${summarize(state)}.` : `${action}.`;
}

/** `azure-wif-token status`: whether the renewer runs, what it did, and its log. */
export function renewerStatus(workDirectory: string): { running: boolean; text: string } {
  const pid = readPid(workDirectory);
  const state = readState(workDirectory);
  const running = pid !== undefined && state?.exit === undefined && isAlive(pid);
  let headline: string;
  if (running) {
    headline = `The token renewer is running (pid ${pid}) since ${state?.startedAt ?? 'the task step'}`;
    if (state?.nextRenewalAt) headline += `; next renewal ${state.nextRenewalAt}`;
  } else if (state?.exit) {
    headline = `The token renewer is not running: it stopped at ${state.exit.at}: ${state.exit.message}`;
  } else if (state) {
    headline = 'The token renewer is not running: it ended without saying why (it was killed).';
  } else {
    headline =
      'The token renewer is not running: it was not started (the task input renewTokens is false) or could not start.';
  }
  if (!headline.endsWith('.')) headline += '.';
  const lines = [state ? `${headline}\nIt made ${summarize(state)}.` : headline];
  try {
    const log = fs.readFileSync(renewerFiles(workDirectory).log, 'utf8');
    lines.push(`Its log (${renewerFiles(workDirectory).log}):`, log.trimEnd());
  } catch {
    // no log yet
  }
  return { running, text: `${lines.join('\n')}\n` };
}
