import * as fs from 'node:fs';
import * as path from 'node:path';
import { findOnPath as findCommandOnPath } from '../../src/core/azure-cli';
import {
  DEFAULTS,
  Emulator,
  type EmulatorConnection,
  type EmulatorOptions,
  type EndpointKind,
} from '../emulator';
import {
  MAIN_SCRIPT,
  POST_SCRIPT,
  REPO_ROOT,
  leaks,
  makeTempDirectory,
  nextStepEnvironment,
  postJobEnvironment,
  runExecutable,
  runProcess,
  secretsOf,
  taskEnvironment,
  type AgentConnection,
  type AgentJob,
  type StepResult,
} from './agent';

export const NEXT_STEP_SCRIPT = path.join(REPO_ROOT, 'build', 'tests', 'harness', 'next-step.js');
export const SUBSCRIPTION_ID = 'a1b2c3d4-0000-4000-8000-00000000cafe';
/** The reference name the server gives an unnamed step of this task: the task's name. */
export const DEFAULT_STEP_NAME = 'AzureWorkloadIdentity';
const DECLARED_OUTPUTS = (
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'task.json'), 'utf8')) as {
    outputVariables: Array<{ name: string }>;
  }
).outputVariables.map((output) => output.name);

/** The AzureRM connection as the agent describes it, pointing its Entra authority at the emulator. */
export function agentConnection(emulator: Emulator, connection: EmulatorConnection): AgentConnection {
  return {
    id: connection.id,
    scheme: 'WorkloadIdentityFederation',
    url: 'https://management.azure.com/',
    authParameters: { serviceprincipalid: connection.clientId, tenantid: connection.tenantId },
    data: {
      environment: 'AzureCloud',
      scopeLevel: 'Subscription',
      subscriptionId: SUBSCRIPTION_ID,
      subscriptionName: 'Emulated subscription',
      activeDirectoryAuthority: emulator.authorityHost,
    },
  };
}

/** A pipeline job on the emulator: the agent's env for the task, and what runs after it. */
export class EmulatedJob {
  readonly tempDirectory = makeTempDirectory();
  readonly runs: StepResult[] = [];

  /** The task step's YAML `name:`. */
  stepName = DEFAULT_STEP_NAME;

  constructor(
    readonly emulator: Emulator,
    readonly job: AgentJob,
  ) {}

  static forConnection(
    emulator: Emulator,
    connection: EmulatorConnection,
    overrides: Partial<AgentJob> = {},
  ): EmulatedJob {
    const tempDirectory = makeTempDirectory();
    return new EmulatedJob(emulator, {
      connection: agentConnection(emulator, connection),
      jobAccessToken: emulator.options.jobAccessToken,
      oidcRequestUri: emulator.oidcRequestUri,
      collectionUri: emulator.collectionUri,
      projectId: emulator.options.projectId,
      planId: emulator.options.planId,
      jobId: emulator.options.jobId,
      hostType: emulator.options.hostType,
      caFile: emulator.caFile,
      tempDirectory,
      ...overrides,
    });
  }

  async runTask(): Promise<StepResult> {
    jobsWithTask.add(this);
    const step = await runProcess(MAIN_SCRIPT, taskEnvironment(this.job));
    step.refName = this.stepName;
    step.declaredOutputs = DECLARED_OUTPUTS;
    this.runs.push(step);
    return step;
  }

  /**
   * Ends the token renewers the task started in this job, as the agent's orphan cleanup does when a job
   * ends without its post-job step (tests that check the post-job step run it themselves).
   */
  endRenewers(): void {
    const entries = fs.existsSync(this.job.tempDirectory) ? fs.readdirSync(this.job.tempDirectory) : [];
    for (const entry of entries) {
      try {
        const pid = Number(fs.readFileSync(path.join(this.job.tempDirectory, entry, 'renewer.pid'), 'utf8'));
        if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGTERM');
      } catch {
        // no renewer there, or already gone
      }
    }
  }

  async runPostJob(main: StepResult): Promise<StepResult> {
    const step = await runProcess(POST_SCRIPT, postJobEnvironment(this.job, main));
    this.runs.push(step);
    return step;
  }

  /** A later script step: the job's base env plus what the agent maps in, trusting the emulator's CA. */
  nextStepEnvironment(steps: StepResult[], mapping: Record<string, string> = {}): Record<string, string> {
    const base = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      SYSTEM_OIDCREQUESTURI: this.job.oidcRequestUri ?? '',
      SYSTEM_COLLECTIONURI: this.job.collectionUri ?? '',
      AGENT_TEMPDIRECTORY: this.job.tempDirectory,
      NODE_EXTRA_CA_CERTS: this.emulator.caFile,
    };
    const agentSecrets: Record<string, string> = {};
    if (this.job.jobAccessToken) agentSecrets['System.AccessToken'] = this.job.jobAccessToken;
    return nextStepEnvironment(base, steps, mapping, agentSecrets);
  }

  /**
   * A later az step's env: nextStepEnvironment's, the emulator's CA for az's Python (REQUESTS_CA_BUNDLE; it does
   * not read NODE_EXTRA_CA_CERTS) and telemetry off, so az starts no upload process that outlives the step.
   */
  azureCliStepEnvironment(steps: StepResult[]): Record<string, string> {
    return {
      ...this.nextStepEnvironment(steps),
      AZURE_CORE_COLLECT_TELEMETRY: 'false',
      REQUESTS_CA_BUNDLE: this.emulator.caFile,
    };
  }

  async runNextStep(
    steps: StepResult[],
    args: string[] = [],
    mapping: Record<string, string> = {},
  ): Promise<StepResult> {
    const step = await runProcess(NEXT_STEP_SCRIPT, this.nextStepEnvironment(steps, mapping), args);
    this.runs.push(step);
    return step;
  }
}

/** Jobs whose task ran (and so may have a renewer running), until their emulator stops. */
const jobsWithTask = new Set<EmulatedJob>();

/**
 * A job whose connection az can sign in to offline: az (MSAL Python 2.45) refuses a local authority unless it
 * ends in /adfs, so the connection's authority is <emulator>/adfs/ and its Resource Manager URL the emulator:
 * settings a connection has.
 */
export function azureCliJob(emulator: Emulator, inputs: Record<string, string>): EmulatedJob {
  const connection = emulator.options.connections[0];
  const job = EmulatedJob.forConnection(emulator, connection, { inputs });
  job.job.connection.url = `${emulator.url}/`;
  job.job.connection.data.activeDirectoryAuthority = `${emulator.url}/adfs/`;
  job.job.connection.data.subscriptionId = connection.subscriptionId ?? DEFAULTS.subscriptionId;
  return job;
}

/**
 * The az on PATH; when there is none, the suite is skipped with `note` (CI installs azure-cli in .ci/run).
 * `context` is the before hook's `this` (typed by shape: tools/ compile this file without mocha's types).
 */
export function azOrSkip(
  context: { skip(): never },
  note = '    Skipping: `az` is not on PATH (CI installs azure-cli in .ci/run).',
): string {
  const az = findOnPath('az');
  if (!az) {
    console.log(note);
    context.skip();
  }
  return az;
}

/**
 * An emulator whose stop() first ends the renewers of the jobs run against it, so a test file leaves no
 * background process behind (they would otherwise live until mocha exits, the parent they watch).
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const emulator = await Emulator.start(options);
  const stop = emulator.stop.bind(emulator);
  emulator.stop = async () => {
    for (const job of jobsWithTask) {
      if (job.emulator !== emulator) continue;
      job.endRenewers();
      jobsWithTask.delete(job);
    }
    await stop();
  };
  return emulator;
}

/**
 * Runs `body` with idTokens that live 2 s while the `kind` endpoint (another cloud's STS or login) answers 2.5 s
 * late, so the idToken has expired when that service checks it; then restores the default lifetime.
 */
export async function withIdTokenExpiredOnArrival(
  emulator: Emulator,
  kind: EndpointKind,
  body: () => Promise<void>,
): Promise<void> {
  emulator.setOptions({ idTokenLifetimeSeconds: 2 });
  emulator.script(kind, [{ delayMs: 2500 }]);
  try {
    await body();
  } finally {
    emulator.setOptions({ idTokenLifetimeSeconds: DEFAULTS.idTokenLifetimeSeconds });
  }
}

/** Every secret the emulator issued or the task registered, and the lines of output that show one. */
export function leakReport(emulator: Emulator, steps: StepResult[]): string[] {
  const secrets = [
    ...emulator.issuedIdTokens,
    ...emulator.issuedAccessTokens,
    emulator.options.jobAccessToken ?? '',
    ...steps.flatMap(secretsOf),
  ].filter((secret) => secret !== '');
  return steps.flatMap((step) => leaks(step, secrets));
}

/**
 * Runs any program (az, a shell) as a script step runs it: exactly this env, stdout and stderr captured and
 * read for logging commands like a task's.
 */
export function runCommand(
  file: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<StepResult> {
  return runExecutable(file, args, env, timeoutMs);
}

/** Where a command is on PATH, as a shell would find it (the task's own lookup, for the az sign-in). */
export function findOnPath(name: string, pathValue = process.env.PATH ?? ''): string | undefined {
  return findCommandOnPath(name, { PATH: pathValue });
}
