import { strict as assert } from 'node:assert';
import { parseConnection, type ServiceConnectionFields } from '../../src/core/connection';
import { TaskFailure } from '../../src/core/errors';

const ID = '0f6a8f4e-2c1b-4a5e-9d3c-7b8a9c0d1e2f';
const CLIENT = '11111111-2222-3333-4444-555555555555';
const TENANT = '66666666-7777-8888-9999-000000000000';
const SUBSCRIPTION = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

function fields(overrides: Partial<ServiceConnectionFields> = {}): ServiceConnectionFields {
  return {
    id: ID,
    url: 'https://management.azure.com/',
    scheme: 'WorkloadIdentityFederation',
    authParameters: { serviceprincipalid: CLIENT, tenantid: TENANT },
    data: { environment: 'AzureCloud', scopeLevel: 'Subscription', subscriptionId: SUBSCRIPTION },
    ...overrides,
  };
}

function failure(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof TaskFailure, `expected a TaskFailure, got ${String(error)}`);
    return error.message;
  }
  assert.fail('expected a failure');
}

describe('connection model', () => {
  it('reads client, tenant, subscription and the public cloud from a WIF connection', () => {
    const connection = parseConnection(fields());
    assert.deepEqual(connection, {
      id: ID,
      clientId: CLIENT,
      tenantId: TENANT,
      scopeLevel: 'Subscription',
      subscriptionId: SUBSCRIPTION,
      subscriptionName: undefined,
      cloud: {
        name: 'AzureCloud',
        authorityHost: 'https://login.microsoftonline.com/',
        // The connection's URL, verbatim, as Microsoft's tasks use it (azure-arm-rest azure-arm-endpoint.ts).
        resourceManager: 'https://management.azure.com/',
        terraformEnvironment: 'public',
        graph: 'https://graph.microsoft.com',
        keyVault: 'https://vault.azure.net',
        storage: 'https://storage.azure.com',
        devops: '499b84ac-1321-427f-aa17-267ca6975798',
      },
      resourceManagerUrl: 'https://management.azure.com/',
      expectedIssuer: undefined,
      expectedSubject: undefined,
    });
  });

  it('compares the scheme and parameter names case-insensitively', () => {
    const connection = parseConnection(
      fields({
        scheme: 'workloadidentityfederation',
        authParameters: { ServicePrincipalId: CLIENT, TENANTID: TENANT },
      }),
    );
    assert.equal(connection.clientId, CLIENT);
    assert.equal(connection.tenantId, TENANT);
  });

  for (const [environment, authorityHost, resourceManager, terraform, graph, keyVault, devops] of [
    [
      'AzureChinaCloud',
      'https://login.chinacloudapi.cn/',
      'https://management.chinacloudapi.cn/',
      'china',
      'https://microsoftgraph.chinacloudapi.cn',
      'https://vault.azure.cn',
      undefined,
    ],
    [
      'AzureUSGovernment',
      'https://login.microsoftonline.us/',
      'https://management.usgovcloudapi.net/',
      'usgovernment',
      'https://graph.microsoft.us',
      'https://vault.usgovcloudapi.net',
      '499b84ac-1321-427f-aa17-267ca6975798',
    ],
  ]) {
    it(`maps ${environment} to its authority, Resource Manager, Terraform environment and data planes`, () => {
      const { cloud } = parseConnection(
        fields({ url: resourceManager, data: { environment: environment!, subscriptionId: SUBSCRIPTION } }),
      );
      assert.deepEqual(cloud, {
        name: environment,
        authorityHost,
        resourceManager,
        terraformEnvironment: terraform,
        graph,
        keyVault,
        storage: 'https://storage.azure.com',
        devops,
      });
    });
  }

  it('defers an Azure Stack Hub cloud to its metadata endpoint when no authority is given', () => {
    const { cloud } = parseConnection(
      fields({ url: 'https://management.local.azurestack.external', data: { environment: 'AzureStack' } }),
    );
    assert.equal(
      cloud.metadataUrl,
      'https://management.local.azurestack.external/metadata/endpoints?api-version=2015-01-01',
    );
    assert.equal(cloud.authorityHost, '');
  });

  it('reads the workspace scope of a Machine Learning connection', () => {
    const connection = parseConnection(
      fields({
        data: {
          scopeLevel: 'AzureMLWorkspace',
          subscriptionId: SUBSCRIPTION,
          resourceGroupName: 'ml-rg',
          mlWorkspaceName: 'ml-ws',
          mlWorkspaceLocation: 'westeurope',
        },
      }),
    );
    assert.deepEqual(
      [
        connection.subscriptionId,
        connection.resourceGroupName,
        connection.mlWorkspaceName,
        connection.mlWorkspaceLocation,
      ],
      [SUBSCRIPTION, 'ml-rg', 'ml-ws', 'westeurope'],
    );
  });

  it('lets the connection override the Graph and Key Vault resources', () => {
    const { cloud } = parseConnection(
      fields({
        data: {
          microsoftGraphUrl: 'https://graph.example.test/',
          AzureKeyVaultServiceEndpointResourceId: 'https://vault.example.test',
        },
      }),
    );
    assert.equal(cloud.graph, 'https://graph.example.test');
    assert.equal(cloud.keyVault, 'https://vault.example.test');
  });

  it('lets the connection override the authority and resource, as Azure Stack and the emulator do', () => {
    const { cloud } = parseConnection(
      fields({
        data: {
          environment: 'AzureStack',
          activeDirectoryAuthority: 'https://127.0.0.1:8443',
          activeDirectoryServiceEndpointResourceId: 'https://management.local.azurestack.external/',
        },
      }),
    );
    assert.deepEqual(cloud, {
      name: 'AzureStack',
      authorityHost: 'https://127.0.0.1:8443/',
      resourceManager: 'https://management.local.azurestack.external/',
      terraformEnvironment: undefined,
      graph: undefined,
      keyVault: undefined,
      storage: undefined,
      devops: undefined,
    });
  });

  it('falls back to environmentAuthorityUrl when activeDirectoryAuthority is absent', () => {
    const { cloud } = parseConnection(
      fields({ data: { environmentAuthorityUrl: 'https://login.example.test/' } }),
    );
    assert.equal(cloud.authorityHost, 'https://login.example.test/');
    assert.equal(cloud.resourceManager, 'https://management.azure.com/');
  });

  it('reads Azure Stack Hub metadata when only the authority is given, as Microsoft does when either is missing', () => {
    const { cloud } = parseConnection(
      fields({
        url: 'https://management.local.azurestack.external/',
        data: { environment: 'AzureStack', activeDirectoryAuthority: 'https://login.microsoftonline.com/' },
      }),
    );
    assert.equal(
      cloud.metadataUrl,
      'https://management.local.azurestack.external/metadata/endpoints?api-version=2015-01-01',
    );
  });

  it('keeps the trailing slash of the resource id the connection names, for the audience Resource Manager checks', () => {
    const { cloud } = parseConnection(
      fields({
        url: undefined,
        data: { activeDirectoryServiceEndpointResourceId: 'https://management.core.windows.net/' },
      }),
    );
    assert.equal(cloud.resourceManager, 'https://management.core.windows.net/');
  });

  it('uses the connection URL as the Resource Manager audience outside Azure Stack, as Microsoft does', () => {
    const { cloud } = parseConnection(
      fields({
        url: 'https://management.azure.com/',
        data: { activeDirectoryServiceEndpointResourceId: 'https://management.core.windows.net/' },
      }),
    );
    assert.equal(cloud.resourceManager, 'https://management.azure.com/');
  });

  it('exports no subscription for a management-group connection, and keeps the group id', () => {
    const connection = parseConnection(
      fields({
        data: { scopeLevel: 'ManagementGroup', managementGroupId: 'platform', subscriptionId: SUBSCRIPTION },
      }),
    );
    assert.equal(connection.subscriptionId, undefined);
    assert.equal(connection.managementGroupId, 'platform');
    assert.equal(connection.scopeLevel, 'ManagementGroup');
  });

  it('keeps the issuer and subject the service recorded for the connection', () => {
    const connection = parseConnection(
      fields({
        authParameters: {
          serviceprincipalid: CLIENT,
          tenantid: TENANT,
          workloadIdentityFederationIssuer: 'https://login.microsoftonline.com/t/v2.0',
          workloadIdentityFederationSubject: 'sc://org/project/conn',
        },
      }),
    );
    assert.equal(connection.expectedIssuer, 'https://login.microsoftonline.com/t/v2.0');
    assert.equal(connection.expectedSubject, 'sc://org/project/conn');
  });

  it('refuses a secret-based connection, naming the scheme and how to convert it', () => {
    assert.equal(
      failure(() =>
        parseConnection(
          fields({
            scheme: 'ServicePrincipal',
            authParameters: { authenticationType: 'spnKey', tenantid: TENANT },
          }),
        ),
      ),
      `Service connection ${ID} uses the authentication scheme 'ServicePrincipal' (spnKey), but this task needs 'WorkloadIdentityFederation'. ` +
        'Open Project settings > Service connections, select the connection and choose "Convert" to switch it to workload identity federation, ' +
        'or create a new Azure Resource Manager connection with "Workload identity federation".',
    );
  });

  it('refuses a managed-identity connection and says why it cannot serve later steps', () => {
    assert.match(
      failure(() => parseConnection(fields({ scheme: 'ManagedServiceIdentity' }))),
      /^Service connection .* uses the authentication scheme 'ManagedServiceIdentity', which only works on agents running in Azure with that managed identity, so it cannot give later steps a federated token\. Open Project settings/,
    );
  });

  it('refuses a connection without a scheme', () => {
    assert.match(
      failure(() => parseConnection(fields({ scheme: undefined }))),
      /uses no authentication scheme, but this task needs 'WorkloadIdentityFederation'\./,
    );
  });

  it('names the missing client id', () => {
    assert.equal(
      failure(() => parseConnection(fields({ authParameters: { tenantid: TENANT } }))),
      `Service connection ${ID} has no client id (serviceprincipalid). ` +
        'Edit the service connection, or recreate it, so that it names its app registration or managed identity.',
    );
  });

  it('refuses a tenant id that is not a GUID', () => {
    assert.equal(
      failure(() =>
        parseConnection(fields({ authParameters: { serviceprincipalid: CLIENT, tenantid: 'contoso.com' } })),
      ),
      `Service connection ${ID} has the tenant id 'contoso.com', which is not a GUID. Edit the service connection and set tenantid to the GUID shown in Entra ID.`,
    );
  });

  it('refuses an http authority, which MSAL would refuse later with a vaguer message', () => {
    assert.equal(
      failure(() =>
        parseConnection(fields({ data: { activeDirectoryAuthority: 'http://login.example.test/' } })),
      ),
      `Service connection ${ID} has activeDirectoryAuthority 'http://login.example.test/', which is not https; Entra ID clients refuse plain http. ` +
        'Edit the service connection and set activeDirectoryAuthority to an https URL.',
    );
  });

  it('refuses an unknown cloud without an authority override', () => {
    assert.match(
      failure(() => parseConnection(fields({ data: { environment: 'AzureGermanCloud' } }))),
      /targets the environment 'AzureGermanCloud', whose Entra ID authority this task does not know\./,
    );
  });

  it('refuses an unknown scope level', () => {
    assert.match(
      failure(() => parseConnection(fields({ data: { scopeLevel: 'Tenant' } }))),
      /has the scope level 'Tenant'/,
    );
  });
});

describe('connection fields are checked before any use', () => {
  const base = { environment: 'AzureCloud', scopeLevel: 'Subscription', subscriptionId: SUBSCRIPTION };

  it('refuses a subscription id that is not a GUID', () => {
    assert.equal(
      failure(() => parseConnection(fields({ data: { ...base, subscriptionId: '1234&calc' } }))),
      `Service connection ${ID} has the subscriptionId '1234&calc', which is not a GUID. ` +
        "Edit the service connection and set subscriptionId to the subscription's id (a GUID) as the Azure portal shows it.",
    );
  });

  it('accepts management group ids Azure allows, and refuses the rest', () => {
    const group = (managementGroupId: string) =>
      parseConnection(fields({ data: { scopeLevel: 'ManagementGroup', managementGroupId } }))
        .managementGroupId;
    for (const id of [
      'platform',
      'mg-01_(prod).eu',
      'a',
      'x'.repeat(90),
      '72f988bf-86f1-41af-91ab-2d7cd011db47',
    ]) {
      assert.equal(group(id), id);
    }
    for (const id of ['x'.repeat(91), 'ends.', 'has space', 'a&b', 'a|b', 'a%b', 'a"b', 'a^b', 'a/b']) {
      assert.equal(
        failure(() => group(id)),
        `Service connection ${ID} has the managementGroupId '${id}', which is not a management group id (1 to 90 letters, digits, - _ ( ) or ., not ending in .). ` +
          "Edit the service connection and set managementGroupId to the management group's id (not its display name).",
        id,
      );
    }
  });

  it('checks the Machine Learning workspace fields by Azure naming rules', () => {
    const ml = (data: Record<string, string>) =>
      parseConnection(
        fields({
          data: {
            scopeLevel: 'AzureMLWorkspace',
            subscriptionId: SUBSCRIPTION,
            resourceGroupName: 'rg-ünï_(1).x',
            mlWorkspaceName: 'ws-1_a',
            mlWorkspaceLocation: 'westeurope',
            ...data,
          },
        }),
      );
    assert.equal(ml({}).resourceGroupName, 'rg-ünï_(1).x');
    assert.equal(
      failure(() => ml({ resourceGroupName: 'rg&whoami' })),
      `Service connection ${ID} has the resourceGroupName 'rg&whoami', which is not a resource group name (1 to 90 letters, digits, - _ ( ) or ., not ending in .). ` +
        "Edit the service connection and set resourceGroupName to the workspace's resource group name.",
    );
    assert.match(
      failure(() => ml({ resourceGroupName: 'rg.' })),
      /has the resourceGroupName 'rg\.'/,
    );
    assert.equal(
      failure(() => ml({ mlWorkspaceName: '-ws' })),
      `Service connection ${ID} has the mlWorkspaceName '-ws', which is not a Machine Learning workspace name (3 to 33 letters, digits, - or _, starting with a letter or digit). ` +
        "Edit the service connection and set mlWorkspaceName to the workspace's name.",
    );
    assert.match(
      failure(() => ml({ mlWorkspaceName: 'w'.repeat(34) })),
      /has the mlWorkspaceName/,
    );
    assert.equal(ml({ mlWorkspaceName: 'w'.repeat(33) }).mlWorkspaceName, 'w'.repeat(33));
    assert.equal(
      failure(() => ml({ mlWorkspaceLocation: 'west;europe' })),
      `Service connection ${ID} has the mlWorkspaceLocation 'west;europe', which is not an Azure region (letters and digits, such as westeurope). ` +
        "Edit the service connection and set mlWorkspaceLocation to the workspace's region, such as westeurope.",
    );
  });

  it('refuses an environment name that is not a plain name', () => {
    assert.equal(
      failure(() => parseConnection(fields({ data: { ...base, environment: 'AzureCloud & calc' } }))),
      `Service connection ${ID} has the environment 'AzureCloud & calc', which is not an Azure environment name (letters and digits, such as AzureCloud). ` +
        'Edit the service connection and set environment to AzureCloud, AzureChinaCloud, AzureUSGovernment or AzureStack.',
    );
  });

  const urlFields = [
    'activeDirectoryAuthority',
    'activeDirectoryServiceEndpointResourceId',
    'microsoftGraphUrl',
    'AzureKeyVaultServiceEndpointResourceId',
  ];
  for (const field of urlFields) {
    for (const bad of [
      'https://login.example.test/a b',
      'https://login.example.test/"x',
      'https://login.example.test/&whoami',
      'https://login.example.test/|x',
      'https://login.example.test/<x>',
      'https://login.example.test/^x',
      'https://login.example.test/%41',
      'https://login.example.test/?q=1',
      'https://user:pw@login.example.test/',
      "https://login.example.test/'x",
    ]) {
      it(`refuses ${field} '${bad}'`, () => {
        assert.equal(
          failure(() => parseConnection(fields({ data: { ...base, [field]: bad } }))),
          `Service connection ${ID} has ${field} '${bad}', which holds characters an Azure endpoint URL never has (it may use only letters, digits and - . _ ~ : /). ` +
            `Edit the service connection and set ${field} to the endpoint's plain https URL, such as https://login.microsoftonline.com/.`,
        );
      });
    }
    it(`refuses ${field} on plain http`, () => {
      assert.match(
        failure(() => parseConnection(fields({ data: { ...base, [field]: 'http://x.example/' } }))),
        new RegExp(`has ${field} 'http://x\\.example/', which is not https`),
      );
    });
  }

  it("refuses the connection's own URL when it is not a plain https URL", () => {
    assert.match(
      failure(() => parseConnection(fields({ url: 'https://management.azure.com/&x' }))),
      /^Service connection .* has url 'https:\/\/management\.azure\.com\/&x', which holds characters/,
    );
  });

  it('accepts the URLs real connections and the emulator use', () => {
    const connection = parseConnection(
      fields({
        url: 'https://127.0.0.1:8443/',
        data: {
          ...base,
          activeDirectoryAuthority: 'https://127.0.0.1:8443/adfs/',
          activeDirectoryServiceEndpointResourceId: 'https://management.core.windows.net/',
          microsoftGraphUrl: 'https://graph.microsoft.com/',
          AzureKeyVaultServiceEndpointResourceId: 'https://vault.azure.net',
        },
      }),
    );
    assert.equal(connection.cloud.authorityHost, 'https://127.0.0.1:8443/adfs/');
    assert.equal(connection.cloud.keyVault, 'https://vault.azure.net');
  });
});
