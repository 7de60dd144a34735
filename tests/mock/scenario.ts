import * as path from 'node:path';
import { TaskMockRunner } from 'azure-pipelines-task-lib/mock-run';
import type { HttpRequest, HttpResponse } from '../../src/core/http';

/**
 * One task-lib mock scenario, chosen by the test through MOCK_SCENARIO. The core's network layer is
 * replaced by a scripted transport; everything else is the real glue under task-lib's mock.
 */
const scenario = process.env.MOCK_SCENARIO ?? 'success';
const CONNECTION = 'c0ffee00-1111-2222-3333-444444444444';
const CLIENT = '11111111-2222-3333-4444-555555555555';
const TENANT = '66666666-7777-8888-9999-000000000000';
const JOB_TOKEN = 'job-access-token-value-0123456789';

const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const ID_TOKEN = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({
  iss: `https://login.microsoftonline.com/${TENANT}/v2.0`,
  sub: `/eid1/c/pub/t/x/a/y/sc/org/${CONNECTION}`,
  aud: 'api://AzureADTokenExchange',
  iat: now,
  exp: now + 600,
})}.c2ln`;
const ACCESS_TOKEN = 'access-token-value-0123456789';

const runner = new TaskMockRunner(path.join(__dirname, '..', '..', 'src', 'main.js'));
if (scenario !== 'missing-input') runner.setInput('connectedServiceNameARM', CONNECTION);

const scheme = scenario === 'service-principal' ? 'ServicePrincipal' : 'WorkloadIdentityFederation';
process.env[`ENDPOINT_AUTH_${CONNECTION}`] =
  scenario === 'corrupt-authorization'
    ? `{"parameters":{"serviceprincipalkey":"spn-secret-value-987654321"`
    : JSON.stringify({ parameters: { serviceprincipalid: CLIENT, tenantid: TENANT }, scheme });
process.env[`ENDPOINT_AUTH_SCHEME_${CONNECTION}`] = scheme;
process.env[`ENDPOINT_URL_${CONNECTION}`] = 'https://management.azure.com/';
process.env[`ENDPOINT_DATA_${CONNECTION}_SUBSCRIPTIONID`] = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
process.env[`ENDPOINT_DATA_${CONNECTION}_ENVIRONMENT`] = 'AzureCloud';
if (scenario !== 'no-job-token') {
  process.env.ENDPOINT_AUTH_SYSTEMVSSCONNECTION = JSON.stringify({
    parameters: { AccessToken: JOB_TOKEN },
    scheme: 'OAuth',
  });
}
process.env.SYSTEM_OIDCREQUESTURI =
  'https://dev.azure.com/org/proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken';
process.env.SYSTEM_COLLECTIONURI = 'https://dev.azure.com/org/';
process.env.AGENT_TEMPDIRECTORY = process.env.MOCK_TEMP_DIRECTORY ?? '';
process.env.AGENT_VERSION = '4.266.2';

const answers: Record<string, (request: HttpRequest) => HttpResponse> = {
  oidctoken: () => ({ status: 200, headers: {}, body: JSON.stringify({ oidcToken: ID_TOKEN }) }),
  token: () => ({
    status: 200,
    headers: {},
    body: JSON.stringify({ token_type: 'Bearer', expires_in: 3599, access_token: ACCESS_TOKEN }),
  }),
};
runner.registerMock('../core/http', {
  createTransport: () => ({
    send: async (request: HttpRequest) =>
      (request.url.includes('/oidctoken') ? answers.oidctoken : answers.token)(request),
  }),
});
if (scenario === 'summary-unwritable') {
  // The summary's directory cannot be made (a full disk, say); the token directory still can.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const real = require('../../src/core/tokenfile') as typeof import('../../src/core/tokenfile');
  runner.registerMock('../core/tokenfile', {
    ...real,
    createPrivateDirectory: (tempDirectory: string, prefix: string) => {
      if (prefix === 'azure-wif-summary-') throw new Error('ENOSPC: no space left on device, mkdtemp');
      return real.createPrivateDirectory(tempDirectory, prefix);
    },
  });
}
// The renewer is a process of its own (tests/e2e/renewer.test.ts); here only what the task hands it.
runner.registerMock('../renewer/control', {
  startRenewer: (launch: { workDirectory: string; configFile: string; secrets: Record<string, unknown> }) => {
    console.log(
      `mock renewer launch: ${JSON.stringify({
        workDirectory: launch.workDirectory,
        configFile: launch.configFile,
        secretKeys: Object.keys(launch.secrets),
        jobAccessTokenHandedOver: launch.secrets.jobAccessToken === JOB_TOKEN,
      })}`,
    );
    return 4242;
  },
});
if (scenario === 'no-renewer') runner.setInput('renewTokens', 'false');
if (scenario === 'bad-renew-input') runner.setInput('renewTokens', 'yes');
runner.run();
