import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator } from '../emulator';
import type { StepResult } from '../harness/agent';
import { EmulatedJob, leakReport, runCommand, startEmulator } from '../harness/scenario';

/**
 * azure-wif-token in a later script step, run through the launcher the task puts on PATH. Bash@3 and
 * PowerShell@2 with `failOnStderr: true` fail a step on any stderr line (the agent has no such option for Node
 * tasks: each task implements it, e.g. Tasks/BashV3/bash.ts), so the actions whose stdout nobody captures write
 * nothing to stderr.
 */
describe('azure-wif-token in a later step', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let job: EmulatedJob;
  let task: StepResult;
  const steps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator();
    job = EmulatedJob.forConnection(emulator, emulator.connection());
    task = await job.runTask();
    steps.push(task);
    assert.equal(task.result?.result, 'Succeeded', task.stdout);
  });
  after(async () => emulator?.stop());

  function step(args: string[]): Promise<StepResult> {
    const env = job.nextStepEnvironment([task], { SYSTEM_ACCESSTOKEN: '$(System.AccessToken)' });
    const launcher = path.join(task.prependedPaths[0], 'azure-wif-token');
    return runCommand(launcher, args, env).then((run) => {
      steps.push(run);
      return run;
    });
  }

  it('renew-file writes nothing to stderr, so a failOnStderr step passes, and registers the new idToken on stdout', async () => {
    const tokenFile = task.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')!.value;
    const before = fs.readFileSync(tokenFile, 'utf8');
    const run = await step(['renew-file']);
    assert.equal(run.exitCode, 0, run.stdout);
    assert.equal(run.stderr, '');
    const renewed = fs.readFileSync(tokenFile, 'utf8');
    assert.notEqual(renewed, before);
    assert.ok(run.secrets.includes(renewed), 'the renewed idToken is registered with the agent');
    assert.match(
      run.plainLines.join('\n'),
      /^Renewed .*federated-token\.jwt; the idToken in it expires \S+Z\.$/m,
    );
  });

  it('exec writes nothing to stderr of its own and passes the command its output', async () => {
    const run = await step(['exec', '--', process.execPath, '-e', 'console.log("child ran")']);
    assert.equal(run.exitCode, 0, run.stdout);
    assert.equal(run.stderr, '');
    assert.ok(run.plainLines.includes('child ran'));
  });

  it('id-token prints only the token on stdout, for $(azure-wif-token), and registers it on stderr', async () => {
    const run = await step([]);
    assert.equal(run.exitCode, 0, run.stderr);
    const printed = run.stdout.trim();
    assert.equal(printed, emulator.issuedIdTokens.at(-1));
    assert.ok(run.stderr.includes(`##vso[task.setsecret]${printed}`));
  });

  it('printed no token outside the commands that register it', () => {
    // The id-token run prints its token on stdout by design; the scan covers the other runs.
    assert.deepEqual(leakReport(emulator, steps.slice(0, 3)), []);
  });

  it('refuses an edited configuration, naming the field, before any request', async () => {
    const configFile = path.join(path.dirname(task.prependedPaths[0]), 'token-command.json');
    const original = fs.readFileSync(configFile, 'utf8');
    const edited = JSON.parse(original) as { connection: { clientId: string } };
    edited.connection.clientId = 'not-a-client-id';
    fs.writeFileSync(configFile, JSON.stringify(edited));
    emulator.clearRequests();
    try {
      const run = await step(['access-token']);
      assert.equal(run.exitCode, 1);
      assert.equal(
        run.stderr,
        `##[error]azure-wif-token: refuses its configuration ${configFile} because connection.clientId is not a valid value, so it is not what the task wrote. ` +
          'Re-run the AzureWorkloadIdentity task earlier in this job, and do not edit the file it writes.\n',
      );
      assert.deepEqual(emulator.requests, []);
    } finally {
      fs.writeFileSync(configFile, original);
    }
  });
});
