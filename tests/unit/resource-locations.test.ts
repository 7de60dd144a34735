import { strict as assert } from 'node:assert';
import { WebApi, getBasicHandler } from 'azure-devops-node-api';
import { Emulator } from '../emulator';

describe('emulator: the resource locations azure-devops-node-api negotiates with', function () {
  this.timeout(20_000);
  let emulator: Emulator;

  before(async () => {
    emulator = await Emulator.start();
  });

  after(async () => {
    await emulator?.stop();
  });

  beforeEach(() => emulator.clearRequests());

  function webApi(token: string): WebApi {
    return new WebApi(emulator.collectionUri, getBasicHandler('vsts', token), {
      cert: { caFile: emulator.caFile },
      allowRetries: false,
    });
  }

  it('serves TaskApi.createOidcToken: OPTIONS on the area, then the Oidctoken POST', async () => {
    const { options } = emulator;
    const connection = emulator.connection();
    const taskApi = await webApi(options.jobAccessToken).getTaskApi();
    const { oidcToken } = await taskApi.createOidcToken(
      {},
      options.projectId,
      options.hostType,
      options.planId,
      options.jobId,
      connection.id,
    );
    assert.ok(oidcToken && emulator.issuedIdTokens.includes(oidcToken));
    assert.deepEqual(
      emulator.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
      [
        `OPTIONS /${options.organizationName}/_apis/distributedtask 200`,
        `POST /${options.organizationName}/${options.projectId}/_apis/distributedtask/hubs/${options.hostType}/plans/${options.planId}/jobs/${options.jobId}/oidctoken 200`,
      ],
    );
    assert.match(emulator.requests[1].headers.accept ?? '', /api-version=7\.2-preview\.1/);
  });

  it('authenticates the location request like the API, and knows no other area or method', async () => {
    await assert.rejects(
      webApi('wrong-token')
        .getTaskApi()
        .then((api) => api.createOidcToken({}, 'p', 'build', 'x', 'y', 'z')),
    );
    assert.equal(emulator.requests[0].status, 401);
    emulator.clearRequests();
    const url = `${emulator.collectionUri.replace(/\/$/, '')}/_apis/unknownarea`;
    const rest = webApi(emulator.options.jobAccessToken).rest;
    await rest.client.options(url).then((res) => res.readBody());
    await rest.client
      .get(`${emulator.collectionUri.replace(/\/$/, '')}/_apis/distributedtask`)
      .then((res) => res.readBody());
    assert.deepEqual(
      emulator.requests.map((r) => r.status),
      [404, 404],
    );
  });
});
