import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../../tools/repo-root';

export { REPO_ROOT };

/** Plays the Azure Pipelines agent's part: env vars in, `##vso` logging commands out. */

export const MAIN_SCRIPT = path.join(REPO_ROOT, 'dist', 'main.js');
export const POST_SCRIPT = path.join(REPO_ROOT, 'dist', 'post.js');

export interface LoggingCommand {
  area: string;
  event: string;
  properties: Record<string, string>;
  data: string;
  line: string;
}

export interface SetVariable {
  name: string;
  value: string;
  secret: boolean;
  output: boolean;
  /** The `preservecase` property: the env name keeps the variable's case. */
  preserveCase: boolean;
}

export interface StepResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  commands: LoggingCommand[];
  variables: SetVariable[];
  secrets: string[];
  taskVariables: Record<string, string>;
  result?: { result: string; message: string };
  errors: string[];
  warnings: string[];
  prependedPaths: string[];
  /** Lines that are not logging commands: what the author reads in the log. */
  plainLines: string[];
  durationMs: number;
  /**
   * The step's reference name (its YAML `name:`; the server names an unnamed step after its task, e.g.
   * `CmdLine`: azure-pipelines-agent src/Test/L1/Worker/L1TestBase.cs job message). Output variables are set
   * under it.
   */
  refName?: string;
  /** The outputVariables its task.json declares: the agent treats these names as outputs. */
  declaredOutputs?: string[];
}

function unescapeProperty(value: string): string {
  return value
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%5D/g, ']')
    .replace(/%3B/g, ';')
    .replace(/%AZP25/g, '%');
}

function unescapeData(value: string): string {
  return value
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%AZP25/g, '%');
}

/** Parses a line the way the agent does: the first `##vso[` anywhere in the line starts a command. */
export function parseCommand(line: string): LoggingCommand | undefined {
  const start = line.indexOf('##vso[');
  if (start < 0) return undefined;
  const rest = line.slice(start + '##vso['.length);
  const end = rest.indexOf(']');
  if (end < 0) return undefined;
  const [name, ...pairs] = rest.slice(0, end).split(' ');
  const properties: Record<string, string> = {};
  for (const pair of pairs.join(' ').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) properties[pair.slice(0, eq).trim().toLowerCase()] = unescapeProperty(pair.slice(eq + 1));
  }
  const dot = name.indexOf('.');
  return {
    area: name.slice(0, dot),
    event: name.slice(dot + 1),
    properties,
    data: unescapeData(rest.slice(end + 1)),
    line,
  };
}

export function interpret(
  stdout: string,
  stderr: string,
  exitCode: number | null,
  durationMs: number,
): StepResult {
  const result: StepResult = {
    exitCode,
    stdout,
    stderr,
    commands: [],
    variables: [],
    secrets: [],
    taskVariables: {},
    errors: [],
    warnings: [],
    prependedPaths: [],
    plainLines: [],
    durationMs,
  };
  for (const line of stdout.split(/\r?\n/)) {
    const command = parseCommand(line);
    if (!command) {
      if (line !== '') result.plainLines.push(line);
      continue;
    }
    result.commands.push(command);
    const key = `${command.area}.${command.event}`;
    const flag = (name: string) => (command.properties[name] ?? '').toLowerCase() === 'true';
    if (key === 'task.setvariable') {
      result.variables.push({
        name: command.properties.variable,
        value: command.data,
        secret: flag('issecret'),
        output: flag('isoutput'),
        preserveCase: flag('preservecase'),
      });
    } else if (key === 'task.setsecret') {
      result.secrets.push(command.data);
    } else if (key === 'task.settaskvariable') {
      result.taskVariables[command.properties.variable] = command.data;
    } else if (key === 'task.complete') {
      result.result = { result: command.properties.result, message: command.data };
    } else if (key === 'task.issue' || key === 'task.logissue') {
      (command.properties.type === 'warning' ? result.warnings : result.errors).push(command.data);
    } else if (key === 'task.prependpath') {
      result.prependedPaths.push(command.data);
    }
  }
  return result;
}

/** Runs an executable as a separate process with exactly `env`, and reads its output as the agent would. */
export function runExecutable(
  file: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<StepResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(
        interpret(
          Buffer.concat(out).toString('utf8'),
          Buffer.concat(err).toString('utf8'),
          code,
          Date.now() - started,
        ),
      );
    });
  });
}

/** Runs a script with this Node, as the agent runs a task's handler. */
export function runProcess(
  script: string,
  env: Record<string, string>,
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<StepResult> {
  return runExecutable(process.execPath, [script, ...args], env, timeoutMs);
}

/**
 * The variable's environment name in later steps: `.` and space become `_`, upper-cased unless the variable
 * was set with `preservecase` (azure-pipelines-agent src/Microsoft.VisualStudio.Services.Agent/Util/VarUtil.cs,
 * ConvertToEnvVariableFormat).
 */
export function environmentName(variable: string, preserveCase = false): string {
  const name = variable.replace(/[. ]/g, '_');
  return preserveCase ? name : name.toUpperCase();
}

/** A job variable as the agent keeps it after the steps so far. */
export interface JobVariable {
  name: string;
  value: string;
  secret: boolean;
  preserveCase: boolean;
}

/**
 * The job's variables after `steps`, by the agent's rules:
 * - a variable set with isoutput, or whose name the step's task.json declares in outputVariables (compared
 *   case-insensitively), is set only as `<refName>.<name>` (src/Agent.Worker/ExecutionContext.cs, SetVariable:
 *   `if (isOutput || OutputVariables.Contains(name))`; OutputVariables is OrdinalIgnoreCase);
 * - names are case-insensitive, a later set replaces an earlier one (src/Agent.Worker/Variables.cs);
 * - once secret, always secret (Variables.cs, Set: `secret = secret || _expanded[name].Secret`).
 * Keyed by lower-cased name.
 */
export function jobVariables(
  steps: StepResult[],
  agentVariables: JobVariable[] = [],
): Map<string, JobVariable> {
  const variables = new Map<string, JobVariable>(agentVariables.map((v) => [v.name.toLowerCase(), v]));
  for (const step of steps) {
    const declared = new Set((step.declaredOutputs ?? []).map((name) => name.toLowerCase()));
    for (const variable of step.variables) {
      const isOutput = variable.output || declared.has(variable.name.toLowerCase());
      if (isOutput && !step.refName) throw new Error(`output ${variable.name} set by a step without a name`);
      const name = isOutput ? `${step.refName}.${variable.name}` : variable.name;
      const key = name.toLowerCase();
      const secret = variable.secret || (variables.get(key)?.secret ?? false);
      variables.set(key, { name, value: variable.value, secret, preserveCase: variable.preserveCase });
    }
  }
  return variables;
}

/**
 * Expands `$(name)` macros as the agent does for a step's inputs and `env:` values: a known variable
 * (case-insensitively) gives its value, secrets included; an unknown one stays as written.
 */
export function expandMacros(text: string, variables: Map<string, JobVariable>): string {
  return text.replace(
    /\$\(([^()]+)\)/g,
    (macro, name: string) => variables.get(name.trim().toLowerCase())?.value ?? macro,
  );
}

/**
 * The environment the agent gives a later step: the job's base environment plus every plain variable set
 * so far (src/Agent.Worker/Handlers/Handler.cs, AddVariablesToEnvironment: public variables only; secrets
 * reach a task only as SECRET_*, which task-lib moves into its vault, and a script not at all), plus the step's
 * `env:` mapping (env name → value with `$(…)` macros), plus the job's prepended paths.
 */
export function nextStepEnvironment(
  base: Record<string, string>,
  steps: StepResult[],
  mapping: Record<string, string> = {},
  /** The agent's own secret variables a mapping may name, e.g. System.AccessToken (never in env unmapped). */
  agentSecrets: Record<string, string> = {},
): Record<string, string> {
  const env = { ...base };
  const seeded = Object.entries(agentSecrets).map(([name, value]) => ({
    name,
    value,
    secret: true,
    preserveCase: false,
  }));
  const variables = jobVariables(steps, seeded);
  for (const variable of variables.values()) {
    if (!variable.secret) env[environmentName(variable.name, variable.preserveCase)] = variable.value;
  }
  for (const [name, value] of Object.entries(mapping)) {
    // A bare variable name is shorthand for its macro, as the tests wrote mappings before macros were modelled.
    env[name] = expandMacros(/^[\w.]+$/.test(value) ? `$(${value})` : value, variables);
  }
  // task.prependpath: every later step, most recent first, never the step that issued it
  // (src/Agent.Worker/Handlers/Handler.cs, AddPrependPathToEnvironment; TaskCommandExtension.cs, TaskPrepandPathCommand).
  const prependList: string[] = [];
  for (const dir of steps.flatMap((step) => step.prependedPaths)) {
    const earlier = prependList.indexOf(dir);
    if (earlier >= 0) prependList.splice(earlier, 1);
    prependList.push(dir);
  }
  const prepended = prependList.reverse();
  if (prepended.length > 0) env.PATH = [...prepended, env.PATH].filter(Boolean).join(path.delimiter);
  return env;
}

/** Every secret the step registered or set, for leak scans. */
export function secretsOf(step: StepResult): string[] {
  return [...step.secrets, ...step.variables.filter((v) => v.secret).map((v) => v.value)];
}

/**
 * Where a secret appears in the step's output other than inside the commands that hand it to the agent
 * (`task.setsecret`, `task.setvariable … issecret=true`). Returns the offending lines.
 */
export function leaks(step: StepResult, secrets: string[]): string[] {
  const found: string[] = [];
  const candidates = secrets.filter((secret) => secret.length >= 8);
  for (const line of step.stdout.split(/\r?\n/)) {
    const command = parseCommand(line);
    const allowed =
      command &&
      line.startsWith('##vso[') &&
      ((command.area === 'task' && command.event === 'setsecret') ||
        (command.area === 'task' &&
          command.event === 'setvariable' &&
          command.properties.issecret === 'true'));
    if (allowed) continue;
    if (candidates.some((secret) => line.includes(secret))) found.push(line);
  }
  for (const line of step.stderr.split(/\r?\n/)) {
    // The agent reads logging commands on stderr too (azure-wif-token registers its tokens there).
    if (line.startsWith('##vso[task.setsecret]')) continue;
    if (candidates.some((secret) => line.includes(secret))) found.push(`stderr: ${line}`);
  }
  return found;
}

export function makeTempDirectory(prefix = 'azure-wif-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface AgentConnection {
  id: string;
  scheme?: string;
  url?: string;
  authParameters: Record<string, string>;
  data: Record<string, string>;
}

export interface AgentJob {
  connection: AgentConnection;
  /** Value of the connectedServiceNameARM input; defaults to the connection id. */
  input?: string;
  /** Other task inputs by name, as the YAML sets them (the agent passes them as INPUT_<NAME>). */
  inputs?: Record<string, string>;
  jobAccessToken?: string;
  oidcRequestUri?: string;
  collectionUri?: string;
  projectId?: string;
  hostType?: string;
  planId?: string;
  jobId?: string;
  tempDirectory: string;
  caFile?: string;
  debug?: boolean;
  extra?: Record<string, string>;
}

/** The env the agent builds for a task step with one AzureRM connection input. */
export function taskEnvironment(job: AgentJob): Record<string, string> {
  const { connection } = job;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.homedir(),
    AGENT_VERSION: '4.266.2',
    AGENT_TEMPDIRECTORY: job.tempDirectory,
    AGENT_WORKFOLDER: job.tempDirectory,
    SYSTEM_HOSTTYPE: job.hostType ?? 'build',
    INPUT_CONNECTEDSERVICENAMEARM: job.input ?? connection.id,
  };
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) env[name] = value;
  };
  for (const [name, value] of Object.entries(job.inputs ?? {})) env[`INPUT_${name.toUpperCase()}`] = value;
  set('SYSTEM_OIDCREQUESTURI', job.oidcRequestUri);
  set('SYSTEM_COLLECTIONURI', job.collectionUri);
  set('SYSTEM_TEAMPROJECTID', job.projectId);
  set('SYSTEM_PLANID', job.planId);
  set('SYSTEM_JOBID', job.jobId);
  set('AGENT_CAINFO', job.caFile);
  if (job.debug) env.SYSTEM_DEBUG = 'true';
  set('ENDPOINT_URL_' + connection.id, connection.url);
  if (connection.scheme !== undefined || Object.keys(connection.authParameters).length > 0) {
    env['ENDPOINT_AUTH_' + connection.id] = JSON.stringify({
      parameters: connection.authParameters,
      scheme: connection.scheme,
    });
  }
  set('ENDPOINT_AUTH_SCHEME_' + connection.id, connection.scheme);
  for (const [key, value] of Object.entries(connection.authParameters)) {
    env[`ENDPOINT_AUTH_PARAMETER_${connection.id}_${key.toUpperCase()}`] = value;
  }
  for (const [key, value] of Object.entries(connection.data)) {
    env[`ENDPOINT_DATA_${connection.id}_${key.toUpperCase()}`] = value;
  }
  if (job.jobAccessToken !== undefined) {
    env.ENDPOINT_AUTH_SYSTEMVSSCONNECTION = JSON.stringify({
      parameters: { AccessToken: job.jobAccessToken },
      scheme: 'OAuth',
    });
    env.ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION = 'OAuth';
    env.ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN = job.jobAccessToken;
    env.ENDPOINT_URL_SYSTEMVSSCONNECTION = job.collectionUri ?? 'https://dev.azure.com/org/';
  }
  return { ...env, ...job.extra };
}

/**
 * The env the agent gives the post-job step: the same task instance's task variables, public and secret, come
 * back as VSTS_TASKVARIABLE_<NAME> (src/Agent.Worker/Handlers/Handler.cs, AddTaskVariablesToEnvironment; one
 * Variables object per task instance shared by its pre, main and post steps: src/Agent.Worker/JobExtension.cs).
 */
export function postJobEnvironment(job: AgentJob, main: StepResult): Record<string, string> {
  const env = taskEnvironment(job);
  for (const [name, value] of Object.entries(main.taskVariables)) {
    env[`VSTS_TASKVARIABLE_${environmentName(name)}`] = value;
  }
  return env;
}
