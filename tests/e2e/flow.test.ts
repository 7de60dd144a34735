import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator, EmulatorConnection } from '../emulator';
import { environmentName, expandMacros, jobVariables, type StepResult } from '../harness/agent';
import { EmulatedJob, SUBSCRIPTION_ID, leakReport, startEmulator } from '../harness/scenario';

const AUDIENCE = 'api://AzureADTokenExchange';

function variable(step: StepResult, name: string, output = false) {
  const found = step.variables.filter((v) => v.name === name && v.output === output);
  assert.equal(found.length, 1, `${name} (output=${output}) set ${found.length} times`);
  return found[0];
}

function decode(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

describe('the bundled task, run as the agent runs it, against the emulator', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let entraConnection: EmulatorConnection;
  let devopsConnection: EmulatorConnection;
  const allSteps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator();
    entraConnection = emulator.options.connections.find((c) => c.issuerStyle === 'entra')!;
    devopsConnection = emulator.options.connections.find((c) => c.issuerStyle === 'azuredevops')!;
    assert.ok(
      entraConnection && devopsConnection,
      'the default scenario has one connection of each issuer style',
    );
  });

  after(async () => {
    await emulator?.stop();
  });

  beforeEach(() => emulator.clearRequests());

  async function run(job: EmulatedJob): Promise<StepResult> {
    const step = await job.runTask();
    allSteps.push(step);
    return step;
  }

  for (const style of ['entra', 'azuredevops'] as const) {
    it(`makes one Oidctoken request and one token request per run (${style} issuer, AzureCloud)`, async () => {
      const connection = style === 'entra' ? entraConnection : devopsConnection;
      const step = await run(EmulatedJob.forConnection(emulator, connection));
      assert.equal(step.result?.result, 'Succeeded', step.stdout);
      assert.equal(emulator.count('oidctoken'), 1);
      assert.equal(emulator.count('token'), 1);
      assert.equal(
        emulator.requests.length,
        2,
        emulator.requests.map((r) => `${r.method} ${r.path}`).join('\n'),
      );
    });
  }

  it('makes one request of each kind against a custom authority (Azure Stack style)', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    job.job.connection.data = {
      environment: 'AzureStack',
      scopeLevel: 'Subscription',
      subscriptionId: SUBSCRIPTION_ID,
      activeDirectoryAuthority: emulator.authorityHost,
      activeDirectoryServiceEndpointResourceId: 'https://management.local.azurestack.external/',
    };
    const step = await run(job);
    assert.equal(step.result?.result, 'Succeeded', step.stdout);
    assert.equal(emulator.requests.length, 2);
    const accessToken = variable(step, 'AZUREWIF_ACCESS_TOKEN').value;
    assert.equal(decode(accessToken).aud, 'https://management.local.azurestack.external/');
    assert.equal(
      step.variables.some((v) => v.name === 'ARM_ENVIRONMENT'),
      false,
    );
  });

  it('uses the collection-URI route when the agent gives no System.OidcRequestUri', async () => {
    const step = await run(
      EmulatedJob.forConnection(emulator, entraConnection, { oidcRequestUri: undefined }),
    );
    assert.equal(step.result?.result, 'Succeeded', step.stdout);
    const [request] = emulator.requests.filter((r) => r.kind === 'oidctoken');
    assert.equal(request.query['api-version'], '7.1-preview.1');
    assert.equal(request.body, '{}');
    assert.equal(
      variable(step, 'ARM_OIDC_REQUEST_URL').value,
      `${emulator.collectionUri}${emulator.options.projectId}/_apis/distributedtask/hubs/build/plans/${emulator.options.planId}/jobs/${emulator.options.jobId}/oidctoken`,
    );
  });

  it('sets every variable with the right value and secrecy', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    const step = await run(job);
    const idToken = emulator.issuedIdTokens.at(-1)!;
    const accessToken = emulator.issuedAccessTokens.at(-1)!;
    const tokenFile = variable(step, 'AZURE_FEDERATED_TOKEN_FILE').value;
    const idTokenExpiry = new Date((decode(idToken).exp as number) * 1000).toISOString();
    const accessTokenExpiry = variable(step, 'AZUREWIF_ACCESS_TOKEN_EXPIRES_ON').value;
    const { clientId, tenantId, id } = entraConnection;
    const expected: Array<[string, string, boolean]> = [
      ['ARM_CLIENT_ID', clientId, false],
      ['ARM_TENANT_ID', tenantId, false],
      ['ARM_SUBSCRIPTION_ID', SUBSCRIPTION_ID, false],
      ['ARM_USE_OIDC', 'true', false],
      ['ARM_ENVIRONMENT', 'public', false],
      ['ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID', id, false],
      ['ARM_OIDC_AZURE_SERVICE_CONNECTION_ID', id, false],
      ['ARM_OIDC_REQUEST_URL', emulator.oidcRequestUri, false],
      ['ARM_OIDC_TOKEN', idToken, true],
      ['AZURE_CLIENT_ID', clientId, false],
      ['AZURE_TENANT_ID', tenantId, false],
      ['AZURE_SUBSCRIPTION_ID', SUBSCRIPTION_ID, false],
      ['AZURE_AUTHORITY_HOST', emulator.authorityHost, false],
      ['AZURE_FEDERATED_TOKEN_FILE', tokenFile, false],
      ['AZURESUBSCRIPTION_SERVICE_CONNECTION_ID', id, false],
      ['AZURESUBSCRIPTION_CLIENT_ID', clientId, false],
      ['AZURESUBSCRIPTION_TENANT_ID', tenantId, false],
      ['servicePrincipalId', clientId, false],
      ['tenantId', tenantId, false],
      ['idToken', idToken, true],
      ['AZUREWIF_ACCESS_TOKEN', accessToken, true],
      ['AZUREWIF_ACCESS_TOKEN_EXPIRES_ON', accessTokenExpiry, false],
      ['AZUREWIF_ID_TOKEN_EXPIRES_ON', idTokenExpiry, false],
    ];
    assert.deepEqual(
      step.variables.filter((v) => !v.output).map((v) => [v.name, v.value, v.secret]),
      expected,
    );
    const accessClaims = decode(accessToken);
    assert.equal(
      Math.abs(new Date(accessTokenExpiry).getTime() / 1000 - (accessClaims.exp as number)) <= 1,
      true,
    );
    assert.deepEqual(
      step.variables.filter((v) => v.output).map((v) => [v.name, v.value, v.secret]),
      [
        ['serviceConnectionId', id, false],
        ['clientId', clientId, false],
        ['azureTenantId', tenantId, false],
        ['subscriptionId', SUBSCRIPTION_ID, false],
        ['authorityHost', emulator.authorityHost, false],
        ['oidcTokenExpiresOn', idTokenExpiry, false],
        ['accessTokenExpiresOn', accessTokenExpiry, false],
      ],
    );
    // Only the AzureCLI@2 names ask the agent to keep their case.
    assert.deepEqual(
      step.variables.filter((v) => v.preserveCase).map((v) => v.name),
      ['servicePrincipalId', 'tenantId'],
    );
    assert.ok(!step.variables.some((v) => v.value.includes(emulator.options.jobAccessToken!)));
    // Every secret is registered with the agent before it is set.
    for (const secret of [idToken, accessToken]) assert.ok(step.secrets.includes(secret));
  });

  it('writes the idToken, and nothing else, to a 0600 file in a 0700 directory under Agent.TempDirectory', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    const step = await run(job);
    const tokenFile = variable(step, 'AZURE_FEDERATED_TOKEN_FILE').value;
    assert.equal(path.dirname(path.dirname(tokenFile)), job.job.tempDirectory);
    assert.equal(fs.readFileSync(tokenFile, 'utf8'), emulator.issuedIdTokens.at(-1));
    assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(tokenFile)).mode & 0o777, 0o700);
    // Beside it, none secret: the agent's CA joined to the system roots, azure-wif-token's launcher and config,
    // and the renewer's pid (recorded by the task as it starts it; its log and state follow once it runs).
    const directory = path.dirname(tokenFile);
    assert.deepEqual(
      fs
        .readdirSync(directory)
        .filter((name) => !['renewer.log', 'renewer.state.json'].includes(name))
        .sort(),
      ['bin', 'ca-bundle.pem', 'federated-token.jwt', 'renewer.pid', 'token-command.json'],
    );
    const config = fs.readFileSync(path.join(directory, 'token-command.json'), 'utf8');
    for (const secret of [
      ...emulator.issuedIdTokens,
      ...emulator.issuedAccessTokens,
      emulator.options.jobAccessToken!,
    ]) {
      assert.ok(!config.includes(secret));
    }
    assert.deepEqual(step.prependedPaths, [path.join(directory, 'bin')]);
  });

  it('gives a later step the plain variables but no secret unless the step maps it', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    const step = await run(job);
    const env = job.nextStepEnvironment([step]);
    for (const v of step.variables.filter((x) => !x.output)) {
      assert.equal(env[environmentName(v.name, v.preserveCase)], v.secret ? undefined : v.value, v.name);
    }
    // Scripts written for AzureCLI@2 read these names as it gives them (Tasks/AzureCLIV2/azureclitask.ts).
    assert.equal(env.servicePrincipalId, entraConnection.clientId);
    assert.equal(env.tenantId, entraConnection.tenantId);
    for (const value of Object.values(env)) {
      for (const secret of [
        ...emulator.issuedIdTokens,
        ...emulator.issuedAccessTokens,
        emulator.options.jobAccessToken!,
      ]) {
        assert.ok(!value.includes(secret), 'a secret reached the next step unmapped');
      }
    }
    const mapped = job.nextStepEnvironment([step], { ARM_OIDC_TOKEN: 'ARM_OIDC_TOKEN' });
    assert.equal(mapped.ARM_OIDC_TOKEN, emulator.issuedIdTokens.at(-1));
  });

  it('gives later steps $(tenantId), $(servicePrincipalId) and a mapped $(idToken), and later jobs the outputs under the step name', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    job.stepName = 'wif';
    const step = await run(job);
    const variables = jobVariables([step]);
    assert.equal(
      expandMacros('$(tenantId) $(servicePrincipalId)', variables),
      `${entraConnection.tenantId} ${entraConnection.clientId}`,
    );
    const env = job.nextStepEnvironment([step], { ID_TOKEN: '$(idToken)', TENANT: '$(wif.azureTenantId)' });
    assert.equal(env.ID_TOKEN, emulator.issuedIdTokens.at(-1));
    assert.equal(env.TENANT, entraConnection.tenantId);
    assert.equal(env.WIF_AZURETENANTID, entraConnection.tenantId);
    assert.equal(env.AZURETENANTID, undefined);
  });

  it('lets a later step get a Resource Manager token from Entra with the exported variables alone', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    const step = await run(job);
    emulator.clearRequests();
    const next = await job.runNextStep([step]);
    allSteps.push(next);
    assert.equal(next.exitCode, 0, next.stderr);
    assert.deepEqual(JSON.parse(next.stdout), {
      aud: 'https://management.azure.com',
      appid: entraConnection.clientId,
      tid: entraConnection.tenantId,
      expires_in: JSON.parse(next.stdout).expires_in,
    });
    assert.equal(emulator.count('token'), 1);
  });

  it('leaves a later step without the variables unable to sign in (the check above can fail)', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    const next = await job.runNextStep([]);
    assert.equal(next.exitCode, 2);
    assert.equal(
      next.stderr.trim(),
      'missing variables: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_AUTHORITY_HOST, AZURE_FEDERATED_TOKEN_FILE',
    );
  });

  it('removes the token file and its directory in the post-job step, and says so', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    const step = await run(job);
    const tokenFile = variable(step, 'AZURE_FEDERATED_TOKEN_FILE').value;
    const post = await job.runPostJob(step);
    allSteps.push(post);
    assert.equal(fs.existsSync(path.dirname(tokenFile)), false);
    assert.ok(
      post.plainLines.includes(`Removed ${path.dirname(tokenFile)} and the token file in it.`),
      post.stdout,
    );
  });

  it('fails naming the scheme of a secret-based connection, without calling either service', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    job.job.connection.scheme = 'ServicePrincipal';
    job.job.connection.authParameters.authenticationType = 'spnKey';
    const step = await run(job);
    assert.equal(step.result?.result, 'Failed');
    assert.equal(
      step.result?.message,
      `Service connection ${entraConnection.id} uses the authentication scheme 'ServicePrincipal' (spnKey), but this task needs 'WorkloadIdentityFederation'. ` +
        'Open Project settings > Service connections, select the connection and choose "Convert" to switch it to workload identity federation, ' +
        'or create a new Azure Resource Manager connection with "Workload identity federation".',
    );
    assert.equal(emulator.requests.length, 0);
  });

  it('fails naming the input when the connection input is missing', async () => {
    const step = await run(EmulatedJob.forConnection(emulator, entraConnection, { input: '' }));
    assert.equal(step.result?.result, 'Failed');
    assert.match(
      step.result?.message ?? '',
      /^The input 'connectedServiceNameARM' \(YAML: azureSubscription\) is empty/,
    );
  });

  it('fails with the federated credential to configure when Entra finds no match for the subject', async () => {
    const job = EmulatedJob.forConnection(emulator, entraConnection);
    emulator.failNext('token', 700213);
    const step = await run(job);
    assert.equal(step.result?.result, 'Failed');
    const claims = decode(emulator.issuedIdTokens.at(-1)!);
    assert.match(
      step.result?.message ?? '',
      new RegExp(
        `^Entra ID refused the idToken for client ${entraConnection.clientId} in tenant ${entraConnection.tenantId}: No federated credential on the identity matches the idToken's subject`,
      ),
    );
    assert.ok(step.result?.message.includes(`subject '${String(claims.sub)}' and audience '${AUDIENCE}'`));
    assert.ok(step.result?.message.includes('AADSTS700213'));
  });

  it('runs with system.debug=true and still prints no secret', async () => {
    const step = await run(EmulatedJob.forConnection(emulator, entraConnection, { debug: true }));
    assert.equal(step.result?.result, 'Succeeded');
    assert.ok(
      step.commands.some((c) => c.area === 'task' && c.event === 'debug' && c.data.includes('HTTP 200')),
    );
  });

  it('printed no token or job access token anywhere but in setsecret and secret setvariable commands, across every run above', () => {
    assert.ok(allSteps.length >= 12);
    assert.deepEqual(leakReport(emulator, allSteps), []);
  });
});
