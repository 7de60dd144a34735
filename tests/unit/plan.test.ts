import { strict as assert } from 'node:assert';
import { parseConnection } from '../../src/core/connection';
import { planExports } from '../../src/core/plan';

const connection = parseConnection({
  id: 'conn-id-0000-0000-0000-000000000000',
  scheme: 'WorkloadIdentityFederation',
  authParameters: {
    serviceprincipalid: '11111111-2222-3333-4444-555555555555',
    tenantid: '66666666-7777-8888-9999-000000000000',
  },
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
});
