import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator } from '../emulator';
import { REPO_ROOT, runExecutable, runProcess, type StepResult } from '../harness/agent';
import { alive } from '../harness/processes';
import { EmulatedJob, leakReport, startEmulator } from '../harness/scenario';
import { seeded } from '../harness/seeded';

/**
 * The job-wide renewer (renewTokens, on by default): a later step with no SYSTEM_ACCESSTOKEN mapping and no
 * wrapper keeps getting valid tokens from the federated token file for many idToken lifetimes.
 */
const RENEWED_STEP = path.join(REPO_ROOT, 'build', 'tests', 'harness', 'renewed-step.js');
// Short enough to cross 5 lifetimes in ~30 s, long enough that a loaded CI machine renews in time.
const ID_TOKEN_SECONDS = 6;
const SPAN_SECONDS = 5 * ID_TOKEN_SECONDS + 1;

interface Summary {
  reads: number;
  expiredReads: number;
  unreadable: number;
  minLeftMs: number;
  idTokens: number;
  sdkTokens: number;
  sdkFailures: string[];
  audiences: string[];
  spanSeconds: number;
}

function renewerPid(task: StepResult): number {
  const line = task.plainLines.find((l) => l.startsWith('Started the token renewer (pid '));
  assert.ok(line, task.stdout);
  return Number(/\(pid (\d+)\)/.exec(line)![1]);
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return condition();
}

/**
 * Every file under `directory`, recursively, but task-lib's own .taskkey (the harness's work folder is the temp
 * directory) and the run summary, which stays for the agent to upload after the job (src/pipeline/run-summary.ts).
 */
function filesUnder(directory: string): string[] {
  if (!fs.existsSync(directory)) return [];
  return fs.readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.name === '.taskkey' || entry.name.startsWith('azure-wif-summary-')) return [];
    return entry.isDirectory() ? filesUnder(full) : entry.isFile() ? [full] : [];
  });
}

describe('the job-wide renewer keeps later steps signed in with no extra YAML', function () {
  this.timeout(180_000);
  let emulator: Emulator;
  const steps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator({ idTokenLifetimeSeconds: ID_TOKEN_SECONDS });
  });
  after(async () => emulator?.stop());
  afterEach(() => {
    emulator.clearTransientFaults();
    emulator.clearScripts();
  });

  async function startJob(): Promise<{
    job: EmulatedJob;
    task: StepResult;
    pid: number;
    workDirectory: string;
  }> {
    const job = EmulatedJob.forConnection(emulator, emulator.connection());
    const task = await job.runTask();
    steps.push(task);
    assert.equal(task.result?.result, 'Succeeded', task.stdout);
    const tokenFile = task.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')!.value;
    return { job, task, pid: renewerPid(task), workDirectory: path.dirname(tokenFile) };
  }

  async function status(job: EmulatedJob, task: StepResult): Promise<StepResult> {
    const env = job.nextStepEnvironment([task]);
    const launcher = path.join(task.prependedPaths[0], 'azure-wif-token');
    const step = await runExecutable(launcher, ['status'], env);
    steps.push(step);
    return step;
  }

  it(`keeps the token file valid for ${SPAN_SECONDS} s (over 5 idToken lifetimes) for the SDK and a plain read, then the post-job step stops it and removes everything`, async () => {
    const { job, task, pid, workDirectory } = await startJob();
    const jobToken = emulator.options.jobAccessToken;

    // Nothing secret where another process of the machine could read it.
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    assert.ok(cmdline.split('\0').includes('renew'), cmdline);
    for (const [where, text] of Object.entries({ cmdline, environ })) {
      assert.ok(!text.includes(jobToken), `the renewer's ${where} holds the job access token`);
      for (const idToken of emulator.issuedIdTokens)
        assert.ok(!text.includes(idToken), `${where} holds an idToken`);
    }
    assert.ok(
      !/SYSTEMVSSCONNECTION|SYSTEM_ACCESSTOKEN|INPUT_|ENDPOINT_/.test(environ),
      environ.split('\0').join(' '),
    );

    // A later step: no SYSTEM_ACCESSTOKEN, no wrapper, one process for the whole span.
    const env = job.nextStepEnvironment([task]);
    assert.equal(env.SYSTEM_ACCESSTOKEN, undefined);
    const step = await runProcess(RENEWED_STEP, env, ['sdk', String(SPAN_SECONDS), '1000'], 120_000);
    steps.push(step);
    assert.equal(step.exitCode, 0, step.stderr);
    const summary = JSON.parse(step.plainLines.at(-1)!) as Summary;
    assert.ok(summary.spanSeconds >= SPAN_SECONDS, `ran ${summary.spanSeconds} s`);
    assert.deepEqual(summary.sdkFailures, []);
    assert.equal(summary.expiredReads, 0, `min left ${summary.minLeftMs} ms`);
    assert.equal(summary.unreadable, 0);
    assert.ok(summary.reads >= SPAN_SECONDS - 5, `${summary.reads} reads`);
    // At least one token per lifetime came through the SDK, and the file changed every lifetime.
    assert.ok(summary.sdkTokens >= 5, `${summary.sdkTokens} SDK tokens`);
    assert.ok(summary.idTokens >= 5, `${summary.idTokens} distinct idTokens read`);
    assert.deepEqual(summary.audiences, ['https://management.azure.com']);

    const running = await status(job, task);
    assert.equal(running.exitCode, 0, running.stdout);
    assert.match(
      running.stdout,
      new RegExp(
        `^The token renewer is running \\(pid ${pid}\\) since \\S+; next renewal \\S+\\nIt made (\\d+) renewals, 0 failed attempts; the last idToken in the file expires \\S+\\.\\nIts log \\(${workDirectory.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/renewer\\.log\\):\\n`,
      ),
    );
    assert.match(running.stdout, /Renewed the token file; its idToken expires \S+; next renewal \S+\./);
    assert.equal(fs.statSync(path.join(workDirectory, 'renewer.log')).mode & 0o777, 0o600);

    // The job access token is in no file the job can see.
    for (const file of filesUnder(job.job.tempDirectory)) {
      const content = fs.readFileSync(file, 'utf8');
      assert.ok(!content.includes(jobToken), `${file} holds the job access token`);
      if (path.basename(file).startsWith('renewer.')) {
        for (const idToken of emulator.issuedIdTokens)
          assert.ok(!content.includes(idToken), `${file} holds an idToken`);
      }
    }
    assert.deepEqual(
      fs
        .readdirSync(workDirectory)
        .filter((name) => name.startsWith('renewer.'))
        .sort(),
      ['renewer.log', 'renewer.pid', 'renewer.state.json'],
    );

    const post = await job.runPostJob(task);
    steps.push(post);
    const report = post.plainLines.find((line) => line.startsWith('Stopped the token renewer'));
    assert.match(
      report ?? post.stdout,
      new RegExp(
        `^Stopped the token renewer \\(pid ${pid}\\)\\. It made \\d+ renewals, 0 failed attempts; the last idToken in the file expires \\S+\\.$`,
      ),
    );
    assert.ok(
      post.plainLines.indexOf(report!) < post.plainLines.findIndex((l) => l.startsWith('Removed ')),
      'reported before removing the directory',
    );
    assert.equal(alive(pid), false, 'the renewer is gone after the post-job step');
    assert.deepEqual(filesUnder(job.job.tempDirectory), []);
  });

  it('keeps the file valid at every read while 30% of the Oidctoken requests fail transiently', async () => {
    const { job, task, workDirectory } = await startJob();
    emulator.setTransientFaults(['oidctoken'], 0.3, seeded(20261206));
    const step = await runProcess(
      RENEWED_STEP,
      job.nextStepEnvironment([task]),
      ['file', String(4 * ID_TOKEN_SECONDS), '250'],
      120_000,
    );
    steps.push(step);
    emulator.clearTransientFaults();
    assert.equal(step.exitCode, 0, step.stderr);
    const summary = JSON.parse(step.plainLines.at(-1)!) as Summary;
    assert.equal(summary.expiredReads, 0, `min left ${summary.minLeftMs} ms`);
    assert.equal(summary.unreadable, 0);
    assert.ok(summary.idTokens >= 4, `${summary.idTokens} distinct idTokens read`);
    const log = fs.readFileSync(path.join(workDirectory, 'renewer.log'), 'utf8');
    assert.match(log, /Renewing the token file: attempt 1 failed \(.+\); retrying in \d+\.\d s\./);
    const post = await job.runPostJob(task);
    steps.push(post);
    assert.ok(
      post.plainLines.some((l) => /^Stopped the token renewer \(pid \d+\)\. It made \d+ renewals/.test(l)),
      post.stdout,
    );
  });

  it('gives a second, prefixed instance of the task its own renewer and file', async () => {
    const { job, task, pid, workDirectory } = await startJob();
    const firstFile = task.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')!.value;
    const firstToken = fs.readFileSync(firstFile, 'utf8');
    job.job.inputs = { variablePrefix: 'STATE_' };
    const second = await job.runTask();
    steps.push(second);
    assert.equal(second.result?.result, 'Succeeded', second.stdout);
    const secondPid = renewerPid(second);
    const secondFile = second.variables.find((v) => v.name === 'STATE_AZURE_FEDERATED_TOKEN_FILE')!.value;
    const secondToken = fs.readFileSync(secondFile, 'utf8');
    assert.notEqual(secondPid, pid);
    assert.notEqual(path.dirname(secondFile), workDirectory);
    await new Promise((resolve) => setTimeout(resolve, 2 * ID_TOKEN_SECONDS * 1000));
    for (const [file, initial] of [
      [firstFile, firstToken],
      [secondFile, secondToken],
    ]) {
      const token = fs.readFileSync(file, 'utf8');
      const { exp } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number };
      assert.ok(exp * 1000 > Date.now(), `${file} holds an expired token`);
      assert.notEqual(token, initial, `${file} was never renewed`);
    }
    for (const [step, p] of [
      [task, pid],
      [second, secondPid],
    ] as const) {
      const post = await job.runPostJob(step);
      steps.push(post);
      assert.ok(
        post.plainLines.some((l) => l.startsWith(`Stopped the token renewer (pid ${p}). It made `)),
        post.stdout,
      );
    }
    assert.equal(alive(pid) || alive(secondPid), false);
  });

  it('exits on its own, saying why, when Azure DevOps refuses the job access token (the job has ended)', async () => {
    const { job, task, pid } = await startJob();
    const jobToken = emulator.options.jobAccessToken;
    emulator.setOptions({ jobAccessToken: 'a-token-for-another-job' });
    try {
      assert.ok(await waitFor(() => !alive(pid), 3 * ID_TOKEN_SECONDS * 1000), 'the renewer exited');
    } finally {
      emulator.setOptions({ jobAccessToken: jobToken });
    }
    const stopped = await status(job, task);
    assert.equal(stopped.exitCode, 1);
    assert.match(
      stopped.stdout,
      /^The token renewer is not running: it stopped at \S+: Azure DevOps no longer accepts the job access token, so the job has ended\. Azure DevOps did not accept the job access token when asked for an idToken \(HTTP 401\)/,
    );
    const post = await job.runPostJob(task);
    steps.push(post);
    assert.ok(
      post.plainLines.some((l) =>
        /^The token renewer had stopped on its own at \S+: Azure DevOps no longer accepts the job access token, so the job has ended\./.test(
          l,
        ),
      ),
      post.stdout,
    );
    assert.deepEqual(filesUnder(job.job.tempDirectory), []);
  });

  it('printed no secret in any step', () => {
    assert.deepEqual(leakReport(emulator, steps), []);
  });
});
