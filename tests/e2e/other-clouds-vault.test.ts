import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import type { Emulator, EmulatorConnection } from '../emulator';
import { REPO_ROOT, runProcess, type StepResult } from '../harness/agent';
import {
  EmulatedJob,
  findOnPath,
  leakReport,
  runCommand,
  startEmulator,
  withIdTokenExpiredOnArrival,
} from '../harness/scenario';
import {
  connectionOfStyle,
  describeStep,
  exported,
  laterStepEnvironment,
  withSystemAccessToken,
} from '../interop/support';

/**
 * HashiCorp Vault from the same connection: the bundled task logs in with the idToken at Vault's JWT auth method
 * (the address is the author's own vaultAddress input; the emulator's CA reaches it as the agent's CA), exports
 * VAULT_ADDR, VAULT_NAMESPACE and the secret VAULT_TOKEN, and `azure-wif-token vault-login` gets a new token later.
 */

const VAULT_STEP = path.join(REPO_ROOT, 'build', 'tests', 'harness', 'vault-step.js');
const NAMESPACE = 'admin/team-a';

describe('Vault: the task logs in with the idToken and later steps use the token, or a new one', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;

  before(async () => {
    emulator = await startEmulator();
    connection = connectionOfStyle(emulator, 'azuredevops');
  });
  after(async () => emulator.stop());
  beforeEach(() => {
    emulator.vault.mounts.length = 0;
  });

  function vaultJob(inputs: Record<string, string> = {}): EmulatedJob {
    return EmulatedJob.forConnection(emulator, connection, {
      inputs: { vaultAddress: emulator.url, vaultRole: 'deploy', vaultNamespace: NAMESPACE, ...inputs },
    });
  }

  function trustConnection(options: { audiences?: string[]; subject?: string; path?: string } = {}): void {
    emulator.vault.addRole(
      'deploy',
      emulator.issuerFor(connection),
      options.subject ?? emulator.subjectFor(connection),
      {
        namespace: NAMESPACE,
        policies: ['default', 'deploy'],
        ...options,
      },
    );
  }

  function roleFix(): string {
    return (
      `vault write -namespace=${NAMESPACE} auth/jwt/role/deploy role_type=jwt bound_audiences=api://AzureADTokenExchange ` +
      `bound_subject=${emulator.subjectFor(connection)} user_claim=sub token_policies=<policies>`
    );
  }

  /** The Azure DevOps issuer's connections get the retirement note on every Vault failure. */
  function retirementNote(): string {
    return (
      `The Vault trust names the Azure DevOps issuer (${emulator.issuerFor(connection)}), which Microsoft retires on 2027-07-01. ` +
      'When you convert the service connection to the Microsoft Entra issuer, change the Vault trust to the new issuer and subject the task then logs, in the same change.'
    );
  }

  function failure(step: StepResult): string {
    assert.equal(step.result?.result, 'Failed', describeStep(step));
    return step.result.message;
  }

  const refused = `Vault at https://127.0.0.1:PORT refused the idToken for the role deploy at auth/jwt in namespace ${NAMESPACE}`;
  const withPort = (text: string) => text.replace('https://127.0.0.1:PORT', emulator.url);

  it('exports VAULT_ADDR, VAULT_NAMESPACE and the secret VAULT_TOKEN, which works in a later step; vault-login gets a new one', async () => {
    trustConnection();
    const job = vaultJob();
    const task = await job.runTask();
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));
    const token = exported(task, 'VAULT_TOKEN');
    assert.deepEqual(
      task.variables.filter((v) => v.name.startsWith('VAULT_')).map((v) => [v.name, v.secret]),
      [
        ['VAULT_ADDR', false],
        ['VAULT_NAMESPACE', false],
        ['VAULT_TOKEN', true],
        ['VAULT_TOKEN_EXPIRES_ON', false],
      ],
    );
    // The connection uses the Azure DevOps issuer: the Vault trust has to move with the connection's conversion.
    assert.ok(task.warnings.includes(retirementNote()), task.warnings.join('\n'));
    assert.equal(exported(task, 'VAULT_ADDR'), emulator.url);
    assert.equal(exported(task, 'VAULT_NAMESPACE'), NAMESPACE);
    assert.ok(task.secrets.includes(token));
    const expires = Date.parse(exported(task, 'VAULT_TOKEN_EXPIRES_ON'));
    assert.ok(Math.abs(expires - (Date.now() + 1200_000)) < 60_000, exported(task, 'VAULT_TOKEN_EXPIRES_ON'));
    const [login] = emulator.requests.filter((r) => r.kind === 'vault');
    assert.equal(login.headers['x-vault-namespace'], NAMESPACE);
    assert.deepEqual(Object.keys(JSON.parse(login.body) as object), ['role', 'jwt']);

    // Unmapped, a step has no token (it is a secret); mapped with env: VAULT_TOKEN: $(VAULT_TOKEN), it works.
    const unmapped = await runProcess(VAULT_STEP, laterStepEnvironment(job, [task]));
    assert.equal(unmapped.exitCode, 2, describeStep(unmapped));
    const mapped = await runProcess(
      VAULT_STEP,
      laterStepEnvironment(job, [task], { VAULT_TOKEN: 'VAULT_TOKEN' }),
    );
    assert.equal(mapped.exitCode, 0, describeStep(mapped));
    assert.deepEqual(JSON.parse(mapped.stdout), { policies: ['default', 'deploy'], path: 'auth/jwt/login' });

    // Later: a new Vault token from a fresh idToken.
    const env = withSystemAccessToken(emulator, laterStepEnvironment(job, [task]));
    const command = findOnPath('azure-wif-token', env.PATH);
    assert.ok(command, env.PATH);
    const renewed = await runCommand(command, ['vault-login'], env);
    assert.equal(renewed.exitCode, 0, describeStep(renewed));
    const newToken = renewed.stdout.trim();
    assert.notEqual(newToken, token);
    assert.ok(emulator.vault.issuedTokens.includes(newToken));
    assert.ok(renewed.stderr.includes(`##vso[task.setsecret]${newToken}`));
    const again = await runProcess(VAULT_STEP, {
      ...laterStepEnvironment(job, [task]),
      VAULT_TOKEN: newToken,
    });
    assert.equal(again.exitCode, 0, describeStep(again));
    assert.deepEqual(leakReport(emulator, [task, mapped, renewed]), []);
  });

  it('fails with the role command when the role is bound to another audience (wrong audience)', async () => {
    trustConnection({ audiences: ['https://vault.example.com'] });
    const task = await vaultJob().runTask();
    assert.equal(
      failure(task),
      withPort(
        `${refused}: the role does not allow the audience api://AzureADTokenExchange. Set it with: ${roleFix()}. ` +
          'Vault said: error validating token: invalid audience (aud) claim: audience claim does not match any expected audience ' +
          retirementNote(),
      ),
    );
  });

  it('fails with the role command when the role is bound to another subject (wrong subject)', async () => {
    trustConnection({ subject: 'sc://contoso/WebApp/old-name' });
    const task = await vaultJob().runTask();
    assert.equal(
      failure(task),
      withPort(
        `${refused}: the role is bound to another subject. Bind it to this connection with: ${roleFix()}. ` +
          `Vault said: sub claim does not match bound subject ${retirementNote()}`,
      ),
    );
  });

  it('fails on the clocks when Vault sees the idToken expired (expired token)', async () => {
    trustConnection();
    await withIdTokenExpiredOnArrival(emulator, 'vault', async () => {
      const task = await vaultJob().runTask();
      assert.equal(
        failure(task),
        withPort(
          `${refused}: the idToken had expired when Vault checked it. ` +
            "Check that the agent machine's and Vault's clocks are right and re-run the job; later steps use azure-wif-token vault-login for a new token. " +
            `Vault said: error validating token: token is expired ${retirementNote()}`,
        ),
      );
    });
  });

  it('fails with the role command when the role does not exist', async () => {
    trustConnection();
    const task = await vaultJob({ vaultRole: 'deploy-prod' }).runTask();
    assert.equal(
      failure(task),
      withPort(
        `${refused.replace('role deploy', 'role deploy-prod')}: the role does not exist. Create it with: ${roleFix().replace('role/deploy', 'role/deploy-prod')}. ` +
          `Vault said: role "deploy-prod" could not be found ${retirementNote()}`,
      ),
    );
  });

  it('fails with the enable command when no JWT auth method answers at the path (permission denied)', async () => {
    trustConnection();
    const task = await vaultJob({ vaultAuthPath: 'azure-devops' }).runTask();
    const iss = emulator.issuerFor(connection);
    assert.equal(
      failure(task),
      withPort(
        `${refused.replace('auth/jwt', 'auth/azure-devops')}: no JWT auth method answers at auth/azure-devops in that namespace. ` +
          `Enable it with: vault auth enable -namespace=${NAMESPACE} -path=azure-devops jwt, then vault write -namespace=${NAMESPACE} auth/azure-devops/config oidc_discovery_url=${iss} bound_issuer=${iss}, ` +
          `or correct the inputs vaultAuthPath and vaultNamespace. Vault said: permission denied ${retirementNote()}`,
      ),
    );
  });

  it('vault-login tells the author to configure Vault when the task had none', async () => {
    const job = EmulatedJob.forConnection(emulator, connection);
    const task = await job.runTask();
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));
    const env = withSystemAccessToken(emulator, laterStepEnvironment(job, [task]));
    const step = await runCommand(
      findOnPath('azure-wif-token', env.PATH) ?? 'azure-wif-token',
      ['vault-login'],
      env,
    );
    assert.equal(step.exitCode, 2);
    assert.equal(
      step.stderr.trim(),
      '##[error]azure-wif-token vault-login: the task that installed this command has no Vault configured. Set its input vaultAddress (and vaultRole).',
    );
  });

  it('refuses a Vault address that is not a URL before any request', async () => {
    emulator.clearRequests();
    const task = await vaultJob({ vaultAddress: 'vault.example.com:8200' }).runTask();
    assert.equal(
      failure(task),
      "The input 'vaultAddress' is 'vault.example.com:8200', which is not a Vault address. Set it to the URL VAULT_ADDR would hold, e.g. https://vault.example.com:8200.",
    );
    assert.equal(emulator.requests.length, 0);
  });
});
