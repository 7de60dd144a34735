import { strict as assert } from 'node:assert';
import type { Emulator, EmulatorConnection } from '../emulator';
import { runProcess, type StepResult } from '../harness/agent';
import { runInteropTask } from '../harness/interop-task';
import { EmulatedJob, leakReport } from '../harness/scenario';
import {
  CLIENT_ASSERTION_TYPE,
  TERRAFORM_REFRESH,
  claimsOf,
  describeStep,
  formFields,
  laterStepEnvironment,
  requestLines,
  withMismatchedSubject,
  withSystemAccessToken,
} from '../interop/support';

/**
 * Terraform's azurerm provider (≥ 4.18, and azuread, azapi, the azurerm backend) refreshes its idToken itself in
 * Azure Pipelines. tests/interop/terraform-refresh.ts sends, from the step's env, exactly the requests
 * hashicorp/go-azure-sdk sends; these tests show the emulator accepts them and the token exchanges at Entra.
 * The step maps only `SYSTEM_ACCESSTOKEN: $(System.AccessToken)`, as the README's Terraform recipe does.
 */

describe("Terraform's own idToken refresh works with the variables the task exported", function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;
  let job: EmulatedJob;
  let task: StepResult;
  const steps: StepResult[] = [];

  before(async () => {
    ({ emulator, connection, job, task } = await runInteropTask());
    steps.push(task);
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));
  });

  beforeEach(() => emulator.clearRequests());

  async function refresh(env: Record<string, string>): Promise<StepResult> {
    const step = await runProcess(TERRAFORM_REFRESH, env, ['--login-endpoint', emulator.url]);
    steps.push(step);
    return step;
  }

  /** The provider's two requests, as the emulator logged them, checked field by field. */
  function assertProviderRequests(env: Record<string, string>, requestUrl: string) {
    assert.deepEqual(requestLines(emulator), [
      `POST ${new URL(requestUrl).pathname} 200`,
      `POST /${env.ARM_TENANT_ID}/oauth2/v2.0/token 200`,
    ]);
    const [oidc, token] = emulator.requests;
    assert.deepEqual(Object.entries(oidc.query), [
      ['api-version', '7.1'],
      ['audience', 'api://AzureADTokenExchange'],
      ['serviceConnectionId', env.ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID],
    ]);
    const { authorization, host, connection: connectionHeader, ...headers } = oidc.headers;
    assert.ok(authorization === `Bearer ${emulator.options.jobAccessToken}`, 'not the mapped job token');
    assert.ok(host && connectionHeader !== undefined);
    assert.deepEqual(headers, {
      'user-agent': 'Go-http-client/1.1',
      'accept-encoding': 'gzip',
      accept: 'application/json',
      'content-type': 'application/json',
      'content-length': '0',
    });
    assert.equal(oidc.body, '');

    // The idToken Azure DevOps returned is the assertion of the grant, with the audience the provider asked for.
    const idToken = emulator.issuedIdTokens.at(-1) ?? '';
    assert.equal(claimsOf(idToken).aud, 'api://AzureADTokenExchange');
    assert.equal(claimsOf(idToken).sub, emulator.subjectFor(connection));
    assert.equal(token.headers.accept, 'application/json');
    assert.equal(token.headers['content-type'], 'application/x-www-form-urlencoded');
    const form = formFields(token);
    assert.deepEqual(
      form.map(([key]) => key),
      ['client_assertion', 'client_assertion_type', 'client_id', 'grant_type', 'scope'],
    );
    const fields = new Map(form);
    assert.ok(fields.get('client_assertion') === idToken, 'the grant did not present the refreshed idToken');
    assert.equal(fields.get('client_assertion_type'), CLIENT_ASSERTION_TYPE);
    assert.equal(fields.get('client_id'), env.ARM_CLIENT_ID);
    assert.equal(fields.get('grant_type'), 'client_credentials');
    assert.equal(fields.get('scope'), 'https://management.azure.com/.default');
  }

  function assertSignedIn(step: StepResult) {
    assert.equal(step.exitCode, 0, describeStep(step));
    assert.deepEqual(JSON.parse(step.stdout), {
      aud: 'https://management.azure.com',
      appid: connection.clientId,
      tid: connection.tenantId,
      expires_in: emulator.options.accessTokenLifetimeSeconds,
    });
  }

  it('sends the exact Oidctoken request from ARM_* and the mapped System.AccessToken, and exchanges the idToken at Entra', async () => {
    const env = withSystemAccessToken(emulator, laterStepEnvironment(job, [task]));
    assert.equal(env.ARM_USE_OIDC, 'true');
    assert.equal(env.ARM_ENVIRONMENT, 'public');
    assert.equal(env.ARM_OIDC_REQUEST_URL, emulator.oidcRequestUri);
    assert.equal(env.ARM_OIDC_TOKEN, undefined, 'a static token would be tried before the refresh');
    const step = await refresh(env);
    assertSignedIn(step);
    assertProviderRequests(env, env.ARM_OIDC_REQUEST_URL);
  });

  it('refreshes through the exported ARM_OIDC_REQUEST_URL on a server that gives no System.OidcRequestUri', async () => {
    const oldServer = EmulatedJob.forConnection(emulator, connection, { oidcRequestUri: undefined });
    const oldTask = await oldServer.runTask();
    steps.push(oldTask);
    assert.equal(oldTask.result?.result, 'Succeeded', describeStep(oldTask));
    emulator.clearRequests();
    const env = withSystemAccessToken(emulator, laterStepEnvironment(oldServer, [oldTask]));
    assert.equal(env.SYSTEM_OIDCREQUESTURI, '');
    assert.match(
      env.ARM_OIDC_REQUEST_URL,
      /\/_apis\/distributedtask\/hubs\/build\/plans\/[^/]+\/jobs\/[^/]+\/oidctoken$/,
    );
    const step = await refresh(env);
    assertSignedIn(step);
    assertProviderRequests(env, env.ARM_OIDC_REQUEST_URL);
  });

  describe('and fails when it cannot (so the checks above can fail)', () => {
    it('has nothing to refresh with in a step without the exported variables', async () => {
      const step = await refresh(withSystemAccessToken(emulator, laterStepEnvironment(job, [])));
      assert.equal(step.exitCode, 2);
      assert.equal(
        step.stderr.trimEnd(),
        'missing variables: ARM_CLIENT_ID, ARM_TENANT_ID, ARM_USE_OIDC, ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID',
      );
      assert.deepEqual(emulator.requests, []);
    });

    it('gets the sign-in page (HTTP 203), not an idToken, when the step does not map System.AccessToken', async () => {
      const step = await refresh(laterStepEnvironment(job, [task]));
      assert.equal(step.exitCode, 1);
      // The provider sends no X-TFS-FedAuthRedirect: Suppress, so Azure DevOps answers like a browser sign-in.
      assert.match(step.stderr, /^adoPipelineAssertion: cannot unmarshal response: /);
      assert.deepEqual(requestLines(emulator), [`POST ${new URL(emulator.oidcRequestUri).pathname} 203`]);
      assert.equal(emulator.requests[0].headers.authorization, 'Bearer');
    });

    it('reports Entra ID refusing the idToken (AADSTS700213) when the federated credential trusts another subject', async () => {
      const env = withSystemAccessToken(emulator, laterStepEnvironment(job, [task]));
      const step = await withMismatchedSubject(emulator, connection, () => refresh(env));
      assert.equal(step.exitCode, 1);
      const prefix = 'clientCredentialsToken: received HTTP status 401 with response: ';
      assert.ok(step.stderr.startsWith(prefix), step.stderr);
      const body = JSON.parse(step.stderr.slice(prefix.length)) as Record<string, unknown>;
      assert.equal(body.error, 'invalid_client');
      assert.deepEqual(body.error_codes, [700213]);
      assert.match(
        String(body.error_description),
        new RegExp(
          `^AADSTS700213: No matching federated identity record found for presented assertion subject '${emulator.subjectFor(connection).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'\\.`,
        ),
      );
      assert.deepEqual(
        emulator.requests.map((r) => `${r.kind} ${r.status}`),
        ['oidctoken 200', 'token 401'],
      );
    });
  });

  describe('across every step above', () => {
    it('printed no token or job access token', () => {
      assert.ok(steps.length >= 6);
      assert.deepEqual(leakReport(emulator, steps), []);
    });
  });
});
