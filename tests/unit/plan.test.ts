import { strict as assert } from 'node:assert';
import { OUTPUT_NAMES, planExports } from '../../src/core/plan';
import { wifConnection } from './fakes';

const connection = wifConnection({
  id: 'conn-id-0000-0000-0000-000000000000',
  data: { subscriptionId: '5b0c1d2e-0000-4000-8000-00000000cafe' },
});
const inputs = {
  connection,
  oidcRequestUrl: 'https://dev.azure.com/o/p/_apis/oidctoken',
  idToken: 'id.token.value',
  idTokenExpiresOn: new Date('2026-11-23T12:10:00Z'),
  accessToken: 'access.token.value',
  accessTokenExpiresOn: new Date('2026-11-23T13:00:00Z'),
  federatedTokenFile: '/tmp/agent/azure-wif-x/federated-token.jwt',
  exportIdToken: true,
  extraTokens: [],
  prefix: '',
  exportTokenOutputs: false,
};

describe('export plan', () => {
  it('never exports a secret as a plain variable', () => {
    for (const variable of planExports(inputs)) {
      if ([inputs.idToken, inputs.accessToken].includes(variable.value))
        assert.equal(variable.secret, true, variable.name);
    }
  });

  it('gives output variables names the task schema allows', () => {
    for (const variable of planExports(inputs).filter((v) => v.output)) {
      assert.match(variable.name, /^[A-Za-z][A-Za-z0-9]*$/);
    }
  });

  it('omits the subscription variables when the connection has none', () => {
    const names = planExports({ ...inputs, connection: { ...connection, subscriptionId: undefined } }).map(
      (v) => v.name,
    );
    for (const name of ['ARM_SUBSCRIPTION_ID', 'AZURE_SUBSCRIPTION_ID', 'subscriptionId'])
      assert.ok(!names.includes(name));
  });

  it('omits ARM_ENVIRONMENT for a cloud Terraform does not name', () => {
    const custom = { ...connection, cloud: { ...connection.cloud, terraformEnvironment: undefined } };
    assert.ok(!planExports({ ...inputs, connection: custom }).some((v) => v.name === 'ARM_ENVIRONMENT'));
  });

  it('leaves the idToken out entirely when asked, so nothing can shadow Terraform refresh', () => {
    const variables = planExports({ ...inputs, exportIdToken: false });
    assert.deepEqual(
      variables.filter((v) => v.value === inputs.idToken),
      [],
    );
    assert.ok(variables.some((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE'));
    assert.ok(variables.some((v) => v.name === 'ARM_OIDC_REQUEST_URL'));
  });

  it('names no variable twice in the same scope', () => {
    const keys = planExports(inputs).map((v) => `${v.output}:${v.name}`);
    assert.equal(new Set(keys).size, keys.length);
  });

  it('keeps tokens out of output variables unless the author opts in, since outputs leave the job', () => {
    const outputs = planExports(inputs).filter((v) => v.output);
    assert.deepEqual(
      outputs.filter((v) => v.secret || [inputs.idToken, inputs.accessToken].includes(v.value)),
      [],
    );
    assert.deepEqual(
      outputs.map((v) => v.name),
      [
        'serviceConnectionId',
        'clientId',
        'azureTenantId',
        'subscriptionId',
        'authorityHost',
        'oidcTokenExpiresOn',
        'accessTokenExpiresOn',
      ],
    );
  });

  it('sets the token outputs as secrets when the author opts in', () => {
    const tokens = planExports({ ...inputs, exportTokenOutputs: true }).filter((v) => v.output && v.secret);
    assert.deepEqual(
      tokens.map((v) => [v.name, v.value]),
      [
        [OUTPUT_NAMES.idToken, inputs.idToken],
        [OUTPUT_NAMES.accessToken, inputs.accessToken],
      ],
    );
    const withoutIdToken = planExports({ ...inputs, exportTokenOutputs: true, exportIdToken: false });
    assert.deepEqual(
      withoutIdToken.filter((v) => v.output && v.secret).map((v) => v.name),
      [OUTPUT_NAMES.accessToken],
    );
  });

  it("keeps the case of AzureCLI@2's servicePrincipalId and tenantId, and of nothing else", () => {
    const preserved = planExports({ ...inputs, prefix: 'STATE_' }).filter((v) => v.preserveCase);
    assert.deepEqual(
      preserved.map((v) => [v.name, v.secret, v.output]),
      [
        ['STATE_servicePrincipalId', false, false],
        ['STATE_tenantId', false, false],
      ],
    );
  });
});
