import { strict as assert } from 'node:assert';
import * as https from 'node:https';
import { ARM_AUDIENCES, createSigningKeySync, signJwt, type Emulator } from '../emulator';
import { SUBSCRIPTION_ID } from '../harness/scenario';
import { CLIENT_ASSERTION_TYPE, connectionOfStyle, interopEmulator } from '../interop/support';

/**
 * The emulator's Resource Manager stand-in: the subscription list `az login` reads right after signing in. It
 * authenticates like Resource Manager (a bearer token Entra issued: signature, expiry, audience), so the Azure
 * CLI test cannot pass with a token the emulator did not issue.
 */

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

function request(
  emulator: Emulator,
  method: string,
  url: string,
  headers: Record<string, string>,
  body = '',
) {
  return new Promise<Reply>((resolve, reject) => {
    const req = https.request(url, { method, headers, ca: emulator.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe("the emulator's Resource Manager stand-in (what az login lists after signing in)", function () {
  this.timeout(20_000);
  let emulator: Emulator;

  before(async () => {
    emulator = await interopEmulator();
  });

  async function accessToken(resource: string): Promise<string> {
    const connection = connectionOfStyle(emulator, 'entra');
    const reply = await request(
      emulator,
      'POST',
      emulator.tokenEndpoint(connection.tenantId),
      { 'content-type': 'application/x-www-form-urlencoded' },
      new URLSearchParams({
        client_id: connection.clientId,
        scope: `${resource}/.default`,
        grant_type: 'client_credentials',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: emulator.mintIdToken(connection),
      }).toString(),
    );
    assert.equal(reply.status, 200);
    return reply.body.access_token as string;
  }

  const list = (path: string, headers: Record<string, string> = {}) =>
    request(emulator, 'GET', `${emulator.url}${path}`, headers);

  it("lists the subscription of the connections that sign in as the token's app, in Resource Manager's shape", async () => {
    const token = await accessToken('https://management.azure.com');
    const reply = await list('/subscriptions?api-version=2022-12-01', { authorization: `Bearer ${token}` });
    const connection = connectionOfStyle(emulator, 'entra');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, {
      value: [
        {
          id: `/subscriptions/${SUBSCRIPTION_ID}`,
          authorizationSource: 'RoleBased',
          managedByTenants: [],
          subscriptionId: SUBSCRIPTION_ID,
          tenantId: connection.tenantId,
          displayName: 'Emulated subscription',
          state: 'Enabled',
          subscriptionPolicies: {
            locationPlacementId: 'Public_2014-09-01',
            quotaId: 'PayAsYouGo_2014-09-01',
            spendingLimit: 'Off',
          },
        },
      ],
      count: { type: 'Total', value: 1 },
    });
    assert.ok(reply.headers['x-ms-request-id']);
    assert.equal(emulator.requests.at(-1)?.kind, 'arm');
    const tenants = await list('/tenants?api-version=2022-12-01', { authorization: `Bearer ${token}` });
    assert.deepEqual(tenants.body.value, [
      { id: `/tenants/${connection.tenantId}`, tenantId: connection.tenantId, tenantCategory: 'Home' },
    ]);
  });

  it('answers 401 AuthenticationFailed with a Bearer challenge when the Authorization header is missing', async () => {
    const reply = await list('/subscriptions?api-version=2022-12-01');
    assert.equal(reply.status, 401);
    assert.deepEqual(reply.body, {
      error: {
        code: 'AuthenticationFailed',
        message: "Authentication failed. The 'Authorization' header is missing.",
      },
    });
    assert.equal(
      reply.headers['www-authenticate'],
      'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", ' +
        `error_description="The authentication failed because of missing 'Authorization' header."`,
    );
  });

  it('answers 401 InvalidAuthenticationToken for a token it did not issue', async () => {
    const forged = signJwt(
      {
        aud: 'https://management.azure.com',
        tid: connectionOfStyle(emulator, 'entra').tenantId,
        exp: 4102444800,
      },
      createSigningKeySync(),
    );
    for (const token of [forged, 'not-a-jwt']) {
      const reply = await list('/subscriptions?api-version=2022-12-01', { authorization: `Bearer ${token}` });
      assert.equal(reply.status, 401);
      assert.deepEqual(reply.body, {
        error: { code: 'InvalidAuthenticationToken', message: 'The access token is invalid.' },
      });
    }
  });

  it('answers 401 InvalidAuthenticationTokenAudience for a token of another resource', async () => {
    const token = await accessToken('https://graph.microsoft.com');
    const reply = await list('/subscriptions?api-version=2022-12-01', { authorization: `Bearer ${token}` });
    assert.equal(reply.status, 401);
    assert.deepEqual(reply.body, {
      error: {
        code: 'InvalidAuthenticationTokenAudience',
        message:
          "The access token has been obtained for wrong audience or resource 'https://graph.microsoft.com'. " +
          `It should exactly match with one of the allowed audiences ${[...ARM_AUDIENCES, `${emulator.url}/`, emulator.url].map((a) => `'${a}'`).join(',')}.`,
      },
    });
  });

  it('answers 401 ExpiredAuthenticationToken once the token has expired', async () => {
    const token = await accessToken('https://management.azure.com');
    const later = Date.now() + 2 * 3600 * 1000;
    emulator.setOptions({ now: () => later });
    try {
      const reply = await list('/subscriptions?api-version=2022-12-01', { authorization: `Bearer ${token}` });
      assert.equal(reply.status, 401);
      const error = reply.body.error as { code: string; message: string };
      assert.equal(error.code, 'ExpiredAuthenticationToken');
      assert.match(
        error.message,
        /^The access token expiry UTC time '\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d\d:\d\d [AP]M' is earlier than current UTC time '\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d\d:\d\d [AP]M'\.$/,
      );
    } finally {
      emulator.setOptions({ now: Date.now });
    }
  });

  it('answers 400 MissingApiVersionParameter without an api-version', async () => {
    const token = await accessToken('https://management.azure.com');
    const reply = await list('/subscriptions', { authorization: `Bearer ${token}` });
    assert.equal(reply.status, 400);
    assert.deepEqual(reply.body, {
      error: {
        code: 'MissingApiVersionParameter',
        message: 'The api-version query parameter (?api-version=) is required for all requests.',
      },
    });
  });
});
