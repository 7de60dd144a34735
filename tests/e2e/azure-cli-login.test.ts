import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS, type Emulator } from '../emulator';
import type { StepResult } from '../harness/agent';
import {
  EmulatedJob,
  azureCliJob,
  azOrSkip,
  leakReport,
  runCommand,
  startEmulator,
} from '../harness/scenario';

/**
 * azureCliLogin: the task signs the Azure CLI in; the next step's az works with no sign-in of its own.
 * Offline, az (MSAL Python 2.45) refuses a local authority unless it ends in /adfs, so the connection's
 * authority is <emulator>/adfs/ and its Resource Manager URL the emulator: settings a connection has.
 */
describe('azureCliLogin signs the Azure CLI in for later steps', function () {
  this.timeout(90_000);
  let emulator: Emulator;
  let az: string;
  const steps: StepResult[] = [];

  before(async function () {
    az = azOrSkip(this);
    emulator = await startEmulator();
  });
  after(async () => emulator?.stop());

  const job = (inputs: Record<string, string>): EmulatedJob => azureCliJob(emulator, inputs);

  it('leaves a working az account get-access-token for the next step, in a job-private AZURE_CONFIG_DIR', async () => {
    const j = job({ azureCliLogin: 'true' });
    const task = await j.runTask();
    steps.push(task);
    assert.equal(task.result?.result, 'Succeeded', task.stdout);
    const configDir = task.variables.find((v) => v.name === 'AZURE_CONFIG_DIR' && !v.secret)?.value ?? '';
    const tokenFile = task.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')!.value;
    assert.equal(configDir, path.join(path.dirname(tokenFile), 'azure-cli'));
    assert.equal(fs.statSync(configDir).mode & 0o777, 0o700);
    assert.ok(
      task.plainLines.includes(
        `Signed the Azure CLI in as ${emulator.options.connections[0].clientId}; later steps use AZURE_CONFIG_DIR=${configDir}.`,
      ),
    );

    emulator.clearRequests();
    const env = j.azureCliStepEnvironment([task]);
    const next = await runCommand(az, ['account', 'get-access-token', '--output', 'json'], env);
    assert.equal(next.exitCode, 0, next.stderr);
    const token = JSON.parse(next.stdout) as { accessToken: string; subscription: string; tenant: string };
    assert.ok(emulator.issuedAccessTokens.includes(token.accessToken), 'the token came from the emulator');
    assert.equal(token.subscription, DEFAULTS.subscriptionId);
    assert.equal(token.tenant, emulator.options.connections[0].tenantId);

    const post = await j.runPostJob(task);
    steps.push(post);
    assert.equal(fs.existsSync(configDir), false, 'the post-job step removed the az profile');
  });

  it('signs nothing in, and says so, when the identity cannot see the subscription', async () => {
    const j = job({ azureCliLogin: 'true' });
    j.job.connection.data.subscriptionId = '00000000-0000-4000-8000-000000000bad';
    const task = await j.runTask();
    steps.push(task);
    assert.equal(task.result?.result, 'Failed');
    assert.match(
      task.result?.message ?? '',
      new RegExp(
        `^The Azure CLI could not select the subscription 00000000-0000-4000-8000-000000000bad \\(az exited with 1: .*\\)\\. The identity ${emulator.options.connections[0].clientId} signed in but cannot see that subscription: give it a role on the subscription \\(for example Reader\\), or fix the connection's subscription\\.$`,
      ),
    );
  });

  it('warns and carries on when az is not installed', async () => {
    const j = job({ azureCliLogin: 'true' });
    // An agent without az: nothing on PATH (the task itself runs on the agent's node, not through PATH).
    j.job.extra = { ...j.job.extra, PATH: fs.mkdtempSync(path.join(j.job.tempDirectory, 'empty-path-')) };
    const task = await j.runTask();
    steps.push(task);
    assert.equal(task.result?.result, 'Succeeded', task.stdout);
    assert.deepEqual(task.warnings, [
      'azureCliLogin is on, but the Azure CLI (az) is not installed on this agent, so no later step is signed in to it. ' +
        'Install the Azure CLI on the agent, or turn azureCliLogin off.',
    ]);
    assert.ok(!task.variables.some((v) => v.name === 'AZURE_CONFIG_DIR'));
  });

  it('printed no secret', () => {
    assert.deepEqual(leakReport(emulator, steps), []);
  });
});
