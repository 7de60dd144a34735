import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import type { Emulator, EmulatorConnection, RequestLogEntry } from '../emulator';
import { runProcess, type StepResult } from '../harness/agent';
import { runInteropTask } from '../harness/interop-task';
import { EmulatedJob, leakReport } from '../harness/scenario';
import {
  CLIENT_ASSERTION_TYPE,
  IDENTITY_CLIENT,
  connectionOfStyle,
  describeStep,
  exported,
  formFields,
  laterStepEnvironment,
  requestLines,
  withMismatchedSubject,
  withSystemAccessToken,
} from '../interop/support';

/**
 * @azure/identity, the real package, in a later step whose env the agent builds from what the bundled task
 * exported. Each client runs in its own process (tests/interop/identity-client.ts), so what it reads is
 * exactly the step's env. Concessions to running offline: the emulator's https authority (exported by the
 * task as AZURE_AUTHORITY_HOST), its CA through NODE_EXTRA_CA_CERTS, and `disableInstanceDiscovery: true`.
 */

const ARM = 'https://management.azure.com';
const WIF_DOC = 'https://learn.microsoft.com/entra/workload-id/workload-identity-federation';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** How @azure/identity reports Entra's AADSTS700213 (the ids and times vary per request). */
function subjectMismatchLine(subject: string): RegExp {
  const guid = '[0-9a-f-]{36}';
  const time = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ';
  const description =
    `AADSTS700213: No matching federated identity record found for presented assertion subject '${subject}'. ` +
    `Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WIF_DOC}`;
  return new RegExp(
    `^AuthenticationRequiredError: invalid_client: Error\\(s\\): 700213 - Timestamp: ${time} - Description: ` +
      `${escapeRegExp(description)}\\r\\nTrace ID: ${guid}\\r\\nCorrelation ID: ${guid}\\r\\nTimestamp: ${time}` +
      ` - Correlation ID: ${guid} - Trace ID: ${guid}$`,
  );
}

/** The errors an AggregateAuthenticationError lists, one per credential (a message may hold CRLFs). */
function errorsOf(step: StepResult): string[] {
  return step.stderr.trimEnd().split(/\n(?=\w+Error: )/);
}

describe('@azure/identity in a later step signs in with the variables the task exported', function () {
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

  async function runClient(kind: 'default' | 'workload' | 'pipelines', env: Record<string, string>) {
    const step = await runProcess(IDENTITY_CLIENT, env, [kind]);
    steps.push(step);
    return step;
  }

  function assertSignedInAs(step: StepResult, c: EmulatorConnection) {
    assert.equal(step.exitCode, 0, describeStep(step));
    const result = JSON.parse(step.stdout) as Record<string, unknown>;
    assert.deepEqual(
      { aud: result.aud, appid: result.appid, tid: result.tid },
      { aud: ARM, appid: c.clientId, tid: c.tenantId },
    );
    const lifetime = result.expiresInSeconds as number;
    // The SDK computes expiresOn on its own clock from expires_in: a second either way of 3600.
    assert.ok(lifetime > 3500 && lifetime <= 3601, `expires in ${lifetime}s`);
  }

  /** The one token request of a client that read the federated token file: its own form, the file's token. */
  function assertFileExchange(request: RequestLogEntry, env: Record<string, string>, c: EmulatorConnection) {
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/${c.tenantId}/oauth2/v2.0/token`);
    assert.equal(request.status, 200);
    assert.match(request.headers['user-agent'] ?? '', /^azsdk-js-identity\/4\.\d+\.\d+ /);
    const form = new Map(formFields(request));
    assert.equal(form.get('client_id'), env.AZURE_CLIENT_ID);
    assert.equal(form.get('scope'), `${ARM}/.default`);
    assert.equal(form.get('grant_type'), 'client_credentials');
    assert.equal(form.get('client_assertion_type'), CLIENT_ASSERTION_TYPE);
    assert.equal(form.get('x-client-SKU'), 'msal.js.node', 'MSAL Node (inside @azure/identity) sent it');
    const fileToken = fs.readFileSync(env.AZURE_FEDERATED_TOKEN_FILE, 'utf8').trim();
    assert.ok(form.get('client_assertion') === fileToken, 'the assertion is not the token file content');
  }

  it('DefaultAzureCredential gets a Resource Manager token through WorkloadIdentityCredential and the federated token file', async () => {
    const env = laterStepEnvironment(job, [task]);
    for (const name of [
      'AZURE_CLIENT_ID',
      'AZURE_TENANT_ID',
      'AZURE_FEDERATED_TOKEN_FILE',
      'AZURE_AUTHORITY_HOST',
    ]) {
      assert.ok(env[name], `${name} is not in the step's env`);
    }
    assert.equal(env.AZURE_AUTHORITY_HOST, emulator.authorityHost);
    // The SDK's own log (no secrets in it) says which credential of the chain answered.
    const step = await runClient('default', { ...env, AZURE_LOG_LEVEL: 'info' });
    assertSignedInAs(step, connection);
    assert.ok(
      step.stderr
        .split('\n')
        .includes(
          'azure:identity:info ChainedTokenCredential => getToken() => Result for WorkloadIdentityCredential: SUCCESS. ' +
            `Scopes: ${ARM}/.default.`,
        ),
      step.stderr,
    );
    assert.deepEqual(requestLines(emulator), [
      `GET /${connection.tenantId}/v2.0/.well-known/openid-configuration 200`,
      `POST /${connection.tenantId}/oauth2/v2.0/token 200`,
    ]);
    assertFileExchange(emulator.requests[1], env, connection);
    // The file holds the idToken the task exported.
    const fileToken = fs.readFileSync(env.AZURE_FEDERATED_TOKEN_FILE, 'utf8');
    assert.ok(fileToken === exported(task, 'idToken'), 'the token file does not hold the exported idToken');
  });

  for (const style of ['entra', 'azuredevops'] as const) {
    it(`WorkloadIdentityCredential gets a Resource Manager token from the exported AZURE_* variables alone (${style} issuer)`, async () => {
      const c = connectionOfStyle(emulator, style);
      const styleJob = style === 'entra' ? job : EmulatedJob.forConnection(emulator, c);
      const styleTask = style === 'entra' ? task : await styleJob.runTask();
      if (styleTask !== task) steps.push(styleTask);
      emulator.clearRequests();
      const env = laterStepEnvironment(styleJob, [styleTask]);
      const step = await runClient('workload', env);
      assertSignedInAs(step, c);
      assert.deepEqual(requestLines(emulator), [
        `GET /${c.tenantId}/v2.0/.well-known/openid-configuration 200`,
        `POST /${c.tenantId}/oauth2/v2.0/token 200`,
      ]);
      assertFileExchange(emulator.requests[1], env, c);
    });
  }

  it('AzurePipelinesCredential asks Azure DevOps for its own idToken with AZURESUBSCRIPTION_* and the mapped System.AccessToken', async () => {
    const env = withSystemAccessToken(emulator, laterStepEnvironment(job, [task]));
    const issuedBefore = emulator.issuedIdTokens.length;
    const step = await runClient('pipelines', env);
    assertSignedInAs(step, connection);

    const oidc = emulator.requests.filter((r) => r.kind === 'oidctoken');
    // @azure/identity 4.13 (MSAL Node 5.6 inside) calls the assertion callback twice per getToken: two requests.
    assert.ok(oidc.length >= 1, requestLines(emulator).join('\n'));
    for (const request of oidc) {
      assert.equal(request.method, 'POST');
      assert.equal(request.path, new URL(env.SYSTEM_OIDCREQUESTURI).pathname);
      assert.deepEqual(Object.entries(request.query), [
        ['api-version', '7.1'],
        ['serviceConnectionId', env.AZURESUBSCRIPTION_SERVICE_CONNECTION_ID],
      ]);
      assert.equal(request.headers['content-type'], 'application/json');
      assert.equal(request.headers['x-tfs-fedauthredirect'], 'Suppress');
      assert.equal(request.headers['content-length'], '0');
      assert.match(request.headers['user-agent'] ?? '', /^azsdk-js-identity\//);
      assert.ok(
        request.headers.authorization === `Bearer ${emulator.options.jobAccessToken}`,
        'the Oidctoken request did not carry the mapped job access token',
      );
      assert.equal(request.body, '');
      assert.equal(request.status, 200);
    }
    const [token] = emulator.requests.filter((r) => r.kind === 'token');
    assert.equal(token.path, `/${env.AZURESUBSCRIPTION_TENANT_ID}/oauth2/v2.0/token`);
    assert.equal(token.status, 200);
    const form = new Map(formFields(token));
    assert.equal(form.get('client_id'), env.AZURESUBSCRIPTION_CLIENT_ID);
    // Its own idToken, fetched in this step, not the one the task exported.
    const fresh = emulator.issuedIdTokens.slice(issuedBefore);
    assert.ok(
      fresh.includes(form.get('client_assertion') ?? ''),
      'the assertion is not an idToken it fetched',
    );
    assert.ok(form.get('client_assertion') !== exported(task, 'idToken'));
  });

  describe('and fails when it cannot (so the checks above can fail)', () => {
    it('WorkloadIdentityCredential is unavailable in a step without the exported variables, and names AZURE_CLIENT_ID', async () => {
      const step = await runClient('workload', laterStepEnvironment(job, []));
      assert.equal(step.exitCode, 1);
      assert.equal(
        step.stderr,
        'CredentialUnavailableError: WorkloadIdentityCredential: is unavailable. clientId is a required parameter. ' +
          'In DefaultAzureCredential and ManagedIdentityCredential, this can be provided as an environment variable - "AZURE_CLIENT_ID".\n' +
          '        See the troubleshooting guide for more information: https://aka.ms/azsdk/js/identity/workloadidentitycredential/troubleshoot\n',
      );
      assert.deepEqual(emulator.requests, []);
    });

    it('WorkloadIdentityCredential reports AADSTS700213 when the federated credential trusts another subject', async () => {
      const env = laterStepEnvironment(job, [task]);
      const step = await withMismatchedSubject(emulator, connection, () => runClient('workload', env));
      assert.equal(step.exitCode, 1);
      assert.match(step.stderr.trimEnd(), subjectMismatchLine(emulator.subjectFor(connection)));
      assert.deepEqual(requestLines(emulator), [
        `GET /${connection.tenantId}/v2.0/.well-known/openid-configuration 200`,
        `POST /${connection.tenantId}/oauth2/v2.0/token 401`,
      ]);
    });

    it('DefaultAzureCredential reports AADSTS700213 when the federated credential trusts another subject', async () => {
      const env = laterStepEnvironment(job, [task]);
      const step = await withMismatchedSubject(emulator, connection, () => runClient('default', env));
      assert.equal(step.exitCode, 1);
      const lines = errorsOf(step);
      assert.equal(lines[0], 'AggregateAuthenticationError: ChainedTokenCredential authentication failed.');
      // WorkloadIdentityCredential, then ManagedIdentityCredential (which also reads AZURE_FEDERATED_TOKEN_FILE).
      const mismatches = lines.filter((line) => line.startsWith('AuthenticationRequiredError:'));
      assert.ok(mismatches.length >= 1, step.stderr);
      for (const line of mismatches) assert.match(line, subjectMismatchLine(emulator.subjectFor(connection)));
      const tokens = emulator.requests.filter((r) => r.kind === 'token');
      assert.ok(
        tokens.length >= 1 && tokens.every((r) => r.status === 401),
        requestLines(emulator).join('\n'),
      );
    });

    it('AzurePipelinesCredential is unavailable when the step does not map System.AccessToken', async () => {
      const step = await runClient('pipelines', laterStepEnvironment(job, [task]));
      assert.equal(step.exitCode, 1);
      assert.equal(
        step.stderr,
        'CredentialUnavailableError: AzurePipelinesCredential: is unavailable. systemAccessToken is a required parameter.\n',
      );
      assert.deepEqual(emulator.requests, []);
    });

    it('AzurePipelinesCredential is unavailable in a step without the exported AZURESUBSCRIPTION_* variables', async () => {
      const step = await runClient(
        'pipelines',
        withSystemAccessToken(emulator, laterStepEnvironment(job, [])),
      );
      assert.equal(step.exitCode, 1);
      assert.equal(
        step.stderr,
        'CredentialUnavailableError: AzurePipelinesCredential: is unavailable. clientId is a required parameter.\n',
      );
      assert.deepEqual(emulator.requests, []);
    });

    it('AzurePipelinesCredential reports AADSTS700213 when the federated credential trusts another subject', async () => {
      const env = withSystemAccessToken(emulator, laterStepEnvironment(job, [task]));
      const step = await withMismatchedSubject(emulator, connection, () => runClient('pipelines', env));
      assert.equal(step.exitCode, 1);
      assert.match(step.stderr.trimEnd(), subjectMismatchLine(emulator.subjectFor(connection)));
      assert.ok(emulator.count('oidctoken') >= 1);
      assert.deepEqual(
        emulator.requests.filter((r) => r.kind === 'token').map((r) => r.status),
        [401],
      );
    });
  });

  describe('across every step above', () => {
    it('printed no token or job access token', () => {
      assert.ok(steps.length >= 11);
      assert.deepEqual(leakReport(emulator, steps), []);
    });
  });
});
