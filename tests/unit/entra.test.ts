import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { parseConnection } from '../../src/core/connection';
import { explainEntraError } from '../../src/core/diagnostics';
import { defaultScope, exchangeForAccessToken, type EntraExchangeOptions } from '../../src/core/entra';
import { TaskFailure, TransientFailure } from '../../src/core/errors';
import { decodeIdTokenClaims } from '../../src/core/jwt';
import { RecordingLogger, ScriptedTransport, fakeJwt, idTokenClaims, json } from './fakes';

const CLIENT = '11111111-2222-3333-4444-555555555555';
const TENANT = '66666666-7777-8888-9999-000000000000';
const ASSERTION = fakeJwt(idTokenClaims());
const TRACE = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';
const CORRELATION = 'fedcba98-7654-3210-fedc-ba9876543210';

function connectionFor(environment: string, authority?: string) {
  return parseConnection({
    id: 'conn',
    scheme: 'WorkloadIdentityFederation',
    authParameters: { serviceprincipalid: CLIENT, tenantid: TENANT },
    data: {
      environment,
      activeDirectoryAuthority: authority,
      activeDirectoryServiceEndpointResourceId:
        environment === 'AzureStack' ? 'https://management.local.azurestack.external/' : undefined,
    },
  });
}

function entraError(code: number, text: string) {
  return json(401, {
    error: 'invalid_client',
    error_description: `AADSTS${code}: ${text}\r\nTrace ID: ${TRACE}\r\nCorrelation ID: ${CORRELATION}\r\nTimestamp: 2026-11-23 12:00:00Z`,
    error_codes: [code],
    trace_id: TRACE,
    correlation_id: CORRELATION,
  });
}

function exchangeOptions(
  transport: ScriptedTransport,
  environment = 'AzureCloud',
  authority?: string,
): EntraExchangeOptions {
  return {
    transport,
    connection: connectionFor(environment, authority),
    getAssertion: async () => ASSERTION,
    registerSecret: sinon.spy(),
    logger: new RecordingLogger(),
  };
}

const explain = (options: EntraExchangeOptions) => (error: Parameters<typeof explainEntraError>[0]) =>
  explainEntraError(error, options.connection, decodeIdTokenClaims(ASSERTION));

const success = json(200, {
  token_type: 'Bearer',
  expires_in: 3599,
  ext_expires_in: 3599,
  access_token: 'at.value.sig',
});

describe('Entra exchange', () => {
  for (const [environment, authority, tokenUrl] of [
    ['AzureCloud', undefined, `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`],
    ['AzureChinaCloud', undefined, `https://login.chinacloudapi.cn/${TENANT}/oauth2/v2.0/token`],
    ['AzureUSGovernment', undefined, `https://login.microsoftonline.us/${TENANT}/oauth2/v2.0/token`],
    [
      'AzureStack',
      'https://adfs.local.azurestack.external/',
      `https://adfs.local.azurestack.external/${TENANT}/oauth2/v2.0/token`,
    ],
  ] as const) {
    it(`makes exactly one request, the token POST, for ${environment}`, async () => {
      const transport = new ScriptedTransport([success]);
      const options = exchangeOptions(transport, environment, authority);
      const result = await exchangeForAccessToken(
        options,
        options.connection.cloud.resourceManager,
        explain(options),
      );
      assert.equal(result.token, 'at.value.sig');
      assert.equal(transport.requests.length, 1);
      assert.equal(transport.requests[0].method, 'POST');
      assert.equal(transport.requests[0].url.split('?')[0], tokenUrl);
      const form = new URLSearchParams(transport.requests[0].body);
      assert.equal(form.get('client_id'), CLIENT);
      assert.equal(form.get('grant_type'), 'client_credentials');
      assert.equal(
        form.get('client_assertion_type'),
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      );
      assert.equal(form.get('client_assertion'), ASSERTION);
      assert.ok(
        form.get('scope')?.split(' ').includes(`${options.connection.cloud.resourceManager}/.default`),
      );
    });
  }

  it("asks for <resource>/.default with the resource's own trailing slash, as Microsoft's tasks and az do", () => {
    // azure-arm-rest azure-arm-common.ts getMSALToken: `this.activeDirectoryResourceId + "/.default"`.
    assert.equal(
      defaultScope('https://management.core.windows.net/'),
      'https://management.core.windows.net//.default',
    );
    assert.equal(defaultScope('https://management.azure.com/'), 'https://management.azure.com//.default');
    assert.equal(defaultScope('https://graph.microsoft.com'), 'https://graph.microsoft.com/.default');
    assert.equal(
      defaultScope('499b84ac-1321-427f-aa17-267ca6975798'),
      '499b84ac-1321-427f-aa17-267ca6975798/.default',
    );
  });

  it('registers the access token as a secret and reports its expiry', async () => {
    const options = exchangeOptions(new ScriptedTransport([success]));
    const before = Date.now();
    const result = await exchangeForAccessToken(options, 'https://management.azure.com', explain(options));
    sinon.assert.calledOnceWithExactly(options.registerSecret as sinon.SinonSpy, 'at.value.sig');
    assert.ok(result.expiresOn.getTime() >= before + 3590_000);
  });

  it("turns AADSTS700213 into the credential to configure, with Entra's code and ids", async () => {
    const options = exchangeOptions(
      new ScriptedTransport([
        entraError(
          700213,
          "No matching federated identity record found for presented assertion subject 'x'.",
        ),
      ]),
    );
    let message = '';
    try {
      await exchangeForAccessToken(options, 'https://management.azure.com', explain(options));
    } catch (error) {
      assert.ok(error instanceof TaskFailure);
      message = error.message;
    }
    const claims = idTokenClaims();
    assert.equal(
      message,
      `Entra ID refused the idToken for client ${CLIENT} in tenant ${TENANT}: No federated credential on the identity matches the idToken's subject ` +
        '(typically after the organization, project or connection was renamed, or the connection was converted to the Entra issuer). ' +
        `Add a federated credential with issuer '${claims.iss}', subject '${claims.sub}' and audience 'api://AzureADTokenExchange' to the identity ${CLIENT}: ` +
        `for an app registration run: az ad app federated-credential create --id ${CLIENT} --parameters '{"name":"azure-pipelines","issuer":"${claims.iss}","subject":"${claims.sub}","audiences":["api://AzureADTokenExchange"]}'; ` +
        `for a user-assigned managed identity run: az identity federated-credential create --name azure-pipelines --identity-name <identity-name> --resource-group <resource-group> --issuer '${claims.iss}' --subject '${claims.sub}' --audiences api://AzureADTokenExchange. ` +
        `Entra ID said: AADSTS700213: No matching federated identity record found for presented assertion subject 'x'. (Trace ID: ${TRACE}, Correlation ID: ${CORRELATION})`,
    );
  });

  it('keeps an unknown AADSTS code and points at the lookup page', async () => {
    const options = exchangeOptions(new ScriptedTransport([entraError(123456, 'Something new.')]));
    await assert.rejects(
      exchangeForAccessToken(options, 'https://management.azure.com', explain(options)),
      new TaskFailure(
        `Entra ID refused the idToken for client ${CLIENT} in tenant ${TENANT} (invalid_client). ` +
          'Look up the AADSTS code below at https://login.microsoftonline.com/error and fix the identity or the service connection. ' +
          `Entra ID said: AADSTS123456: Something new. (Trace ID: ${TRACE}, Correlation ID: ${CORRELATION})`,
      ),
    );
  });

  it('reports a token response that is not JSON', async () => {
    const options = exchangeOptions(
      new ScriptedTransport([{ status: 200, headers: {}, body: '<html>Proxy login</html>' }]),
    );
    await assert.rejects(
      exchangeForAccessToken(options, 'https://management.azure.com', explain(options)),
      new TaskFailure(
        `Entra ID answered https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token with HTTP 200 and a body that is not JSON. ` +
          'Check that no proxy or gateway between the agent and Entra ID rewrites responses.',
      ),
    );
  });

  for (const status of [408, 429, 500, 502, 503, 504]) {
    it(`reports HTTP ${status} as transient, with the Retry-After it was given`, async () => {
      const options = exchangeOptions(
        new ScriptedTransport([{ status, headers: { 'retry-after': '7' }, body: '<html>busy</html>' }]),
      );
      const error = await exchangeForAccessToken(
        options,
        'https://management.azure.com',
        explain(options),
      ).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof TransientFailure);
      assert.equal(
        error.message,
        `Entra ID answered the token request with HTTP ${status}. Re-run the job; if it persists, check the Azure status page for Entra ID.`,
      );
      assert.equal(error.reason, `HTTP ${status} from Entra ID`);
      assert.equal(error.retryAfterMs, 7000);
    });
  }
});
