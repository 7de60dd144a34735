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
 * azureCliLogin with the renewer: after the idToken az signed in with has expired, az still gets tokens for
 * resources it has not cached, because the renewer signed it in again from the token file (`@<file>`).
 * Offline az needs an authority ending in /adfs (see azure-cli-login.test.ts).
 */
const ID_TOKEN_SECONDS = 20;

describe('the renewer keeps the Azure CLI signed in', function () {
  this.timeout(180_000);
  let emulator: Emulator;
  let az: string;
  const steps: StepResult[] = [];

  before(async function () {
    az = azOrSkip(this);
    emulator = await startEmulator({ idTokenLifetimeSeconds: ID_TOKEN_SECONDS });
  });
  after(async () => emulator?.stop());

  const job = (inputs: Record<string, string>): EmulatedJob => azureCliJob(emulator, inputs);

  async function accessToken(j: EmulatedJob, task: StepResult, resource: string): Promise<StepResult> {
    const env = j.azureCliStepEnvironment([task]);
    const step = await runCommand(
      az,
      ['account', 'get-access-token', '--resource', resource, '--output', 'json'],
      env,
    );
    // Not in `steps`: az prints the access token, which is what this command is for.
    return step;
  }

  it('gets a token for a resource az has not cached after the first idToken expired', async () => {
    // With renewTokens: 'false' the same step fails with AADSTS700024 (assertion expired): checked by hand.
    const j = job({ azureCliLogin: 'true' });
    const task = await j.runTask();
    steps.push(task);
    assert.equal(task.result?.result, 'Succeeded', task.stdout);
    assert.ok(
      task.plainLines.some((l) =>
        /^Started the token renewer \(pid \d+\): it keeps the federated token file and the Azure CLI sign-in fresh until the job ends; the post-job step stops it\.$/.test(
          l,
        ),
      ),
      task.stdout,
    );
    const tokenFile = task.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')!.value;
    const firstExp = (
      JSON.parse(Buffer.from(fs.readFileSync(tokenFile, 'utf8').split('.')[1], 'base64url').toString()) as {
        exp: number;
      }
    ).exp;
    // Past the first idToken's expiry (and Entra's checks of it), with a margin for a slow machine.
    await new Promise((resolve) => setTimeout(resolve, firstExp * 1000 - Date.now() + 2000));

    emulator.clearRequests();
    const vault = await accessToken(j, task, 'https://vault.azure.net');
    assert.equal(vault.exitCode, 0, vault.stderr);
    const token = JSON.parse(vault.stdout) as { accessToken: string; tenant: string; subscription: string };
    assert.ok(emulator.issuedAccessTokens.includes(token.accessToken));
    assert.equal(token.subscription, DEFAULTS.subscriptionId);
    // az exchanged an idToken that had not expired: not the one it first signed in with.
    const assertions = emulator.requests
      .filter((r) => r.kind === 'token')
      .map((r) => new URLSearchParams(r.body).get('client_assertion') ?? '');
    assert.ok(assertions.length >= 1);
    for (const assertion of assertions) {
      const claims = emulator.decode(assertion).payload as { exp: number };
      assert.ok(claims.exp > firstExp, 'az used a renewed idToken');
    }
    const log = fs.readFileSync(path.join(path.dirname(tokenFile), 'renewer.log'), 'utf8');
    assert.match(log, /Signed the Azure CLI in again with the idToken that expires \S+\./);

    const post = await j.runPostJob(task);
    steps.push(post);
    assert.ok(
      post.plainLines.some((l) =>
        /^Stopped the token renewer \(pid \d+\)\. It made \d+ renewals, 0 failed attempts; [1-9]\d* Azure CLI sign-ins?, 0 failed Azure CLI sign-ins; /.test(
          l,
        ),
      ),
      post.stdout,
    );
  });

  it('printed no secret in the task and post-job steps', () => {
    assert.deepEqual(leakReport(emulator, steps), []);
  });
});
