import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator } from '../emulator';
import { REPO_ROOT, runProcess, type StepResult } from '../harness/agent';
import { EmulatedJob, leakReport, startEmulator } from '../harness/scenario';

const LONG_STEP = path.join(REPO_ROOT, 'build', 'tests', 'harness', 'long-running-step.js');
// Long enough that a loaded CI machine renews in time, short enough to cross 5 lifetimes in ~20 s.
const ID_TOKEN_SECONDS = 4;
const SPAN_SECONDS = 5 * ID_TOKEN_SECONDS + 1;
const STEP_TIMEOUT_MS = 110_000;

/** The `env:` block of a README recipe: the mapping the author writes, e.g. SYSTEM_ACCESSTOKEN: $(System.AccessToken). */
function readmeRecipeEnv(recipe: string): Record<string, string> {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = new RegExp(`<!-- recipe:${recipe} -->([\\s\\S]*?)<!-- /recipe:${recipe} -->`).exec(readme);
  assert.ok(block, `README has no recipe:${recipe} block`);
  const mapping: Record<string, string> = {};
  for (const match of block[1].matchAll(/^\s+([A-Z_][A-Z0-9_]*): \$\(([^)]+)\)\s*$/gm))
    mapping[match[1]] = match[2];
  return mapping;
}

describe('long-running jobs: later steps keep getting valid tokens', function () {
  this.timeout(240_000);
  let emulator: Emulator;
  let job: EmulatedJob;
  let task: StepResult;
  const steps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator({
      idTokenLifetimeSeconds: ID_TOKEN_SECONDS,
      accessTokenLifetimeSeconds: 2,
    });
    // The paths a step takes on its own, so the job-wide renewer is off here (tests/e2e/renewer.test.ts has it).
    job = EmulatedJob.forConnection(emulator, emulator.connection(), { inputs: { renewTokens: 'false' } });
    task = await job.runTask();
    steps.push(task);
    assert.equal(task.result?.result, 'Succeeded', task.stdout);
  });
  after(async () => emulator?.stop());

  /** A later step's env as the agent builds it, with the author's `env:` mapping applied. */
  function stepEnv(mapping: Record<string, string>): Record<string, string> {
    const env = job.nextStepEnvironment([task]);
    for (const [name, source] of Object.entries(mapping)) {
      // $(System.AccessToken) is the agent's variable; every other source is one the task set.
      env[name] =
        source === 'System.AccessToken'
          ? emulator.options.jobAccessToken!
          : (task.variables.find((v) => v.name === source && !v.output)?.value ?? `$(${source})`);
    }
    return env;
  }

  it(`keeps signing in for ${SPAN_SECONDS} s (over 5 idToken lifetimes) by every refresh path at once`, async () => {
    emulator.clearRequests();
    const recommended = readmeRecipeEnv('terraform');
    const [terraform, sdk, command] = await Promise.all([
      runProcess(
        LONG_STEP,
        stepEnv(recommended),
        ['terraform', String(SPAN_SECONDS), '700'],
        STEP_TIMEOUT_MS,
      ),
      runProcess(
        path.join(REPO_ROOT, 'dist', 'main.js'),
        stepEnv({ SYSTEM_ACCESSTOKEN: 'System.AccessToken' }),
        [
          'azure-wif-token',
          '--config',
          configFile(),
          'exec',
          '--',
          process.execPath,
          LONG_STEP,
          'sdk-file',
          String(SPAN_SECONDS),
          '700',
        ],
        STEP_TIMEOUT_MS,
      ),
      runProcess(
        LONG_STEP,
        stepEnv({ SYSTEM_ACCESSTOKEN: 'System.AccessToken' }),
        ['command', String(SPAN_SECONDS), '700'],
        STEP_TIMEOUT_MS,
      ),
    ]);
    steps.push(terraform, sdk, command);
    for (const [name, step] of Object.entries({ terraform, sdk, command })) {
      assert.equal(step.exitCode, 0, `${name}: ${step.stderr}`);
      const summary = JSON.parse(step.plainLines.at(-1)!) as {
        iterations: number;
        audiences: string[];
        spanSeconds: number;
      };
      // Terraform and the SDK ask for https://management.azure.com/.default; the command asks for the
      // connection's own resource, its trailing slash kept as Microsoft's tasks keep it.
      const audience = name === 'command' ? 'https://management.azure.com/' : 'https://management.azure.com';
      assert.deepEqual(summary.audiences, [audience], name);
      assert.ok(summary.spanSeconds >= SPAN_SECONDS, `${name} ran ${summary.spanSeconds} s`);
      assert.ok(summary.iterations >= 10, `${name} got ${summary.iterations} tokens`);
    }
    // Terraform's own refresh: its exact request reached the emulator, many times, each answered.
    const terraformRequests = emulator.requests.filter((r) => r.kind === 'oidctoken' && r.query.audience);
    assert.ok(terraformRequests.length >= 10);
    for (const request of terraformRequests) {
      assert.deepEqual(request.query, {
        'api-version': '7.1',
        serviceConnectionId: emulator.connection().id,
        audience: 'api://AzureADTokenExchange',
      });
      assert.equal(request.headers.authorization, `Bearer ${emulator.options.jobAccessToken}`);
      assert.equal(request.headers.accept, 'application/json');
      assert.equal(request.headers['content-type'], 'application/json');
      assert.equal(request.body, '');
      assert.equal(request.status, 200);
    }
    // Every token request of the span succeeded: no expired assertion reached Entra.
    assert.deepEqual(
      emulator.requests.filter((r) => r.kind === 'token' && r.status !== 200).map((r) => r.status),
      [],
    );
  });

  function configFile(): string {
    const tokenFile = task.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')!.value;
    return path.join(path.dirname(tokenFile), 'token-command.json');
  }

  it('fails after the idToken expires when a step reuses the static token (the check above can fail)', async () => {
    const env = stepEnv({});
    await new Promise((resolve) => setTimeout(resolve, (ID_TOKEN_SECONDS + 1) * 1000));
    const stale = await runProcess(path.join(REPO_ROOT, 'build', 'tests', 'harness', 'next-step.js'), env);
    steps.push(stale);
    assert.equal(stale.exitCode, 3);
    assert.match(stale.stderr, /AADSTS700024/);
  });

  it('tells a step without the mapped job access token how to map it', async () => {
    const step = await runProcess(LONG_STEP, stepEnv({}), ['command', '1', '100']);
    steps.push(step);
    assert.notEqual(step.exitCode, 0);
    const direct = await runProcess(path.join(REPO_ROOT, 'dist', 'main.js'), stepEnv({}), [
      'azure-wif-token',
      '--config',
      configFile(),
    ]);
    steps.push(direct);
    assert.equal(direct.exitCode, 1);
    assert.equal(
      direct.stderr.trim(),
      '##[error]azure-wif-token needs the job access token to ask Azure DevOps for a fresh idToken, and this step does not have it. ' +
        'Map it into the step: env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)',
    );
  });

  it('prints only the token on stdout and registers it as a secret on stderr', async () => {
    const step = await runProcess(
      path.join(REPO_ROOT, 'dist', 'main.js'),
      stepEnv({ SYSTEM_ACCESSTOKEN: 'System.AccessToken' }),
      ['azure-wif-token', '--config', configFile()],
    );
    assert.equal(step.exitCode, 0, step.stderr);
    const token = step.stdout.trim();
    assert.equal(token, emulator.issuedIdTokens.at(-1));
    assert.ok(step.stderr.includes(`##vso[task.setsecret]${token}`));
  });

  it('gives no later step the job access token in the default configuration', () => {
    const env = job.nextStepEnvironment([task]);
    for (const [name, value] of Object.entries(env)) {
      assert.ok(!value.includes(emulator.options.jobAccessToken!), `${name} holds the job access token`);
    }
  });

  it('leaves no static token in the environment of the Terraform recipe the README recommends', () => {
    const env = stepEnv(readmeRecipeEnv('terraform'));
    for (const name of ['ARM_OIDC_TOKEN', 'ARM_OIDC_TOKEN_FILE_PATH'])
      assert.equal(env[name], undefined, name);
    for (const [name, value] of Object.entries(env)) {
      for (const idToken of emulator.issuedIdTokens)
        assert.ok(!value.includes(idToken), `${name} holds an idToken`);
    }
    assert.equal(env.ARM_USE_OIDC, 'true');
    assert.ok(
      env.ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID && env.ARM_OIDC_REQUEST_URL && env.SYSTEM_ACCESSTOKEN,
    );
  });

  it('printed no secret in any step outside secret registrations', () => {
    assert.deepEqual(leakReport(emulator, steps), []);
  });
});
