import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockTestRunner } from 'azure-pipelines-task-lib/mock-test';
import { interpret } from '../harness/agent';
import { REPO_ROOT } from '../../tools/repo-root';

const TASK_JSON = path.join(REPO_ROOT, 'task.json');
const SCENARIO = path.join(__dirname, 'scenario.js');
const CONNECTION = 'c0ffee00-1111-2222-3333-444444444444';
const JOB_TOKEN = 'job-access-token-value-0123456789';

async function runScenario(name: string, withTempDirectory = true) {
  const temp = withTempDirectory ? fs.mkdtempSync(path.join(os.tmpdir(), 'azure-wif-mock-')) : '';
  process.env.MOCK_SCENARIO = name;
  process.env.MOCK_TEMP_DIRECTORY = temp;
  try {
    const runner = new MockTestRunner(SCENARIO, TASK_JSON);
    // Use this Node rather than letting the runner download one.
    runner.nodePath = process.execPath;
    await runner.runAsync();
    return { runner, step: interpret(runner.stdout, runner.stderr, 0, 0), temp };
  } finally {
    delete process.env.MOCK_SCENARIO;
    delete process.env.MOCK_TEMP_DIRECTORY;
  }
}

describe('task glue under task-lib mocks', function () {
  this.timeout(30_000);

  it('writes every planned variable and succeeds, naming the identity', async () => {
    const { runner, step, temp } = await runScenario('success');
    assert.ok(runner.succeeded, runner.stdout);
    assert.equal(
      step.result?.message,
      'Later steps of this job can sign in to Azure as 11111111-2222-3333-4444-555555555555 in tenant 66666666-7777-8888-9999-000000000000 and subscription aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.',
    );
    const names = step.variables.filter((v) => !v.output).map((v) => v.name);
    assert.ok(
      names.includes('ARM_CLIENT_ID') && names.includes('idToken') && names.includes('AZUREWIF_ACCESS_TOKEN'),
    );
    const file = step.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')?.value ?? '';
    assert.ok(file.startsWith(temp + path.sep), file);
    assert.deepEqual(JSON.parse(step.taskVariables.AZUREWIF_CREATED_PATHS), [path.dirname(file)]);
  });

  it('uploads the run summary it wrote', async () => {
    const { runner, step, temp } = await runScenario('success');
    assert.ok(runner.succeeded, runner.stdout);
    const uploads = step.commands.filter((c) => c.area === 'task' && c.event === 'uploadsummary');
    assert.equal(uploads.length, 1);
    assert.ok(uploads[0].data.startsWith(temp + path.sep), uploads[0].data);
    assert.ok(fs.readFileSync(uploads[0].data, 'utf8').startsWith('## Azure workload identity\n'));
    assert.equal(step.taskVariables.AZUREWIF_SUMMARY_FILE, uploads[0].data);
  });

  it('still succeeds, with a warning, when the summary cannot be written', async () => {
    const { runner, step } = await runScenario('summary-unwritable');
    assert.ok(runner.succeeded, runner.stdout);
    assert.deepEqual(step.warnings, [
      'Could not write the run summary: ENOSPC: no space left on device, mkdtemp. The variables are set; only the summary tab is missing.',
    ]);
    assert.ok(!step.commands.some((c) => c.event === 'uploadsummary'));
    assert.ok(step.variables.some((v) => v.name === 'ARM_CLIENT_ID'));
  });

  it('fails naming the input when no connection is given', async () => {
    const { runner, step } = await runScenario('missing-input');
    assert.ok(runner.failed);
    assert.equal(
      step.result?.message,
      "The input 'connectedServiceNameARM' (YAML: azureSubscription) is empty, so the task does not know which service connection to use. " +
        'Set azureSubscription to the name of an Azure Resource Manager service connection that uses workload identity federation.',
    );
  });

  it('fails naming the scheme of a non-WIF connection', async () => {
    const { runner, step } = await runScenario('service-principal');
    assert.ok(runner.failed);
    assert.match(
      step.result?.message ?? '',
      new RegExp(
        `^Service connection ${CONNECTION} uses the authentication scheme 'ServicePrincipal', but this task needs 'WorkloadIdentityFederation'\\.`,
      ),
    );
  });

  it('fails clearly without the job access token', async () => {
    const { runner, step } = await runScenario('no-job-token');
    assert.ok(runner.failed);
    assert.match(
      step.result?.message ?? '',
      /^The agent did not give the task the job access token \(endpoint SYSTEMVSSCONNECTION\)/,
    );
  });

  it('fails clearly when the agent gives no Agent.TempDirectory for the token file', async () => {
    const { runner, step } = await runScenario('success', false);
    assert.ok(runner.failed);
    assert.equal(
      step.result?.message,
      'The agent did not set Agent.TempDirectory, where the task keeps its token file. Run the task on agent 4.248.0 or newer.',
    );
  });

  it('does not quote an unreadable endpoint authorization, which may hold a secret', async () => {
    const { runner, step } = await runScenario('corrupt-authorization');
    assert.ok(runner.failed);
    assert.equal(
      step.result?.message,
      `The agent passed the authorization of endpoint ${CONNECTION} in a form the task cannot read (not JSON). Update the agent to the latest version and re-run the job.`,
    );
    assert.ok(!runner.stdout.includes('spn-secret-value-987654321'));
  });

  it('never prints the job access token outside a setsecret command', async () => {
    const { runner } = await runScenario('success');
    const lines = runner.stdout.split('\n').filter((line) => line.includes(JOB_TOKEN));
    assert.deepEqual(
      lines.map((line) => line.trim()),
      [`##vso[task.setsecret]${JOB_TOKEN}`],
    );
  });

  it('starts the renewer after success, handing it the job access token (not on its command line) and its files', async () => {
    const { runner, step, temp } = await runScenario('success');
    assert.ok(runner.succeeded, runner.stdout);
    const workDirectory = path.dirname(
      step.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')?.value ?? '',
    );
    assert.ok(workDirectory.startsWith(temp + path.sep));
    const launch = step.plainLines.find((line) => line.startsWith('mock renewer launch: '));
    assert.deepEqual(JSON.parse(launch!.slice('mock renewer launch: '.length)), {
      workDirectory,
      configFile: path.join(workDirectory, 'token-command.json'),
      secretKeys: ['jobAccessToken', 'proxyPassword'],
      jobAccessTokenHandedOver: true,
    });
    assert.ok(
      step.plainLines.includes(
        'Started the token renewer (pid 4242): it keeps the federated token file fresh until the job ends; the post-job step stops it.',
      ),
    );
  });

  it('starts no renewer when renewTokens is false', async () => {
    const { runner, step } = await runScenario('no-renewer');
    assert.ok(runner.succeeded, runner.stdout);
    assert.ok(!step.plainLines.some((line) => /renewer/.test(line)), step.plainLines.join('\n'));
  });

  it('fails naming renewTokens when it is neither true nor false', async () => {
    const { runner, step } = await runScenario('bad-renew-input');
    assert.ok(runner.failed);
    assert.equal(
      step.result?.message,
      "The input 'renewTokens' is 'yes', which is neither true nor false. Set it to true or false.",
    );
  });
});
