import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator, EmulatorConnection } from '../emulator';
import type { StepResult } from '../harness/agent';
import { runInteropTask } from '../harness/interop-task';
import { EmulatedJob, SUBSCRIPTION_ID, azOrSkip, leakReport, runCommand } from '../harness/scenario';
import {
  CLIENT_ASSERTION_TYPE,
  claimsOf,
  describeStep,
  exported,
  formFields,
  laterStepEnvironment,
  requestLines,
  withMismatchedSubject,
  registerEmulatedAzCloud,
  EMULATED_AZ_CLOUD,
} from '../interop/support';

/**
 * The Azure CLI (Debian's azure-cli package, 2.45) in a later script step, signing in with the exported
 * `servicePrincipalId`, `tenantId` and the secret `idToken` mapped into the step (as scripts written for AzureCLI@2
 * do; the README recommends `--federated-token "@$AZURE_FEDERATED_TOKEN_FILE"`, which keeps the token off az's
 * command line, and a test below runs that too), as in:
 *
 *   - script: az login --service-principal -u "$servicePrincipalId" --tenant "$tenantId" \
 *       --federated-token "$ID_TOKEN" --allow-no-subscriptions
 *     env:
 *       ID_TOKEN: $(idToken)
 *
 * Offline concessions, all in the step's own AZURE_CONFIG_DIR: a cloud registered with the emulator as its
 * Active Directory endpoint (under /adfs: MSAL Python asks login.microsoftonline.com for instance discovery for
 * any other local authority) and Resource Manager endpoint; the emulator's CA through REQUESTS_CA_BUNDLE (TLS is
 * verified); telemetry off, so az starts no upload process that outlives the step.
 */

describe('the Azure CLI in a later step signs in with the variables the task exported', function () {
  this.timeout(60_000);
  let az: string;
  let emulator: Emulator;
  let connection: EmulatorConnection;
  let job: EmulatedJob;
  let task: StepResult;
  /** An AZURE_CONFIG_DIR with the emulated cloud registered and selected; each step gets a copy. */
  let cloudConfig: string;
  const steps: StepResult[] = [];

  before(async function () {
    az = azOrSkip(
      this,
      '    Skipping the Azure CLI interop tests: `az` is not on PATH. ' +
        'CI installs it (.ci/run); locally run `apt-get update && apt-get install -y azure-cli`.',
    );
    ({ emulator, connection, job, task } = await runInteropTask());
    steps.push(task);
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));

    cloudConfig = fs.mkdtempSync(path.join(job.job.tempDirectory, 'az-cloud-'));
    await registerEmulatedAzCloud(az, emulator, cloudConfig, laterStepEnvironment(job, []));
  });

  beforeEach(() => emulator.clearRequests());

  /** What the offline set-up adds to a step's env: its own az profile, the emulator's CA, no telemetry. */
  function azSettings(configDir: string): Record<string, string> {
    return {
      AZURE_CONFIG_DIR: configDir,
      REQUESTS_CA_BUNDLE: emulator.caFile,
      AZURE_CORE_COLLECT_TELEMETRY: 'false',
    };
  }

  /** A later step's env by the agent's rules, `ID_TOKEN: $(idToken)` mapped, with a fresh copy of the cloud. */
  function azStep(fromSteps: StepResult[], mapping: Record<string, string> = { ID_TOKEN: 'idToken' }) {
    const configDir = fs.mkdtempSync(path.join(job.job.tempDirectory, 'az-config-'));
    fs.cpSync(cloudConfig, configDir, { recursive: true });
    return { ...laterStepEnvironment(job, fromSteps, mapping), ...azSettings(configDir) };
  }

  /** `az login` with what the step's shell would expand: unset variables become empty arguments. */
  async function azLogin(env: Record<string, string>): Promise<StepResult> {
    const step = await runCommand(
      az,
      [
        'login',
        '--service-principal',
        '-u',
        env.servicePrincipalId ?? '',
        '--tenant',
        env.tenantId ?? '',
        '--federated-token',
        env.ID_TOKEN ?? '',
        '--allow-no-subscriptions',
        '--output',
        'json',
      ],
      env,
    );
    steps.push(step);
    return step;
  }

  /** Kept out of `steps`: its stdout is the access token itself, which a pipeline would capture, not print. */
  function azGetAccessToken(env: Record<string, string>): Promise<StepResult> {
    return runCommand(
      az,
      ['account', 'get-access-token', '--resource', 'https://management.azure.com/', '--output', 'json'],
      env,
    );
  }

  it('az login --federated-token with the exported idToken, then az account get-access-token for Resource Manager', async () => {
    const env = azStep([task]);
    assert.equal(env.servicePrincipalId, connection.clientId);
    assert.equal(env.tenantId, connection.tenantId);
    const idToken = exported(task, 'idToken');
    assert.ok(env.ID_TOKEN === idToken, 'the mapped ID_TOKEN is not the exported idToken');

    const login = await azLogin(env);
    assert.equal(login.exitCode, 0, describeStep(login, [idToken]));
    const accounts = JSON.parse(login.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(
      accounts.map((a) => ({
        cloudName: a.cloudName,
        id: a.id,
        tenantId: a.tenantId,
        user: a.user,
        isDefault: a.isDefault,
      })),
      [
        {
          cloudName: EMULATED_AZ_CLOUD,
          id: SUBSCRIPTION_ID,
          tenantId: connection.tenantId,
          user: { name: connection.clientId, type: 'servicePrincipal' },
          isDefault: true,
        },
      ],
    );

    const issuedBefore = emulator.issuedAccessTokens.length;
    const get = await azGetAccessToken(env);
    assert.equal(get.exitCode, 0, describeStep(get, emulator.issuedAccessTokens));
    const result = JSON.parse(get.stdout) as Record<string, string>;
    assert.equal(result.tokenType, 'Bearer');
    assert.equal(result.tenant, env.tenantId);
    assert.equal(result.subscription, SUBSCRIPTION_ID);
    assert.ok(
      emulator.issuedAccessTokens.slice(issuedBefore).includes(result.accessToken),
      'az returned an access token the emulator did not issue for this command',
    );
    const claims = claimsOf(result.accessToken);
    assert.deepEqual(
      { aud: claims.aud, appid: claims.appid, tid: claims.tid },
      { aud: 'https://management.azure.com/', appid: connection.clientId, tid: connection.tenantId },
    );

    // az's own requests: MSAL Python's ADFS discovery and client-assertion grants, and Resource Manager's list.
    assert.deepEqual(requestLines(emulator), [
      'GET /adfs/.well-known/openid-configuration 200',
      'POST /adfs/oauth2/token 200',
      'GET /subscriptions 200',
      'POST /adfs/oauth2/token 200',
    ]);
    const [, loginToken, subscriptions, resourceToken] = emulator.requests;
    for (const [request, scope] of [
      [loginToken, 'https://management.core.windows.net//.default'],
      [resourceToken, 'https://management.azure.com//.default'],
    ] as const) {
      assert.equal(request.headers['x-client-sku'], 'MSAL.Python');
      const form = new Map(formFields(request));
      assert.equal(form.get('client_id'), env.servicePrincipalId);
      assert.equal(form.get('grant_type'), 'client_credentials');
      assert.equal(form.get('client_assertion_type'), CLIENT_ASSERTION_TYPE);
      assert.equal(form.get('scope'), scope);
      assert.ok(form.get('client_assertion') === idToken, 'az did not present the exported idToken');
    }
    assert.deepEqual(subscriptions.query, { 'api-version': '2019-11-01' });
    assert.match(subscriptions.headers['user-agent'] ?? '', /^AZURECLI\/2\.\d+\.\d+ /);
    assert.ok(
      emulator.issuedAccessTokens.includes(
        (subscriptions.headers.authorization ?? '').replace(/^Bearer /, ''),
      ),
      'az listed subscriptions without a token the emulator issued',
    );
  });

  it('az login --federated-token @$AZURE_FEDERATED_TOKEN_FILE (the README recipe) reads the idToken from the file, keeping it off the command line', async () => {
    const env = azStep([task], {});
    assert.equal(env.ID_TOKEN, undefined, 'no secret mapped: the file is enough');
    const idToken = exported(task, 'idToken');
    const login = await runCommand(
      az,
      [
        'login',
        '--service-principal',
        '-u',
        env.servicePrincipalId,
        '--tenant',
        env.tenantId,
        '--federated-token',
        `@${env.AZURE_FEDERATED_TOKEN_FILE}`,
        '--allow-no-subscriptions',
        '--output',
        'none',
      ],
      env,
    );
    steps.push(login);
    assert.equal(login.exitCode, 0, describeStep(login, [idToken]));
    const [, loginToken] = emulator.requests;
    assert.ok(
      new Map(formFields(loginToken)).get('client_assertion') === idToken,
      'az did not present the idToken the file holds',
    );
  });

  describe('and fails when it cannot (so the check above can fail)', () => {
    it('cannot sign in when the step does not map the secret idToken: az asks for the federated token', async () => {
      const env = azStep([task], {});
      assert.equal(env.ID_TOKEN, undefined);
      const login = await azLogin(env);
      assert.equal(login.exitCode, 1);
      assert.equal(
        login.stderr.trimEnd(),
        'ERROR: Please specify both username and password in non-interactive mode.',
      );
      assert.deepEqual(emulator.requests, []);
    });

    it('cannot sign in in a step without the exported variables: the tenant is empty', async () => {
      const login = await azLogin(azStep([]));
      assert.equal(login.exitCode, 1);
      assert.equal(login.stderr.split('\n')[0], "ERROR: Failed to resolve tenant ''.");
      assert.equal(emulator.count('token'), 0);
    });

    it('reports AADSTS700213 when the federated credential trusts another subject, and get-access-token then fails', async () => {
      const env = azStep([task]);
      const login = await withMismatchedSubject(emulator, connection, () => azLogin(env));
      assert.equal(login.exitCode, 1);
      assert.equal(
        login.stderr.split(/\r?\n/)[0],
        `ERROR: AADSTS700213: No matching federated identity record found for presented assertion subject ` +
          `'${emulator.subjectFor(connection)}'. Please check your federated identity credential Subject, Audience ` +
          'and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation',
      );
      assert.ok(
        login.stderr.endsWith('\nInteractive authentication is needed. Please run:\naz login\n'),
        login.stderr,
      );
      assert.deepEqual(requestLines(emulator), [
        'GET /adfs/.well-known/openid-configuration 200',
        'POST /adfs/oauth2/token 401',
      ]);
      const get = await azGetAccessToken(env);
      assert.equal(get.exitCode, 1);
      assert.equal(get.stderr.trimEnd(), "ERROR: Please run 'az login' to setup account.");
      assert.equal(get.stdout, '');
    });
  });

  describe('across every az login above', () => {
    it('printed no token or job access token', () => {
      assert.ok(steps.length >= 4);
      assert.deepEqual(leakReport(emulator, steps), []);
    });
  });
});
