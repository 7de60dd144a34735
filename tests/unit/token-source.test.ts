import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { TaskFailure } from '../../src/core/errors';
import type { HttpRequest } from '../../src/core/http';
import { DEFAULT_RETRY_POLICY, type RetryClock } from '../../src/core/retry';
import { TokenSource, type TokenSourceOptions } from '../../src/core/token-source';
import {
  NOW_SECONDS,
  RecordingLogger,
  ScriptedTransport,
  fakeJwt,
  idTokenClaims,
  json,
  wifConnection,
} from './fakes';

const CONNECTION = wifConnection({ data: { environment: 'AzureCloud' } });
const ENDPOINT = {
  baseUrl: 'https://dev.azure.com/org/p/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken',
  apiVersion: '7.1',
  body: '',
};

const clock: RetryClock = { now: () => NOW_SECONDS * 1000, sleep: async () => {}, random: () => 0 };
const idToken = (subject: string, secondsLeft = 590) =>
  fakeJwt(idTokenClaims({ sub: subject, exp: NOW_SECONDS + secondsLeft }));
const oidc = (token: string) => json(200, { oidcToken: token });
const accessToken = json(200, { token_type: 'Bearer', expires_in: 3599, access_token: 'at.value.sig' });
const unavailable = json(503, { error: 'temporarily_unavailable' });

function source(transport: ScriptedTransport, options: Partial<TokenSourceOptions> = {}) {
  const logger = new RecordingLogger();
  const registerSecret = sinon.spy();
  const tokens = new TokenSource(
    { connection: CONNECTION, endpoint: ENDPOINT, jobAccessToken: 'job-token', ...options },
    { transport, logger, registerSecret, retryPolicy: DEFAULT_RETRY_POLICY, clock },
  );
  return { tokens, logger, registerSecret };
}

/** Each request as `oidc` or `token <assertion subject>`, in order. */
function calls(transport: ScriptedTransport): string[] {
  return transport.requests.map((request: HttpRequest) => {
    if (request.url.includes('/oidctoken')) return 'oidc';
    const assertion = new URLSearchParams(request.body).get('client_assertion') ?? '';
    const claims = JSON.parse(Buffer.from(assertion.split('.')[1], 'base64url').toString('utf8')) as {
      sub: string;
    };
    return `token ${claims.sub}`;
  });
}

describe('TokenSource, where the step, azure-wif-token and the renewer get their tokens', () => {
  it('fetches an idToken for its first exchange and reuses it on a retry while it has a minute left', async () => {
    const transport = new ScriptedTransport([oidc(idToken('first')), unavailable, accessToken]);
    const { tokens } = source(transport);
    const result = await tokens.accessToken('https://management.azure.com/');
    assert.equal(result.token, 'at.value.sig');
    assert.deepEqual(calls(transport), ['oidc', 'token first', 'token first']);
  });

  it('offers an idToken it just fetched even with under a minute left, but asks for a new one to retry', async () => {
    const transport = new ScriptedTransport([
      oidc(idToken('short', 30)),
      unavailable,
      oidc(idToken('second')),
      accessToken,
    ]);
    const { tokens } = source(transport);
    await tokens.accessToken('https://management.azure.com/');
    assert.deepEqual(calls(transport), ['oidc', 'token short', 'oidc', 'token second']);
    assert.equal(tokens.latest?.claims.sub, 'second');
  });

  it('uses the idToken the caller fetched first for the next exchange, without a second request', async () => {
    const transport = new ScriptedTransport([oidc(idToken('first')), accessToken, accessToken]);
    const { tokens } = source(transport);
    await tokens.idToken();
    await tokens.accessToken('https://management.azure.com/');
    await tokens.accessToken('https://vault.azure.net');
    assert.deepEqual(calls(transport), ['oidc', 'token first', 'token first']);
  });

  it('registers each idToken as a secret before handing it to onIdToken', async () => {
    const token = idToken('first');
    const onIdToken = sinon.spy();
    const transport = new ScriptedTransport([oidc(token)]);
    const { tokens, registerSecret } = source(transport, { onIdToken });
    await tokens.idToken();
    assert.equal(onIdToken.firstCall.args[0].token, token);
    assert.ok(registerSecret.withArgs(token).calledBefore(onIdToken));
  });

  it('names its retries as its caller asks', async () => {
    const transport = new ScriptedTransport([json(503, {}), oidc(idToken('first'))]);
    const { tokens, logger } = source(transport, { idTokenActivity: 'Renewing the token file' });
    await tokens.idToken();
    assert.deepEqual(logger.at('info'), [
      'Renewing the token file: attempt 1 failed (HTTP 503 from Azure DevOps); retrying in 0.0 s.',
    ]);
  });

  it("explains Entra's refusal with the subject of the idToken it sent", async () => {
    const transport = new ScriptedTransport([
      oidc(idToken('/eid1/c/pub/t/abc/a/def/sc/org/sent-subject')),
      json(400, {
        error: 'invalid_client',
        error_description:
          'AADSTS700213: No matching federated identity record found for presented assertion subject.',
        error_codes: [700213],
      }),
    ]);
    const { tokens } = source(transport);
    await assert.rejects(
      tokens.accessToken('https://management.azure.com/'),
      (error: unknown) =>
        error instanceof TaskFailure &&
        error.message.includes("'/eid1/c/pub/t/abc/a/def/sc/org/sent-subject'"),
    );
  });
});
