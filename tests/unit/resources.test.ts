import { strict as assert } from 'node:assert';
import { TaskFailure } from '../../src/core/errors';
import { derivedName, parseResourceList, resolveResources } from '../../src/core/resources';
import { wifConnection } from './fakes';

/** The input as the task reads it: syntax with the other inputs, then the cloud's resources. */
const parseResources = (text: string | undefined, cloud: Parameters<typeof resolveResources>[1]) =>
  resolveResources(parseResourceList(text), cloud);

const cloudOf = (environment: string) => wifConnection({ id: 'c', data: { environment } }).cloud;
const PUBLIC = cloudOf('AzureCloud');

function failure(text: string, cloud = PUBLIC): string {
  try {
    parseResources(text, cloud);
  } catch (error) {
    assert.ok(error instanceof TaskFailure);
    return error.message;
  }
  assert.fail('expected a failure');
}

describe('extra resources input', () => {
  it('maps the aliases to the cloud’s resources, one per line or comma-separated', () => {
    assert.deepEqual(parseResources('graph, keyvault\nstorage\n\ndevops', PUBLIC), [
      { name: 'GRAPH', resource: 'https://graph.microsoft.com' },
      { name: 'KEYVAULT', resource: 'https://vault.azure.net' },
      { name: 'STORAGE', resource: 'https://storage.azure.com' },
      { name: 'DEVOPS', resource: '499b84ac-1321-427f-aa17-267ca6975798' },
    ]);
  });

  it('uses the sovereign cloud’s own Graph and Key Vault', () => {
    assert.deepEqual(parseResources('Graph,KeyVault', cloudOf('AzureChinaCloud')), [
      { name: 'GRAPH', resource: 'https://microsoftgraph.chinacloudapi.cn' },
      { name: 'KEYVAULT', resource: 'https://vault.azure.cn' },
    ]);
  });

  it('names a URI after its host, a GUID after itself, and honours NAME=', () => {
    assert.deepEqual(
      parseResources(
        'https://database.windows.net/, api://contoso-api, 00000003-0000-0000-c000-000000000000, sql2=https://ossrdbms-aad.database.windows.net',
        PUBLIC,
      ),
      [
        { name: 'DATABASE_WINDOWS_NET', resource: 'https://database.windows.net' },
        { name: 'CONTOSO_API', resource: 'api://contoso-api' },
        { name: '00000003_0000_0000_C000_000000000000', resource: '00000003-0000-0000-c000-000000000000' },
        { name: 'SQL2', resource: 'https://ossrdbms-aad.database.windows.net' },
      ],
    );
    assert.equal(derivedName('https://my.api.example/v1/'), 'MY_API_EXAMPLE_V1');
  });

  it('is empty when the input is', () => {
    assert.deepEqual(parseResources(undefined, PUBLIC), []);
    assert.deepEqual(parseResources(' \n , ', PUBLIC), []);
  });

  it('refuses what is not an alias, a URI or a GUID, naming the entry and the accepted forms', () => {
    assert.equal(
      failure('graph, vault'),
      "The resources input has the entry 'vault', which is not an alias, a URI or a GUID. " +
        'List one resource per line or comma-separated: graph, keyvault, storage, devops, a resource URI such as https://database.windows.net, an application id GUID, or NAME=<uri or GUID>.',
    );
  });

  it('refuses an alias the cloud does not have', () => {
    assert.match(
      failure('devops', cloudOf('AzureChinaCloud')),
      /'devops', which names devops, which the cloud AzureChinaCloud does not have\./,
    );
  });

  it('refuses plain http, bad names and repeats', () => {
    assert.match(failure('http://example.test'), /which is not an https or api:\/\/ URI\./);
    assert.match(
      failure('1x=graph'),
      /which has a name that is not letters, digits and _ starting with a letter\./,
    );
    assert.match(failure('graph, GRAPH=https://other.example'), /which repeats the name GRAPH\./);
    assert.match(
      failure('graph, g2=https://graph.microsoft.com/'),
      /which repeats a resource listed before\./,
    );
  });
});
