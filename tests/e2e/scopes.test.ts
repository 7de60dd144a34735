import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { AZURE_STACK_AUDIENCE, type Emulator } from '../emulator';
import type { StepResult } from '../harness/agent';
import { EmulatedJob, SUBSCRIPTION_ID, leakReport, startEmulator } from '../harness/scenario';

function decode(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

function value(step: StepResult, name: string): string | undefined {
  return step.variables.find((v) => v.name === name && !v.output)?.value;
}

describe('more than Resource Manager: extra resources, scopes, several connections', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  const steps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator();
  });
  after(async () => emulator?.stop());
  afterEach(() => {
    emulator.clearScripts();
    emulator.clearRequests();
  });

  function job(inputs: Record<string, string> = {}, connectionIndex = 0): EmulatedJob {
    return EmulatedJob.forConnection(emulator, emulator.options.connections[connectionIndex], { inputs });
  }

  async function run(j: EmulatedJob): Promise<StepResult> {
    const step = await j.runTask();
    steps.push(step);
    return step;
  }

  it('gets a token per extra resource, with the right audience, from the same idToken', async () => {
    const step = await run(
      job({ resources: 'graph, keyvault\nstorage, devops\nSQL=https://database.windows.net/' }),
    );
    assert.equal(step.result?.result, 'Succeeded', step.stdout);
    const expected: Record<string, string> = {
      GRAPH: 'https://graph.microsoft.com',
      KEYVAULT: 'https://vault.azure.net',
      STORAGE: 'https://storage.azure.com',
      DEVOPS: '499b84ac-1321-427f-aa17-267ca6975798',
      SQL: 'https://database.windows.net',
    };
    for (const [name, audience] of Object.entries(expected)) {
      const variable = step.variables.find((v) => v.name === `AZUREWIF_ACCESS_TOKEN_${name}`)!;
      assert.equal(variable.secret, true, name);
      assert.equal(decode(variable.value).aud, audience, name);
      const expiry = value(step, `AZUREWIF_ACCESS_TOKEN_${name}_EXPIRES_ON`)!;
      // MSAL computes the expiry from expires_in on its own clock: within a second or two of the token's exp.
      assert.ok(
        Math.abs(new Date(expiry).getTime() / 1000 - (decode(variable.value).exp as number)) <= 2,
        name,
      );
    }
    assert.equal(emulator.count('oidctoken'), 1);
    assert.equal(emulator.count('token'), 6);
    const assertions = new Set(
      emulator.requests
        .filter((r) => r.kind === 'token')
        .map((r) => new URLSearchParams(r.body).get('client_assertion')),
    );
    assert.equal(assertions.size, 1);
  });

  it('names the resource when Entra refuses a token for it, after the Resource Manager token succeeded', async () => {
    emulator.script('token', [{}]);
    emulator.failNext('token', 700016);
    const step = await run(job({ resources: 'graph' }));
    assert.equal(step.result?.result, 'Failed');
    assert.match(
      step.result?.message ?? '',
      /^For the resource GRAPH \(https:\/\/graph\.microsoft\.com\): Entra ID refused the idToken for client .* AADSTS700016/,
    );
  });

  it('refuses a bad resources entry before asking for any token', async () => {
    const step = await run(job({ resources: 'graph, vault' }));
    assert.equal(step.result?.result, 'Failed');
    assert.match(
      step.result?.message ?? '',
      /^The resources input has the entry 'vault', which is not an alias, a URI or a GUID\./,
    );
    assert.equal(emulator.requests.length, 0);
  });

  it('exports no subscription for a management-group connection, and the group id instead', async () => {
    const j = job();
    j.job.connection.data = {
      ...j.job.connection.data,
      scopeLevel: 'ManagementGroup',
      managementGroupId: 'platform-root',
    };
    delete j.job.connection.data.subscriptionId;
    const step = await run(j);
    assert.equal(step.result?.result, 'Succeeded', step.stdout);
    for (const name of ['ARM_SUBSCRIPTION_ID', 'AZURE_SUBSCRIPTION_ID', 'subscriptionId']) {
      assert.ok(!step.variables.some((v) => v.name === name), name);
    }
    assert.equal(value(step, 'AZUREWIF_MANAGEMENT_GROUP_ID'), 'platform-root');
    assert.equal(
      step.variables.find((v) => v.output && v.name === 'managementGroupId')?.value,
      'platform-root',
    );
    assert.match(step.result?.message ?? '', /in tenant [0-9a-f-]+\.$/);
  });

  it('exports the workspace of a Machine Learning connection', async () => {
    const j = job();
    j.job.connection.data = {
      ...j.job.connection.data,
      scopeLevel: 'AzureMLWorkspace',
      resourceGroupName: 'ml-rg',
      mlWorkspaceName: 'ws1',
      mlWorkspaceLocation: 'westeurope',
    };
    const step = await run(j);
    assert.equal(step.result?.result, 'Succeeded', step.stdout);
    assert.deepEqual(
      [
        'AZUREWIF_RESOURCE_GROUP',
        'AZUREWIF_ML_WORKSPACE_NAME',
        'AZUREWIF_ML_WORKSPACE_LOCATION',
        'ARM_SUBSCRIPTION_ID',
      ].map((name) => value(step, name)),
      ['ml-rg', 'ws1', 'westeurope', SUBSCRIPTION_ID],
    );
  });

  it('discovers an Azure Stack Hub authority and audience from its Resource Manager metadata', async () => {
    const j = job();
    j.job.connection.url = `${emulator.url}/`;
    j.job.connection.data = {
      environment: 'AzureStack',
      scopeLevel: 'Subscription',
      subscriptionId: SUBSCRIPTION_ID,
    };
    const step = await run(j);
    assert.equal(step.result?.result, 'Succeeded', step.stdout);
    assert.deepEqual(
      emulator.requests.map((r) => `${r.method} ${r.path}`),
      [
        'GET /metadata/endpoints',
        `POST ${new URL(emulator.oidcRequestUri).pathname}`,
        `POST /${emulator.options.connections[0].tenantId}/oauth2/v2.0/token`,
      ],
    );
    assert.equal(decode(value(step, 'AZUREWIF_ACCESS_TOKEN')!).aud, AZURE_STACK_AUDIENCE);
    assert.equal(value(step, 'AZURE_AUTHORITY_HOST'), `${emulator.url}/`);
  });

  it('refuses a resources typo before any request, even the Azure Stack Hub metadata call', async () => {
    const j = job({ resources: 'graph, ftp://files.example.com' });
    j.job.connection.url = `${emulator.url}/`;
    j.job.connection.data = { environment: 'AzureStack' };
    const step = await run(j);
    assert.equal(
      step.result?.message,
      "The resources input has the entry 'ftp://files.example.com', which is not an https or api:// URI. " +
        'List one resource per line or comma-separated: graph, keyvault, storage, devops, a resource URI such as https://database.windows.net, an application id GUID, or NAME=<uri or GUID>.',
    );
    assert.deepEqual(emulator.requests, []);
  });

  it("refuses an alias the Azure Stack Hub's metadata does not name, before any token is requested", async () => {
    const j = job({ resources: 'devops' });
    j.job.connection.url = `${emulator.url}/`;
    j.job.connection.data = { environment: 'AzureStack' };
    const step = await run(j);
    assert.equal(
      step.result?.message,
      "The resources input has the entry 'devops', which names devops, which the cloud AzureStack does not have. " +
        'List one resource per line or comma-separated: graph, keyvault, storage, devops, a resource URI such as https://database.windows.net, an application id GUID, or NAME=<uri or GUID>.',
    );
    assert.deepEqual(
      emulator.requests.map((r) => `${r.method} ${r.path}`),
      ['GET /metadata/endpoints'],
    );
  });

  it('refuses an Azure Stack Hub that uses AD FS, which cannot federate', async () => {
    emulator.script('other', [
      {
        status: 200,
        body: {
          authentication: {
            loginEndpoint: 'https://adfs.local.azurestack.external/adfs/',
            audiences: ['https://x'],
          },
        },
      },
    ]);
    const j = job();
    j.job.connection.url = `${emulator.url}/`;
    j.job.connection.data = { environment: 'AzureStack' };
    const step = await run(j);
    assert.equal(
      step.result?.message,
      `Service connection ${emulator.options.connections[0].id} targets an Azure Stack Hub that uses AD FS (https://adfs.local.azurestack.external/adfs/), which cannot federate with Azure DevOps. ` +
        "Use a service connection to an Azure Stack Hub that uses Microsoft Entra ID, or a secret-based connection with Microsoft's Azure tasks.",
    );
  });

  it("keeps two instances apart with a prefix: the second leaves the first one's variables and files intact", async () => {
    const first = job({}, 0);
    const second = new EmulatedJob(emulator, {
      ...job({ variablePrefix: 'STATE_' }, 1).job,
      tempDirectory: first.job.tempDirectory,
    });
    const a = await run(first);
    const b = await run(second);
    assert.equal(a.result?.result, 'Succeeded', a.stdout);
    assert.equal(b.result?.result, 'Succeeded', b.stdout);
    const [c0, c1] = emulator.options.connections;
    // Every non-output name of the second instance carries the prefix; none collides with the first.
    const firstNames = new Set(a.variables.filter((v) => !v.output).map((v) => v.name));
    for (const v of b.variables.filter((x) => !x.output)) {
      assert.ok(v.name.startsWith('STATE_'), v.name);
      assert.ok(!firstNames.has(v.name), v.name);
    }
    const env = first.nextStepEnvironment([a, b]);
    assert.equal(env.ARM_CLIENT_ID, c0.clientId);
    assert.equal(env.STATE_ARM_CLIENT_ID, c1.clientId);
    const fileA = env.AZURE_FEDERATED_TOKEN_FILE;
    const fileB = env.STATE_AZURE_FEDERATED_TOKEN_FILE;
    assert.notEqual(fileA, fileB);
    assert.equal(decode(fs.readFileSync(fileA, 'utf8')).sub, emulator.subjectFor(c0));
    assert.equal(decode(fs.readFileSync(fileB, 'utf8')).sub, emulator.subjectFor(c1));
    // Each instance has its own command on PATH.
    assert.match(b.prependedPaths[0], /bin$/);
    assert.deepEqual(fs.readdirSync(b.prependedPaths[0]).sort(), [
      'azure-wif-token-state',
      'azure-wif-token-state.cmd',
    ]);
    assert.ok(fs.existsSync(`${a.prependedPaths[0]}/azure-wif-token`));
  });

  it('refuses a prefix that cannot start a variable name', async () => {
    const step = await run(job({ variablePrefix: '1-bad' }));
    assert.equal(
      step.result?.message,
      "The input 'variablePrefix' is '1-bad', which cannot start a variable name. Use letters, digits and _ starting with a letter, for example STATE_.",
    );
  });

  it('printed no secret in any run above', () => {
    assert.deepEqual(leakReport(emulator, steps), []);
  });
});
