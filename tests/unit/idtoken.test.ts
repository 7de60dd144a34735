import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { JobTokenRefused, TaskFailure, TransientFailure } from '../../src/core/errors';
import { requestIdToken, resolveOidcEndpoint, type IdTokenClientOptions } from '../../src/core/idtoken';
import { NOW_SECONDS, RecordingLogger, ScriptedTransport, fakeJwt, idTokenClaims, json } from './fakes';

const CONNECTION = '0f6a8f4e-2c1b-4a5e-9d3c-7b8a9c0d1e2f';
const OIDC_URI = 'https://dev.azure.com/org/proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken';
const TOKEN = fakeJwt(idTokenClaims());
const E2E = { 'x-vss-e2eid': 'e2e-1', 'x-msedge-ref': 'Ref A: 1' };

function options(
  transport: ScriptedTransport,
  overrides: Partial<IdTokenClientOptions> = {},
): IdTokenClientOptions {
  return {
    transport,
    endpoint: resolveOidcEndpoint({ oidcRequestUri: OIDC_URI }),
    jobAccessToken: 'job-token',
    registerSecret: sinon.spy(),
    logger: new RecordingLogger(),
    now: () => NOW_SECONDS * 1000,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TaskFailure, String(error));
    return error.message;
  }
  assert.fail('expected a failure');
}

describe('idToken client', () => {
  it('POSTs to System.OidcRequestUri with api-version 7.1, the job token and redirect suppression, empty body', async () => {
    const transport = new ScriptedTransport([json(200, { oidcToken: TOKEN })]);
    const result = await requestIdToken(options(transport), CONNECTION);
    assert.equal(result.token, TOKEN);
    assert.deepEqual(transport.requests, [
      {
        method: 'POST',
        url: `${OIDC_URI}?api-version=7.1&serviceConnectionId=${CONNECTION}`,
        headers: {
          Authorization: 'Bearer job-token',
          Accept: 'application/json',
          'Content-Type': 'application/json',
          'X-TFS-FedAuthRedirect': 'Suppress',
        },
        body: '',
      },
    ]);
  });

  it('registers the token as a secret before returning it', async () => {
    const registerSecret = sinon.spy();
    await requestIdToken(
      options(new ScriptedTransport([json(200, { oidcToken: TOKEN })]), { registerSecret }),
      CONNECTION,
    );
    sinon.assert.calledOnceWithExactly(registerSecret, TOKEN);
  });

  it('uses the collection-URI route with api-version 7.1-preview.1 and body {} when System.OidcRequestUri is absent', async () => {
    const transport = new ScriptedTransport([json(200, { oidcToken: TOKEN })]);
    const endpoint = resolveOidcEndpoint({
      collectionUri: 'https://dev.azure.com/org',
      projectId: 'proj',
      hostType: 'release',
      planId: 'plan',
      jobId: 'job',
    });
    await requestIdToken(options(transport, { endpoint }), CONNECTION);
    assert.equal(
      transport.requests[0].url,
      `https://dev.azure.com/org/proj/_apis/distributedtask/hubs/release/plans/plan/jobs/job/oidctoken?api-version=7.1-preview.1&serviceConnectionId=${CONNECTION}`,
    );
    assert.equal(transport.requests[0].body, '{}');
  });

  it('fails clearly when neither route can be built', async () => {
    assert.throws(
      () => resolveOidcEndpoint({ collectionUri: 'https://dev.azure.com/org', projectId: 'proj' }),
      new TaskFailure(
        'The agent did not provide System.OidcRequestUri nor System.CollectionUri with the job ids, so the task cannot ask Azure DevOps for an idToken. ' +
          'Run the task as a step of a pipeline job on Azure DevOps Services or Azure DevOps Server 2022.1 or later, with agent 4.248.0 or newer.',
      ),
    );
  });

  it('reports a 401 with the support ids', async () => {
    const transport = new ScriptedTransport([json(401, { message: 'TF400813' }, E2E)]);
    assert.equal(
      await failure(requestIdToken(options(transport), CONNECTION)),
      'Azure DevOps did not accept the job access token when asked for an idToken (HTTP 401) (x-vss-e2eid: e2e-1, x-msedge-ref: Ref A: 1). ' +
        'Re-run the job; the token is issued per job and is only valid while the job runs.',
    );
  });

  it('reports a 404 with the service message and what to check', async () => {
    const message = `No service connection found with identifier ${CONNECTION}.`;
    const transport = new ScriptedTransport([json(404, { message }, E2E)]);
    assert.equal(
      await failure(requestIdToken(options(transport), CONNECTION)),
      `Azure DevOps found no service connection ${CONNECTION} for this job (HTTP 404): ${message} (x-vss-e2eid: e2e-1, x-msedge-ref: Ref A: 1). ` +
        'Check that the azureSubscription input names an Azure Resource Manager connection that exists in this project or is shared with it.',
    );
  });

  it('reports a 203 sign-in page as a rejected job token', async () => {
    const transport = new ScriptedTransport([
      { status: 203, headers: { 'content-type': 'text/html' }, body: '<html>Sign in</html>' },
    ]);
    assert.match(
      await failure(requestIdToken(options(transport), CONNECTION)),
      /^Azure DevOps answered the idToken request with a sign-in page \(HTTP 203\), so it did not accept the job access token\./,
    );
  });

  it('reports the 200 that says the connection is not referenced in this job', async () => {
    const value = `There is no explicit reference to service connection ${CONNECTION} from current stage or job.`;
    const transport = new ScriptedTransport([json(200, { count: 1, value })]);
    assert.equal(
      await failure(requestIdToken(options(transport), CONNECTION)),
      `Azure DevOps would not issue an idToken for service connection ${CONNECTION}: ${value}. ` +
        "Reference the connection by its name or id in a task input of this job (this task's azureSubscription input does so when it names the connection directly, not through a runtime variable).",
    );
  });

  it('reports the no-explicit-reference answer as definitive, so it is not retried', async () => {
    const value = `There is no explicit reference to service connection ${CONNECTION} from current stage or job.`;
    const transport = new ScriptedTransport([json(200, { count: 1, value })]);
    const error = await requestIdToken(options(transport), CONNECTION).catch((e: unknown) => e);
    assert.ok(error instanceof TaskFailure && !(error instanceof TransientFailure));
  });

  it('treats a 200 without oidcToken as transient, to be asked again 2 s later as Microsoft does', async () => {
    // azure-pipelines-tasks-common-packages common-npm-packages/azure-arm-rest azure-arm-common.ts, initOIDCToken.
    const transport = new ScriptedTransport([json(200, { token: 'x' })]);
    const error = await requestIdToken(options(transport), CONNECTION).catch((e: unknown) => e);
    assert.ok(error instanceof TransientFailure, String(error));
    assert.equal(error.retryAfterMs, 2000);
    assert.equal(error.reason, 'an answer without an oidcToken');
    assert.match(error.message, /without an oidcToken\. Re-run the job/);
  });

  it("treats \"Can't issue ID_TOKEN for job in 'Pending' state\" as transient", async () => {
    const message = "Can't issue ID_TOKEN for job in 'Pending' state.";
    const transport = new ScriptedTransport([
      json(400, { message, typeKey: 'TaskOrchestrationPlanSecurityException' }, E2E),
    ]);
    const error = await requestIdToken(options(transport), CONNECTION).catch((e: unknown) => e);
    assert.ok(error instanceof TransientFailure, String(error));
    assert.equal(error.reason, 'the job is still pending (HTTP 400)');
    assert.equal(
      error.message,
      `Azure DevOps would not issue an idToken yet (HTTP 400): ${message} (x-vss-e2eid: e2e-1, x-msedge-ref: Ref A: 1). ` +
        'Re-run the job; if it persists, report the ids above to Azure DevOps support.',
    );
  });

  it('reports a body that is not JSON', async () => {
    const transport = new ScriptedTransport([{ status: 200, headers: {}, body: 'oops' }]);
    assert.match(
      await failure(requestIdToken(options(transport), CONNECTION)),
      /with a body that is not JSON\./,
    );
  });

  it('reports an idToken that has already expired, and still registers it as a secret', async () => {
    const registerSecret = sinon.spy();
    const expired = fakeJwt(idTokenClaims({ exp: NOW_SECONDS - 1 }));
    const transport = new ScriptedTransport([json(200, { oidcToken: expired })]);
    assert.equal(
      await failure(requestIdToken(options(transport, { registerSecret }), CONNECTION)),
      `Azure DevOps returned an idToken that expired at ${new Date((NOW_SECONDS - 1) * 1000).toISOString()}, before it could be used. ` +
        "Check the agent machine's clock; if it is right, re-run the job.",
    );
    sinon.assert.calledOnceWithExactly(registerSecret, expired);
  });

  it('quotes a hostile service message without letting it become a logging command', async () => {
    const transport = new ScriptedTransport([
      json(500, { message: 'boom\n##vso[task.setvariable variable=X]pwned' }),
    ]);
    const message = await failure(requestIdToken(options(transport), CONNECTION));
    assert.ok(!message.includes('\n'));
    assert.ok(!message.includes('##vso['));
    assert.match(message, /HTTP 500: boom ##vso\(task\.setvariable variable=X\]pwned\./);
  });

  it('marks a refused job access token (401, 403, sign-in page) so a renewer knows the job has ended, and nothing else', async () => {
    const refusals = [
      json(401, { message: 'TF400813' }),
      json(403, { message: 'denied' }),
      { status: 203, headers: { 'content-type': 'text/html' }, body: '<html>Sign in</html>' },
      { status: 302, headers: { location: 'https://signin' }, body: '' },
    ];
    const others = [
      json(404, { message: 'gone' }),
      json(400, { message: 'bad' }),
      json(500, { message: 'boom' }),
    ];
    for (const [response, refused] of [
      ...refusals.map((r) => [r, true] as const),
      ...others.map((r) => [r, false] as const),
    ]) {
      const error = await requestIdToken(options(new ScriptedTransport([response])), CONNECTION).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof TaskFailure, `HTTP ${response.status}`);
      assert.equal(error instanceof JobTokenRefused, refused, `HTTP ${response.status}`);
    }
  });
});
