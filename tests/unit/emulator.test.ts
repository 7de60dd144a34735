/**
 * Tests of the Azure DevOps + Entra ID emulator itself (tests/emulator), over real HTTPS sockets with the
 * emulator's test CA: the happy paths of both issuer styles, every failure shape, signatures, expiry,
 * scripting, the request log, and a real @azure/msal-node client against it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfidentialClientApplication,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import {
  base64UrlEncode,
  base64UrlToGuid,
  checkJwtSignature,
  createSigningKeySync,
  decodeJwt,
  Emulator,
  guidToBase64Url,
  signJwt,
  type Jwk,
  type OidcFailurePreset,
} from '../emulator';

// ---------------------------------------------------------------------------------------------------------
// HTTP helpers

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  ca?: string | null;
  timeoutMs?: number;
}

/** One HTTPS request trusting only the given CA (the emulator's by default through `ca`). */
function call(url: string, options: CallOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const body = options.body ?? '';
    const req = httpsRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: { 'content-length': String(Buffer.byteLength(body)), ...(options.headers ?? {}) },
        ca: options.ca ?? undefined,
        agent: false,
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.timeoutMs) {
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error('client timeout')));
    }
    req.end(body);
  });
}

function json(reply: Reply): Record<string, unknown> {
  return JSON.parse(reply.body) as Record<string, unknown>;
}

function header(reply: Reply, name: string): string | undefined {
  const v = reply.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface OidcCall {
  connectionId?: string;
  url?: string;
  apiVersion?: string | null;
  token?: string | null;
  suppress?: boolean;
  audience?: string;
  headers?: Record<string, string>;
  method?: string;
  body?: string;
}

/** POST to the Oidctoken API the way the task does (Bearer job token, Suppress header, empty body). */
function requestIdToken(emu: Emulator, o: OidcCall = {}): Promise<Reply> {
  const query = new URLSearchParams();
  if (o.apiVersion !== null) {
    query.set('api-version', o.apiVersion ?? '7.1');
  }
  query.set('serviceConnectionId', o.connectionId ?? emu.connection().id);
  if (o.audience) {
    query.set('audience', o.audience);
  }
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(o.headers ?? {}) };
  const token = o.token === undefined ? emu.options.jobAccessToken : o.token;
  if (token !== null) {
    headers.authorization = `Bearer ${token}`;
  }
  if (o.suppress !== false) {
    headers['x-tfs-fedauthredirect'] = 'Suppress';
  }
  return call(`${o.url ?? emu.oidcRequestUri}?${query.toString()}`, {
    method: o.method ?? 'POST',
    headers,
    body: o.body,
    ca: emu.caPem,
  });
}

async function idTokenFor(emu: Emulator, connectionId?: string, audience?: string): Promise<string> {
  const reply = await requestIdToken(emu, { connectionId, audience });
  assert.equal(reply.status, 200, reply.body);
  return json(reply).oidcToken as string;
}

interface TokenCall {
  assertion?: string;
  clientId?: string;
  tenant?: string;
  scope?: string;
  path?: string;
  fields?: Record<string, string | undefined>;
  method?: string;
  headers?: Record<string, string>;
}

/** Client-credentials request with a client assertion, as MSAL sends it. */
function exchange(emu: Emulator, o: TokenCall = {}): Promise<Reply> {
  const connection = emu.connection();
  const fields: Record<string, string | undefined> = {
    client_id: o.clientId ?? connection.clientId,
    scope: o.scope ?? 'https://management.azure.com/.default',
    grant_type: 'client_credentials',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: o.assertion,
    ...(o.fields ?? {}),
  };
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) {
      form.set(k, v);
    }
  }
  const url = o.path ? `${emu.url}${o.path}` : emu.tokenEndpoint(o.tenant ?? connection.tenantId);
  return call(url, {
    method: o.method ?? 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8', ...(o.headers ?? {}) },
    body: form.toString(),
    ca: emu.caPem,
  });
}

/** Asserts an Entra error reply: status, `error`, AADSTS code, and the exact body shape. */
function assertAadsts(reply: Reply, code: number, error: string, status: number): Record<string, unknown> {
  assert.equal(reply.status, status, reply.body);
  assert.match(header(reply, 'content-type') ?? '', /^application\/json/);
  const body = json(reply);
  assert.deepEqual(Object.keys(body), [
    'error',
    'error_description',
    'error_codes',
    'timestamp',
    'trace_id',
    'correlation_id',
    'error_uri',
  ]);
  assert.equal(body.error, error);
  assert.deepEqual(body.error_codes, [code]);
  assert.equal(body.error_uri, `https://login.microsoftonline.com/error?code=${code}`);
  assert.match(body.trace_id as string, GUID);
  assert.match(body.correlation_id as string, GUID);
  assert.match(body.timestamp as string, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  const description = body.error_description as string;
  assert.ok(description.startsWith(`AADSTS${code}: `), description);
  assert.ok(
    description.endsWith(
      `\r\nTrace ID: ${body.trace_id}\r\nCorrelation ID: ${body.correlation_id}\r\nTimestamp: ${body.timestamp}`,
    ),
    description,
  );
  assert.equal(header(reply, 'x-ms-request-id'), body.trace_id);
  return body;
}

/** Fetches an issuer's keys the way a third party would: discovery document, then jwks_uri. */
async function keysOfIssuer(emu: Emulator, issuer: string): Promise<Jwk[]> {
  const discoveryUrl = emu.discoveryUrlFor(issuer);
  assert.ok(discoveryUrl, `no discovery URL for ${issuer}`);
  const discovery = json(await call(discoveryUrl, { ca: emu.caPem }));
  assert.equal(discovery.issuer, issuer);
  const jwks = json(await call(discovery.jwks_uri as string, { ca: emu.caPem }));
  return jwks.keys as Jwk[];
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------------------------------------------------

describe('emulator', function () {
  this.timeout(30000);

  let emu: Emulator;
  const logLines: string[] = [];

  before(async () => {
    emu = await Emulator.start({ log: (line) => logLines.push(line) });
  });

  after(async () => {
    await emu?.stop();
  });

  afterEach(() => {
    emu.clearScripts();
  });

  describe('helpers', () => {
    it('packs GUIDs into subjects in .NET byte order (verified against a published Entra subject)', () => {
      assert.equal(guidToBase64Url('72f988bf-86f1-41af-91ab-2d7cd011db47'), 'v4j5cvGGr0GRqy180BHbRw');
      assert.equal(base64UrlToGuid('v4j5cvGGr0GRqy180BHbRw'), '72f988bf-86f1-41af-91ab-2d7cd011db47');
      assert.equal(guidToBase64Url('499b84ac-1321-427f-aa17-267ca6975798'), 'rISbSSETf0KqFyZ8ppdXmA');
    });

    it('signs and verifies RS256, and tells a tampered token and an unknown key apart', () => {
      const key = createSigningKeySync();
      const other = createSigningKeySync();
      const token = signJwt({ sub: 'a', iat: 1 }, key);
      assert.equal(checkJwtSignature(token, [key]), 'valid');
      const [h, , s] = token.split('.');
      const tampered = `${h}.${base64UrlEncode(JSON.stringify({ sub: 'b', iat: 1 }))}.${s}`;
      assert.equal(checkJwtSignature(tampered, [key]), 'bad-signature');
      assert.equal(checkJwtSignature(token, [other]), 'unknown-kid');
      assert.equal(checkJwtSignature(signJwt({}, key, { alg: 'none' }), [key]), 'unsupported-alg');
      assert.throws(() => decodeJwt('not-a-jwt'));
      assert.throws(() => decodeJwt('a.b.c'));
    });
  });

  describe('TLS, CA file and defaults', () => {
    it('serves HTTPS on 127.0.0.1 with a server certificate issued by the CA it writes to a file', async () => {
      assert.match(emu.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(readFileSync(emu.caFile, 'utf8'), emu.caPem);
      const ca = new X509Certificate(emu.caPem);
      assert.equal(ca.ca, true);
      const port = new URL(emu.url).port;
      for (const host of ['127.0.0.1', 'localhost']) {
        const reply = await call(`https://${host}:${port}/common/discovery/keys`, { ca: emu.caPem });
        assert.equal(reply.status, 200);
      }
    });

    it('is refused by a client that does not trust the test CA', async () => {
      await assert.rejects(
        call(`${emu.url}/common/discovery/keys`, { ca: null }),
        (err: NodeJS.ErrnoException) => {
          assert.match(String(err.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
          return true;
        },
      );
    });

    it('is trusted by a Node process given the CA file through NODE_EXTRA_CA_CERTS (global fetch)', async () => {
      const script = `
        fetch(process.env.URL, { method: 'POST', headers: { authorization: 'Bearer ' + process.env.TOKEN,
          'x-tfs-fedauthredirect': 'Suppress' } })
          .then(async (r) => { const b = await r.json(); console.log(r.status, typeof b.oidcToken); })
          .catch((e) => { console.log('ERR', e.cause ? e.cause.code : e.message); });`;
      // Asynchronous on purpose: the emulator lives in this process and must keep serving meanwhile.
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          ['-e', script],
          {
            env: {
              ...process.env,
              NODE_EXTRA_CA_CERTS: emu.caFile,
              URL: `${emu.oidcRequestUri}?api-version=7.1&serviceConnectionId=${emu.connection().id}`,
              TOKEN: emu.options.jobAccessToken,
            },
            encoding: 'utf8',
            timeout: 20000,
          },
          (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
        );
      });
      assert.equal(stdout.trim(), '200 string');
    });

    it('exposes the agent-facing URIs and a working default scenario with both issuer styles', () => {
      const o = emu.options;
      assert.equal(
        emu.oidcRequestUri,
        `${emu.url}/${o.organizationName}/${o.projectId}/_apis/distributedtask/hubs/${o.hostType}/plans/${o.planId}/jobs/${o.jobId}/oidctoken`,
      );
      assert.equal(emu.collectionUri, `${emu.url}/${o.organizationName}/`);
      assert.equal(emu.authorityHost, `${emu.url}/`);
      assert.deepEqual(
        o.connections.map((c) => c.issuerStyle),
        ['entra', 'azuredevops'],
      );
      assert.equal(o.identities.length, 2);
      assert.deepEqual(o.tenants, [o.connections[0].tenantId]);
      assert.equal(o.idTokenLifetimeSeconds, 600);
      assert.equal(o.accessTokenLifetimeSeconds, 3600);
    });

    it('describes the agent environment a task would see', () => {
      const env = emu.agentEnvironment();
      const c = emu.connection();
      assert.equal(env.SYSTEM_OIDCREQUESTURI, emu.oidcRequestUri);
      assert.equal(env.SYSTEM_COLLECTIONURI, emu.collectionUri);
      assert.equal(env.SYSTEM_TEAMPROJECTID, emu.options.projectId);
      assert.equal(env.AGENT_CAINFO, emu.caFile);
      assert.equal(env[`ENDPOINT_DATA_${c.id}_ACTIVEDIRECTORYAUTHORITY`], emu.authorityHost);
      const auth = JSON.parse(env[`ENDPOINT_AUTH_${c.id}`]) as {
        scheme: string;
        parameters: Record<string, string>;
      };
      assert.equal(auth.scheme, 'WorkloadIdentityFederation');
      assert.equal(auth.parameters.serviceprincipalid, c.clientId);
      assert.equal(auth.parameters.tenantid, c.tenantId);
      assert.equal(env[`ENDPOINT_AUTH_PARAMETER_${c.id}_TENANTID`], c.tenantId);
      assert.equal(
        (JSON.parse(env.ENDPOINT_AUTH_SYSTEMVSSCONNECTION) as { parameters: { AccessToken: string } })
          .parameters.AccessToken,
        emu.options.jobAccessToken,
      );
    });
  });

  describe('Oidctoken API', () => {
    it('issues an Entra-issuer idToken with the real claims, verifiable through the issuer metadata', async () => {
      const c = emu.connection('my-azure-connection');
      const reply = await requestIdToken(emu, { connectionId: c.id });
      assert.equal(reply.status, 200);
      assert.equal(header(reply, 'content-type'), 'application/json; charset=utf-8');
      assert.match(header(reply, 'x-vss-e2eid') ?? '', GUID);
      assert.match(header(reply, 'activityid') ?? '', GUID);
      assert.match(header(reply, 'x-msedge-ref') ?? '', /^Ref A: [0-9A-F]+ Ref B: \S+ Ref C: /);
      const body = json(reply);
      assert.deepEqual(Object.keys(body), ['oidcToken']);
      const token = body.oidcToken as string;
      assert.ok(emu.issuedIdTokens.includes(token));

      const { header: h, payload: p } = decodeJwt(token);
      assert.equal(h.alg, 'RS256');
      assert.equal(h.typ, 'JWT');
      assert.ok(h.kid);
      assert.equal(p.aud, 'api://AzureADTokenExchange');
      assert.equal(p.iss, `https://login.microsoftonline.com/${c.tenantId}/v2.0`);
      assert.equal(
        p.sub,
        `/eid1/c/pub/t/${guidToBase64Url(c.tenantId)}/a/${guidToBase64Url('499b84ac-1321-427f-aa17-267ca6975798')}` +
          `/sc/${emu.options.organizationId}/${c.id}`,
      );
      assert.equal((p.exp as number) - (p.iat as number), 600);
      assert.equal(p.nbf, p.iat);
      assert.ok(Math.abs((p.iat as number) - nowSeconds()) <= 2);
      assert.match(p.jti as string, GUID);

      const keys = await keysOfIssuer(emu, p.iss as string);
      assert.equal(checkJwtSignature(token, keys), 'valid');
      const adoKeys = await keysOfIssuer(emu, `https://vstoken.dev.azure.com/${emu.options.organizationId}`);
      assert.equal(checkJwtSignature(token, adoKeys), 'unknown-kid');
    });

    it('issues an Azure DevOps-issuer idToken on the collection-URI fallback route (7.1-preview.1, body {})', async () => {
      const c = emu.connection('my-legacy-connection');
      const o = emu.options;
      const url = `${emu.collectionUri}${o.projectId}/_apis/distributedtask/hubs/${o.hostType}/plans/${o.planId}/jobs/${o.jobId}/oidctoken`;
      const reply = await requestIdToken(emu, {
        connectionId: c.id,
        url,
        apiVersion: '7.1-preview.1',
        body: '{}',
      });
      assert.equal(reply.status, 200);
      const token = json(reply).oidcToken as string;
      const { payload: p } = decodeJwt(token);
      assert.equal(p.iss, `https://vstoken.dev.azure.com/${o.organizationId}`);
      assert.equal(p.sub, `sc://${o.organizationName}/${o.projectName}/${c.name}`);
      assert.equal(p.aud, 'api://AzureADTokenExchange');
      const keys = await keysOfIssuer(emu, p.iss as string);
      assert.equal(checkJwtSignature(token, keys), 'valid');
    });

    it('takes the api-version from the Accept header, a Basic job token, the project name and an audience', async () => {
      const token = emu.options.jobAccessToken;
      const reply = await requestIdToken(emu, {
        apiVersion: null,
        token: null,
        audience: 'api://custom-audience',
        url: emu.oidcRequestUri.replace(emu.options.projectId, emu.options.projectName),
        headers: {
          accept: 'application/json;api-version=7.1-preview.1',
          authorization: `Basic ${Buffer.from(`:${token}`).toString('base64')}`,
        },
      });
      assert.equal(reply.status, 200, reply.body);
      assert.equal(decodeJwt(json(reply).oidcToken as string).payload.aud, 'api://custom-audience');
    });

    it('answers a missing api-version with the exact Azure DevOps error', async () => {
      const reply = await requestIdToken(emu, { apiVersion: null });
      assert.equal(reply.status, 400);
      assert.match(header(reply, 'x-vss-e2eid') ?? '', GUID);
      assert.equal(
        reply.body,
        '{"$id":"1","innerException":null,"message":"No api-version was supplied for the \\"POST\\" request. The version must be supplied either as part of the Accept header (e.g. \\"application/json; api-version=1.0\\") or as a query parameter (e.g. \'?api-version=1.0\').","typeName":"Microsoft.VisualStudio.Services.WebApi.VssVersionNotSpecifiedException, Microsoft.VisualStudio.Services.WebApi","typeKey":"VssVersionNotSpecifiedException","errorCode":0,"eventId":3000}',
      );
    });

    it('refuses an api-version outside 7.x', async () => {
      const reply = await requestIdToken(emu, { apiVersion: '6.0' });
      assert.equal(reply.status, 400);
      assert.equal(json(reply).typeKey, 'VssVersionOutOfRangeException');
    });

    it('answers a bad job token with 401 + WWW-Authenticate when asked to suppress the sign-in redirect', async () => {
      for (const token of ['wrong-token', null]) {
        const reply = await requestIdToken(emu, { token });
        assert.equal(reply.status, 401);
        assert.match(header(reply, 'www-authenticate') ?? '', /^Bearer/);
        assert.match(header(reply, 'x-vss-e2eid') ?? '', GUID);
        const body = json(reply);
        assert.equal(body.typeKey, 'UnauthorizedRequestException');
        assert.deepEqual(Object.keys(body), [
          '$id',
          'innerException',
          'message',
          'typeName',
          'typeKey',
          'errorCode',
          'eventId',
        ]);
      }
    });

    it('answers a bad job token without the Suppress header with a 203 HTML sign-in page', async () => {
      const reply = await requestIdToken(emu, { token: 'wrong-token', suppress: false });
      assert.equal(reply.status, 203);
      assert.match(header(reply, 'content-type') ?? '', /^text\/html/);
      assert.match(reply.body, /<html/i);
      assert.match(header(reply, 'x-vss-e2eid') ?? '', GUID);
    });

    it('answers an unknown connection with 404 and the real message', async () => {
      const id = '00000000-1111-2222-3333-444444444444';
      const reply = await requestIdToken(emu, { connectionId: id });
      assert.equal(reply.status, 404);
      const body = json(reply);
      assert.equal(body.message, `No service connection found with identifier ${id}.`);
      assert.equal(body.$id, '1');
      assert.equal(body.innerException, null);
      assert.equal(body.errorCode, 0);
      assert.equal(body.eventId, 3000);
      assert.ok(body.typeName && body.typeKey);
    });

    it('answers 404 for another plan or job and 405 for GET', async () => {
      const o = emu.options;
      const otherPlan = emu.oidcRequestUri.replace(o.planId, '11111111-2222-3333-4444-555555555555');
      assert.equal((await requestIdToken(emu, { url: otherPlan })).status, 404);
      const otherJob = emu.oidcRequestUri.replace(o.jobId, '11111111-2222-3333-4444-555555555555');
      assert.equal((await requestIdToken(emu, { url: otherJob })).status, 404);
      assert.equal((await requestIdToken(emu, { method: 'GET' })).status, 405);
    });

    const presetExpectations: Array<[OidcFailurePreset, number, (r: Reply) => void]> = [
      ['unauthorized', 401, (r) => assert.match(header(r, 'www-authenticate') ?? '', /^Bearer/)],
      ['forbidden', 403, (r) => assert.equal(json(r).typeKey, 'AccessCheckException')],
      [
        'notFound',
        404,
        (r) => assert.match(json(r).message as string, /^No service connection found with identifier/),
      ],
      ['noApiVersion', 400, (r) => assert.equal(json(r).typeKey, 'VssVersionNotSpecifiedException')],
      ['signInPage203', 203, (r) => assert.match(r.body, /<html/i)],
      [
        'signInRedirect302',
        302,
        (r) =>
          assert.ok((header(r, 'location') ?? '').startsWith(`${emu.url}/_signin?`), header(r, 'location')),
      ],
      [
        'noExplicitReference',
        200,
        (r) => {
          const b = json(r);
          assert.equal(b.oidcToken, undefined);
          assert.match(b.value as string, /^There is no explicit reference to service connection /);
          assert.equal(typeof b.count, 'number');
        },
      ],
      ['missingOidcToken', 200, (r) => assert.equal(json(r).oidcToken, undefined)],
      ['notAJwt', 200, (r) => assert.throws(() => decodeJwt(json(r).oidcToken as string))],
      [
        'expiredToken',
        200,
        (r) => {
          const token = json(r).oidcToken as string;
          assert.ok((decodeJwt(token).payload.exp as number) < nowSeconds());
          assert.ok(emu.issuedIdTokens.includes(token));
        },
      ],
      ['serverError', 500, (r) => assert.ok(json(r).message)],
      ['throttled', 429, (r) => assert.equal(header(r, 'retry-after'), '1')],
    ];
    for (const [preset, status, check] of presetExpectations) {
      it(`failNext('oidctoken', '${preset}') answers ${status} once, then normally`, async () => {
        emu.failNext('oidctoken', preset);
        const failed = await requestIdToken(emu);
        assert.equal(failed.status, status, failed.body);
        assert.match(header(failed, 'x-vss-e2eid') ?? '', GUID);
        check(failed);
        const entry = emu.requests[emu.requests.length - 1];
        assert.equal(entry.scripted, true);
        assert.equal(entry.status, status);
        assert.equal((await requestIdToken(emu)).status, 200);
      });
    }

    it('failNext can repeat a preset', async () => {
      emu.failNext('oidctoken', 'serverError', 2);
      assert.equal(emu.pendingScripts('oidctoken'), 2);
      assert.equal((await requestIdToken(emu)).status, 500);
      assert.equal((await requestIdToken(emu)).status, 500);
      assert.equal((await requestIdToken(emu)).status, 200);
    });

    it('rejects preset names a kind does not have, and unknown AADSTS codes', () => {
      assert.throws(() => emu.failNext('oidctoken', 'nonsense' as OidcFailurePreset), /No failure preset/);
      assert.throws(() => emu.failNext('token', 123456789), /No AADSTS123456789/);
    });
  });

  describe('Entra token endpoint', () => {
    it('exchanges an Entra-issuer idToken for an access token with the real response shape', async () => {
      const c = emu.connection('my-azure-connection');
      const assertion = await idTokenFor(emu, c.id);
      const correlation = '0b9f3d6e-1c2a-4e5b-8f7d-3a6c9e2b1d4f';
      const reply = await exchange(emu, {
        assertion,
        clientId: c.clientId,
        headers: { 'client-request-id': correlation },
        fields: { client_info: '1', 'x-client-SKU': 'msal.js.node', claims: '{}' },
      });
      assert.equal(reply.status, 200, reply.body);
      assert.equal(header(reply, 'client-request-id'), correlation);
      const body = json(reply);
      assert.deepEqual(Object.keys(body), ['token_type', 'expires_in', 'ext_expires_in', 'access_token']);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.expires_in, 3600);
      const accessToken = body.access_token as string;
      assert.ok(emu.issuedAccessTokens.includes(accessToken));

      const { header: h, payload: p } = decodeJwt(accessToken);
      assert.equal(h.alg, 'RS256');
      assert.equal(p.aud, 'https://management.azure.com');
      assert.equal(p.iss, `https://sts.windows.net/${c.tenantId}/`);
      assert.equal(p.tid, c.tenantId);
      assert.equal(p.appid, c.clientId);
      assert.equal(p.azp, c.clientId);
      assert.equal(p.idtyp, 'app');
      assert.equal(p.sub, p.oid);
      assert.equal(p.oid, emu.identity(c.clientId)?.objectId);
      assert.equal((p.exp as number) - (p.iat as number), 3600);

      const jwks = json(await call(`${emu.url}/${c.tenantId}/discovery/v2.0/keys`, { ca: emu.caPem }));
      assert.equal(checkJwtSignature(accessToken, jwks.keys as Jwk[]), 'valid');
    });

    it('exchanges an Azure DevOps-issuer idToken too', async () => {
      const c = emu.connection('my-legacy-connection');
      const reply = await exchange(emu, { assertion: await idTokenFor(emu, c.id), clientId: c.clientId });
      assert.equal(reply.status, 200, reply.body);
    });

    it('takes the first .default scope as the audience', async () => {
      const reply = await exchange(emu, {
        assertion: await idTokenFor(emu),
        scope: 'openid https://graph.microsoft.com/.default https://management.azure.com/.default',
      });
      assert.equal(reply.status, 200, reply.body);
      assert.equal(decodeJwt(json(reply).access_token as string).payload.aud, 'https://graph.microsoft.com');
    });

    it('serves the v1 endpoint (resource, string numbers) and the ADFS endpoint with the same handler', async () => {
      const c = emu.connection();
      const v1 = await exchange(emu, {
        assertion: await idTokenFor(emu),
        path: `/${c.tenantId}/oauth2/token`,
        fields: { scope: undefined, resource: '499b84ac-1321-427f-aa17-267ca6975798' },
      });
      assert.equal(v1.status, 200, v1.body);
      const b1 = json(v1);
      assert.equal(b1.resource, '499b84ac-1321-427f-aa17-267ca6975798');
      assert.equal(b1.expires_in, '3600');
      assert.equal(typeof b1.expires_on, 'string');
      assert.equal(decodeJwt(b1.access_token as string).payload.aud, '499b84ac-1321-427f-aa17-267ca6975798');

      const adfs = await exchange(emu, { assertion: await idTokenFor(emu), path: '/adfs/oauth2/token' });
      assert.equal(adfs.status, 200, adfs.body);
      assert.ok(json(adfs).access_token);
    });

    it('refuses tenants it does not know: 90002 for a GUID, 900023 for a non-name', async () => {
      const assertion = await idTokenFor(emu);
      const guid = await exchange(emu, { assertion, tenant: '11111111-2222-3333-4444-555555555555' });
      const body = assertAadsts(guid, 90002, 'invalid_tenant', 400);
      assert.match(
        body.error_description as string,
        /Tenant '11111111-2222-3333-4444-555555555555' not found/,
      );
      const bad = await exchange(emu, { assertion, tenant: 'not-a-tenant' });
      const badBody = assertAadsts(bad, 900023, 'invalid_request', 400);
      assert.match(
        badBody.error_description as string,
        /Specified tenant identifier 'not-a-tenant' is neither a valid DNS name, nor a valid external domain\./,
      );
      assertAadsts(await exchange(emu, { assertion, tenant: 'common' }), 9001023, 'invalid_request', 400);
    });

    it('refuses an unknown client with 700016', async () => {
      const reply = await exchange(emu, {
        assertion: await idTokenFor(emu),
        clientId: '99999999-8888-7777-6666-555555555555',
      });
      const body = assertAadsts(reply, 700016, 'unauthorized_client', 400);
      assert.match(
        body.error_description as string,
        /Application with identifier '99999999-8888-7777-6666-555555555555' was not found in the directory/,
      );
    });

    it('refuses protocol errors with the AADSTS codes Entra uses', async () => {
      const assertion = await idTokenFor(emu);
      const b1 = assertAadsts(
        await exchange(emu, { assertion, fields: { grant_type: undefined } }),
        900144,
        'invalid_request',
        400,
      );
      assert.match(b1.error_description as string, /following parameter: 'grant_type'/);
      assertAadsts(
        await exchange(emu, { assertion, fields: { grant_type: 'password' } }),
        70003,
        'unsupported_grant_type',
        400,
      );
      assertAadsts(await exchange(emu, {}), 7000218, 'invalid_client', 401);
      assertAadsts(await exchange(emu, { fields: { client_secret: 'x' } }), 7000215, 'invalid_client', 401);
      assertAadsts(
        await exchange(emu, { assertion, fields: { client_assertion_type: undefined } }),
        900144,
        'invalid_request',
        400,
      );
      assertAadsts(
        await exchange(emu, { assertion, fields: { client_assertion_type: 'urn:other' } }),
        90011,
        'invalid_request',
        400,
      );
      assertAadsts(
        await exchange(emu, { assertion, scope: 'https://management.azure.com/user_impersonation' }),
        1002012,
        'invalid_scope',
        400,
      );
      assertAadsts(
        await exchange(emu, {
          assertion,
          fields: { scope: undefined, resource: 'https://management.azure.com/' },
        }),
        901002,
        'invalid_request',
        400,
      );
      assertAadsts(await exchange(emu, { assertion, method: 'GET' }), 900561, 'invalid_request', 400);
    });

    it('refuses an assertion that is not a JWT with 50027', async () => {
      assertAadsts(await exchange(emu, { assertion: 'not-a-jwt' }), 50027, 'invalid_request', 400);
    });

    it('refuses a tampered assertion (signature check against the issuer named in iss) with 700027', async () => {
      const token = await idTokenFor(emu);
      const [h, p, s] = token.split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
      claims.exp = (claims.exp as number) + 3600;
      const tampered = `${h}.${base64UrlEncode(JSON.stringify(claims))}.${s}`;
      assertAadsts(await exchange(emu, { assertion: tampered }), 700027, 'invalid_client', 401);
      // The same bytes re-signed with a key the issuer never published: unknown kid.
      const forged = signJwt(claims, createSigningKeySync());
      const body = assertAadsts(await exchange(emu, { assertion: forged }), 7000272, 'invalid_client', 401);
      assert.match(
        body.error_description as string,
        /could not be found in the metadata of identity provider/,
      );
    });

    it('refuses expired and not-yet-valid assertions with 700024', async () => {
      const expired = emu.mintIdToken(emu.connection(), { issuedAt: nowSeconds() - 3600 });
      const body = assertAadsts(await exchange(emu, { assertion: expired }), 700024, 'invalid_client', 401);
      assert.match(
        body.error_description as string,
        /Client assertion is not within its valid time range\. Current time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z, assertion valid from \d{4}-.*Z, expiry time of assertion \d{4}-.*Z\./,
      );
      const future = emu.mintIdToken(emu.connection(), { issuedAt: nowSeconds() + 3600 });
      assertAadsts(await exchange(emu, { assertion: future }), 700024, 'invalid_client', 401);
    });

    it('refuses an identity with no federated credentials with 70025', async () => {
      const connection = emu.addConnection({ name: 'no-fic' }, { identity: false });
      const identity = emu.addIdentity({
        clientId: connection.clientId,
        displayName: 'no-fic-app',
        federatedCredentials: [],
      });
      const reply = await exchange(emu, {
        assertion: await idTokenFor(emu, connection.id),
        clientId: connection.clientId,
      });
      const body = assertAadsts(reply, 70025, 'invalid_client', 401);
      assert.match(
        body.error_description as string,
        new RegExp(
          `The client '${identity.clientId}'\\(no-fic-app\\) has no configured federated identity credentials\\.`,
        ),
      );
    });

    it('refuses an audience no credential lists with 700212', async () => {
      const assertion = await idTokenFor(emu, undefined, 'api://SomethingElse');
      const body = assertAadsts(await exchange(emu, { assertion }), 700212, 'invalid_client', 401);
      assert.match(body.error_description as string, /presented assertion audience 'api:\/\/SomethingElse'/);
    });

    it('refuses an issuer no credential lists with 700211 and a wrong subject with 700213', async () => {
      const legacy = emu.addConnection(
        { name: 'issuer-mismatch', issuerStyle: 'azuredevops' },
        { identity: false },
      );
      emu.addIdentity({
        clientId: legacy.clientId,
        // What an identity set up for the Entra issuer trusts: the ADO-issued token does not match it.
        federatedCredentials: [emu.federatedCredentialFor({ ...legacy, issuerStyle: 'entra' })],
      });
      const b1 = assertAadsts(
        await exchange(emu, { assertion: await idTokenFor(emu, legacy.id), clientId: legacy.clientId }),
        700211,
        'invalid_client',
        401,
      );
      assert.match(
        b1.error_description as string,
        new RegExp(
          `No matching federated identity record found for presented assertion issuer 'https://vstoken\\.dev\\.azure\\.com/${emu.options.organizationId}'\\. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion\\.`,
        ),
      );

      const renamed = emu.addConnection(
        { name: 'subject-mismatch', issuerStyle: 'azuredevops' },
        { identity: false },
      );
      emu.addIdentity({
        clientId: renamed.clientId,
        federatedCredentials: [
          { issuer: emu.issuerFor(renamed), subject: 'sc://contoso/OldName/subject-mismatch' },
        ],
      });
      const b2 = assertAadsts(
        await exchange(emu, { assertion: await idTokenFor(emu, renamed.id), clientId: renamed.clientId }),
        700213,
        'invalid_client',
        401,
      );
      assert.match(
        b2.error_description as string,
        /presented assertion subject 'sc:\/\/contoso\/WebApp\/subject-mismatch'/,
      );
    });

    it("answers 70021 instead when the identity uses Entra's combined wording", async () => {
      const c = emu.addConnection({ name: 'combined' }, { identity: false });
      emu.addIdentity({
        clientId: c.clientId,
        matchMode: 'combined',
        federatedCredentials: [{ issuer: emu.issuerFor(c), subject: 'something-else' }],
      });
      const body = assertAadsts(
        await exchange(emu, { assertion: await idTokenFor(emu, c.id), clientId: c.clientId }),
        70021,
        'invalid_client',
        401,
      );
      assert.match(
        body.error_description as string,
        /No matching federated identity record found for presented assertion\. Assertion Issuer: 'https:\/\/login\.microsoftonline\.com\/.*\/v2\.0'\. Assertion Subject: '\/eid1\/.*'\. Assertion Audience: 'api:\/\/AzureADTokenExchange'\./,
      );
    });

    it('refuses a multitenant app with the Entra issuer (70052) but not with the Azure DevOps issuer', async () => {
      const entra = emu.addConnection({ name: 'multi-entra' });
      emu.identity(entra.clientId)!.multiTenant = true;
      assertAadsts(
        await exchange(emu, { assertion: await idTokenFor(emu, entra.id), clientId: entra.clientId }),
        70052,
        'invalid_client',
        401,
      );
      const ado = emu.addConnection({ name: 'multi-ado', issuerStyle: 'azuredevops' });
      emu.identity(ado.clientId)!.multiTenant = true;
      const ok = await exchange(emu, { assertion: await idTokenFor(emu, ado.id), clientId: ado.clientId });
      assert.equal(ok.status, 200, ok.body);
    });

    const scripted: Array<[number, string, number, RegExp]> = [
      [700223, 'invalid_client', 401, /Workload identity federation/],
      [700238, 'invalid_client', 401, /not allowed/],
      [900382, 'invalid_request', 400, /Confidential Client is not supported in Cross Cloud request\./],
      [7000215, 'invalid_client', 401, /Invalid client secret provided\./],
      [7000222, 'invalid_client', 401, /client secret keys .* are expired/],
      [
        70052,
        'invalid_client',
        401,
        /The identity must be a managed identity, a single tenant app, or a service account\./,
      ],
      [700213, 'invalid_client', 401, /presented assertion subject '\/eid1\//],
    ];
    for (const [code, error, status, text] of scripted) {
      it(`failNext('token', ${code}) answers Entra's AADSTS${code} for the request it meets`, async () => {
        const assertion = await idTokenFor(emu);
        emu.failNext('token', code);
        const body = assertAadsts(await exchange(emu, { assertion }), code, error, status);
        assert.match(body.error_description as string, text);
        assert.equal((await exchange(emu, { assertion })).status, 200);
      });
    }

    it('can throttle and fail server-side', async () => {
      const assertion = await idTokenFor(emu);
      emu.failNext('token', 'throttled');
      const throttled = await exchange(emu, { assertion });
      assert.equal(throttled.status, 429);
      assert.equal(header(throttled, 'retry-after'), '1');
      assert.equal(json(throttled).error, 'temporarily_unavailable');
      emu.failNext('token', 'serverError');
      assert.equal((await exchange(emu, { assertion })).status, 500);
    });
  });

  describe('expiry in time', () => {
    it('refuses an idToken once its real lifetime has passed', async () => {
      const short = await Emulator.start({ idTokenLifetimeSeconds: 1, accessTokenLifetimeSeconds: 2 });
      try {
        const assertion = await idTokenFor(short);
        const ok = await exchange(short, { assertion });
        assert.equal(ok.status, 200, ok.body);
        const access = decodeJwt(json(ok).access_token as string).payload;
        assert.equal((access.exp as number) - (access.iat as number), 2);
        assert.equal(json(ok).expires_in, 2);
        const exp = decodeJwt(assertion).payload.exp as number;
        await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 50));
        assertAadsts(await exchange(short, { assertion }), 700024, 'invalid_client', 401);
      } finally {
        await short.stop();
      }
    });

    it('follows an injected clock, so a test can jump past expiry', async () => {
      let clock = Date.now();
      const timed = await Emulator.start({ now: () => clock });
      try {
        const assertion = await idTokenFor(timed);
        assert.equal((await exchange(timed, { assertion })).status, 200);
        clock += 601 * 1000;
        assertAadsts(await exchange(timed, { assertion }), 700024, 'invalid_client', 401);
      } finally {
        await timed.stop();
      }
    });
  });

  describe('discovery endpoints', () => {
    it('serves the tenant OpenID configuration pointing at the emulator, with the issuer tokens carry', async () => {
      const tenant = emu.connection().tenantId;
      const reply = await call(`${emu.url}/${tenant}/v2.0/.well-known/openid-configuration`, {
        ca: emu.caPem,
      });
      assert.equal(reply.status, 200);
      const doc = json(reply);
      assert.equal(doc.issuer, `https://login.microsoftonline.com/${tenant}/v2.0`);
      assert.equal(doc.token_endpoint, emu.tokenEndpoint(tenant));
      for (const field of ['authorization_endpoint', 'jwks_uri', 'end_session_endpoint']) {
        assert.ok((doc[field] as string).startsWith(`${emu.url}/${tenant}/`), field);
      }
      assert.deepEqual(doc, emu.openIdConfiguration(tenant));
      const unknown = await call(
        `${emu.url}/11111111-2222-3333-4444-555555555555/v2.0/.well-known/openid-configuration`,
        {
          ca: emu.caPem,
        },
      );
      assertAadsts(unknown, 90002, 'invalid_tenant', 400);
      assert.equal(emu.requests[emu.requests.length - 1].kind, 'openid-configuration');
    });

    it('serves JWKS per tenant and for common', async () => {
      const tenant = emu.connection().tenantId;
      const tenantKeys = json(await call(`${emu.url}/${tenant}/discovery/v2.0/keys`, { ca: emu.caPem }))
        .keys as Jwk[];
      assert.equal(tenantKeys.length, 1);
      const k = tenantKeys[0];
      assert.equal(k.kty, 'RSA');
      assert.equal(k.use, 'sig');
      assert.equal(k.alg, 'RS256');
      assert.ok(k.n && k.e && k.kid);
      const common = json(await call(`${emu.url}/common/discovery/keys`, { ca: emu.caPem })).keys as Jwk[];
      assert.ok(common.some((c) => c.kid === k.kid));
      assert.equal(emu.requests[emu.requests.length - 1].kind, 'jwks');
    });

    it('answers instance discovery in the real shape', async () => {
      const tenant = emu.connection().tenantId;
      const authorize = `${emu.url}/${tenant}/oauth2/v2.0/authorize`;
      const reply = await call(
        `${emu.url}/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent(authorize)}`,
        { ca: emu.caPem },
      );
      assert.equal(reply.status, 200);
      const body = json(reply);
      const host = new URL(emu.url).host;
      assert.equal(
        body.tenant_discovery_endpoint,
        `${emu.url}/${tenant}/v2.0/.well-known/openid-configuration`,
      );
      assert.deepEqual(body.metadata, [
        {
          preferred_network: host,
          preferred_cache: host,
          aliases: [host, `localhost:${new URL(emu.url).port}`],
        },
      ]);
      assert.equal(emu.requests[emu.requests.length - 1].kind, 'instance-discovery');
      const other = await call(
        `${emu.url}/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent('https://example.invalid/x/oauth2/v2.0/authorize')}`,
        { ca: emu.caPem },
      );
      assertAadsts(other, 50049, 'invalid_instance', 400);
    });

    it('can fail discovery endpoints on demand', async () => {
      emu.failNext('jwks', 'serverError');
      assert.equal((await call(`${emu.url}/common/discovery/keys`, { ca: emu.caPem })).status, 500);
      assert.equal((await call(`${emu.url}/common/discovery/keys`, { ca: emu.caPem })).status, 200);
    });
  });

  describe('@azure/msal-node against the emulator', () => {
    /** MSAL's network module over node:https trusting the test CA (MSAL's own uses global fetch). */
    function networkClient(ca: string): INetworkModule {
      const send = async <T>(
        url: string,
        method: string,
        options?: NetworkRequestOptions,
      ): Promise<NetworkResponse<T>> => {
        const reply = await call(url, { method, headers: options?.headers, body: options?.body, ca });
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(reply.headers)) {
          if (v !== undefined) {
            headers[k] = Array.isArray(v) ? v.join(', ') : v;
          }
        }
        return { status: reply.status, headers, body: JSON.parse(reply.body) as T };
      };
      return {
        sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions) =>
          send<T>(url, 'GET', options),
        sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) =>
          send<T>(url, 'POST', options),
      };
    }

    function msalApp(connectionId: string): ConfidentialClientApplication {
      const c = emu.connection(connectionId);
      return new ConfidentialClientApplication({
        auth: {
          clientId: c.clientId,
          authority: `${emu.authorityHost}${c.tenantId}`,
          knownAuthorities: [new URL(emu.url).host],
          authorityMetadata: JSON.stringify(emu.openIdConfiguration(c.tenantId)),
          clientAssertion: () => idTokenFor(emu, c.id),
        },
        system: { networkClient: networkClient(emu.caPem) },
      });
    }

    it('gets an access token with one token request and no discovery', async () => {
      emu.clearRequests();
      const c = emu.connection();
      const result = await msalApp(c.id).acquireTokenByClientCredential({
        scopes: ['https://management.azure.com/.default'],
      });
      assert.ok(result?.accessToken);
      assert.ok(emu.issuedAccessTokens.includes(result.accessToken));
      assert.equal(emu.count('token'), 1);
      assert.equal(emu.count('oidctoken'), 1);
      assert.equal(emu.requests.length, 2);
      const form = new URLSearchParams(emu.requests.find((r) => r.kind === 'token')!.body);
      assert.equal(form.get('client_assertion_type'), ASSERTION_TYPE);
    });

    it('surfaces the Entra error code', async () => {
      emu.failNext('token', 700213);
      await assert.rejects(
        msalApp(emu.connection('my-legacy-connection').id).acquireTokenByClientCredential({
          scopes: ['https://graph.microsoft.com/.default'],
        }),
        (err: { errorCode?: string; message: string }) => {
          assert.equal(err.errorCode, 'invalid_client');
          assert.match(err.message, /AADSTS700213/);
          return true;
        },
      );
    });
  });

  describe('scripted responses and transport failures', () => {
    it('answers scripted status, headers and body (object as JSON, or computed from the request)', async () => {
      emu.script('oidctoken', [
        { status: 418, headers: { 'x-custom': 'yes' }, body: { hello: 'world' } },
        (req) => ({ status: 200, body: `connection ${req.query.serviceConnectionId}` }),
      ]);
      const first = await requestIdToken(emu);
      assert.equal(first.status, 418);
      assert.equal(header(first, 'x-custom'), 'yes');
      assert.match(header(first, 'x-vss-e2eid') ?? '', GUID);
      assert.deepEqual(json(first), { hello: 'world' });
      const second = await requestIdToken(emu);
      assert.equal(second.body, `connection ${emu.connection().id}`);
      assert.equal((await requestIdToken(emu)).status, 200);
    });

    it('answers 500 "Emulator error" when a script function throws, and keeps serving', async () => {
      emu.script('oidctoken', [
        () => {
          throw new Error('broken script');
        },
      ]);
      const reply = await requestIdToken(emu);
      assert.equal(reply.status, 500);
      assert.match(reply.body, /^Emulator error: Error: broken script/);
      assert.equal((await requestIdToken(emu)).status, 200);
    });

    it('puts Azure DevOps headers on unknown Azure DevOps URLs too', async () => {
      const reply = await call(`${emu.collectionUri}_apis/unknown`, { ca: emu.caPem });
      assert.equal(reply.status, 404);
      assert.match(header(reply, 'x-vss-e2eid') ?? '', GUID);
    });

    it('delays a request and then handles it normally', async () => {
      emu.script('token', [{ delayMs: 200 }]);
      const assertion = await idTokenFor(emu);
      const started = Date.now();
      const reply = await exchange(emu, { assertion });
      assert.equal(reply.status, 200);
      assert.ok(Date.now() - started >= 190);
      assert.equal(emu.requests[emu.requests.length - 1].scripted, false);
    });

    it('drops the connection without answering', async () => {
      emu.failNext('oidctoken', 'drop');
      await assert.rejects(requestIdToken(emu), (err: NodeJS.ErrnoException) => {
        assert.match(`${err.code} ${err.message}`, /ECONNRESET|socket hang up/);
        return true;
      });
      const entry = emu.requests[emu.requests.length - 1];
      assert.equal(entry.status, 0);
      assert.equal(entry.kind, 'oidctoken');
      assert.equal((await requestIdToken(emu)).status, 200);
    });

    it('hangs without answering, and still stops cleanly', async () => {
      const own = await Emulator.start();
      try {
        own.failNext('token', 'hang');
        await assert.rejects(
          call(own.tokenEndpoint(), { method: 'POST', body: '', ca: own.caPem, timeoutMs: 300 }),
          /client timeout|socket hang up/,
        );
        assert.equal(own.requests[0].status, 0);
        own.failNext('token', 'hang');
        const pending = call(own.tokenEndpoint(), { method: 'POST', body: '', ca: own.caPem }).catch(
          (e: Error) => e,
        );
        await new Promise((r) => setTimeout(r, 100));
        await own.stop();
        assert.ok((await pending) instanceof Error);
      } finally {
        await own.stop();
      }
    });

    it('injects latency into every response', async () => {
      const slow = await Emulator.start({ latencyMs: 150 });
      try {
        const started = Date.now();
        assert.equal((await requestIdToken(slow)).status, 200);
        assert.ok(Date.now() - started >= 140);
        slow.setOptions({ latencyMs: 0 });
        assert.equal(slow.options.latencyMs, 0);
      } finally {
        await slow.stop();
      }
    });
  });

  describe('request log', () => {
    it('records every request with method, path, query, lower-cased headers, raw body, status and kind', async () => {
      emu.clearRequests();
      assert.equal(emu.requests.length, 0);
      const assertion = await idTokenFor(emu);
      await exchange(emu, { assertion });
      await call(`${emu.url}/nowhere`, { ca: emu.caPem });
      assert.equal(emu.requests.length, 3);
      const [oidc, token, other] = emu.requests;
      assert.equal(oidc.method, 'POST');
      assert.equal(oidc.kind, 'oidctoken');
      assert.equal(oidc.status, 200);
      assert.equal(oidc.query['api-version'], '7.1');
      assert.equal(oidc.query.serviceConnectionId, emu.connection().id);
      assert.equal(oidc.headers['x-tfs-fedauthredirect'], 'Suppress');
      assert.ok(oidc.time instanceof Date);
      assert.ok(oidc.path.endsWith('/oidctoken'));
      assert.equal(token.kind, 'token');
      assert.equal(new URLSearchParams(token.body).get('client_assertion'), assertion);
      assert.equal(other.kind, 'other');
      assert.equal(other.status, 404);
      assert.equal(emu.count('oidctoken'), 1);
      assert.equal(emu.count('token'), 1);
      assert.equal(emu.count('jwks'), 0);
    });

    it('logs one line per request to the sink, never a token', () => {
      assert.ok(logLines.length >= emu.requests.length);
      assert.match(logLines[0], /^\d{4}-\d\d-\d\dT\S+Z (GET|POST) \/\S* \d{3}( \(\w+\))? [\w-]+/);
      const secrets = [...emu.issuedIdTokens, ...emu.issuedAccessTokens, emu.options.jobAccessToken];
      for (const line of logLines) {
        for (const secret of secrets) {
          assert.ok(!line.includes(secret), `log line leaks a token: ${line}`);
        }
        assert.ok(!line.includes('eyJ'), line);
      }
    });
  });

  describe('scenario changes', () => {
    it('breaks Azure DevOps-issuer subjects when the project is renamed, as the real rename does', async () => {
      const own = await Emulator.start();
      try {
        const legacy = own.connection('my-legacy-connection');
        const entra = own.connection('my-azure-connection');
        own.setOptions({ projectName: 'Renamed' });
        const b = assertAadsts(
          await exchange(own, { assertion: await idTokenFor(own, legacy.id), clientId: legacy.clientId }),
          700213,
          'invalid_client',
          401,
        );
        assert.match(b.error_description as string, /sc:\/\/contoso\/Renamed\/my-legacy-connection/);
        const ok = await exchange(own, {
          assertion: await idTokenFor(own, entra.id),
          clientId: entra.clientId,
        });
        assert.equal(ok.status, 200, ok.body);
      } finally {
        await own.stop();
      }
    });

    it('re-derives identities when connections are replaced, and honours explicit tenants', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'emulator-state-'));
      const tenantA = 'aaaaaaaa-0000-4000-8000-000000000001';
      const own = await Emulator.start({
        stateDir: dir,
        tenants: [tenantA],
        connections: [{ name: 'only', tenantId: tenantA }],
      });
      try {
        assert.equal(own.caFile, join(dir, 'emulator-ca.pem'));
        assert.equal(own.options.identities.length, 1);
        own.setOptions({
          connections: [
            { name: 'first', tenantId: tenantA },
            { name: 'second', issuerStyle: 'azuredevops' },
          ],
        });
        assert.equal(own.options.identities.length, 2);
        for (const c of own.options.connections) {
          const reply = await exchange(own, {
            assertion: await idTokenFor(own, c.id),
            clientId: c.clientId,
            tenant: c.tenantId,
          });
          assert.equal(reply.status, 200, reply.body);
        }
        const unknown = await exchange(own, {
          assertion: await idTokenFor(own),
          tenant: DEFAULT_TENANT_NOT_IN_SCENARIO,
        });
        assertAadsts(unknown, 90002, 'invalid_tenant', 400);
      } finally {
        await own.stop();
      }
      // A caller-given state directory is left in place.
      assert.ok(existsSync(join(dir, 'emulator-ca.pem')));
      rmSync(dir, { recursive: true, force: true });
    });

    it('removes its own temporary state directory on stop', async () => {
      const own = await Emulator.start();
      const file = own.caFile;
      assert.ok(existsSync(file));
      await own.stop();
      assert.ok(!existsSync(file));
      await own.stop();
    });
  });
});

const DEFAULT_TENANT_NOT_IN_SCENARIO = 'bbbbbbbb-0000-4000-8000-000000000002';
