import { TaskFailure } from './errors';
import { parseUrl, quoteUntrusted } from './text';

/** What the agent hands a task about an AzureRM service connection, as plain values. */
export interface ServiceConnectionFields {
  id: string;
  /** ENDPOINT_URL_<id>: the Resource Manager URL. */
  url?: string;
  scheme?: string;
  /** ENDPOINT_AUTH_<id>.parameters; keys compared case-insensitively. */
  authParameters: Record<string, string | undefined>;
  /** ENDPOINT_DATA_<id>_<KEY>; keys compared case-insensitively. */
  data: Record<string, string | undefined>;
}

export interface Cloud {
  /** The connection's `environment` value, e.g. AzureCloud. */
  name: string;
  /** Entra authority host with a trailing slash, e.g. https://login.microsoftonline.com/ */
  authorityHost: string;
  /**
   * The Resource Manager audience (resource id) exactly as the connection names it, trailing slash kept, e.g.
   * https://management.azure.com/. The token request asks for `<resource>/.default`, as Microsoft's tasks and
   * the Azure CLI do (azure-pipelines-tasks-common-packages common-npm-packages/azure-arm-rest
   * azure-arm-common.ts, getMSALToken: `this.activeDirectoryResourceId + "/.default"`), so the slash survives
   * into the audience Resource Manager checks.
   */
  resourceManager: string;
  /** Terraform's ARM_ENVIRONMENT, when Terraform knows this cloud. */
  terraformEnvironment?: string;
  /** Resource ids of the data planes the `resources` input names by alias, where this cloud has them. */
  graph?: string;
  keyVault?: string;
  storage?: string;
  devops?: string;
  /**
   * Azure Stack Hub: the Resource Manager metadata URL that names the authority and the resource, read
   * before the exchange (authorityHost and resourceManager are empty until then).
   */
  metadataUrl?: string;
}

/**
 * The connection's scopeLevel data field. The service's value for a Machine Learning workspace is
 * `AzureMLWorkspace` (azure-pipelines-tasks Tasks/AzurePowerShellV5/task.json, EndpointFilterRule
 * "ScopeLevel != AzureMLWorkspace").
 */
export const SCOPE_LEVELS = ['Subscription', 'ManagementGroup', 'AzureMLWorkspace'] as const;
export type ScopeLevel = (typeof SCOPE_LEVELS)[number];

export interface AzureConnection {
  id: string;
  clientId: string;
  tenantId: string;
  scopeLevel: ScopeLevel;
  subscriptionId?: string;
  subscriptionName?: string;
  managementGroupId?: string;
  /** Machine Learning workspace scope. */
  resourceGroupName?: string;
  mlWorkspaceName?: string;
  mlWorkspaceLocation?: string;
  cloud: Cloud;
  /** The Resource Manager URL the connection names (ENDPOINT_URL), for tools that need the endpoint. */
  resourceManagerUrl?: string;
  /** What the service says the federated credential should hold, when the agent passes it. */
  expectedIssuer?: string;
  expectedSubject?: string;
}

/** The data data fields this model reads; the glue reads exactly these. */
export const CONNECTION_DATA_KEYS = [
  'environment',
  'scopeLevel',
  'subscriptionId',
  'subscriptionName',
  'managementGroupId',
  'activeDirectoryAuthority',
  'environmentAuthorityUrl',
  'activeDirectoryServiceEndpointResourceId',
  'microsoftGraphUrl',
  'AzureKeyVaultServiceEndpointResourceId',
  'resourceGroupName',
  'mlWorkspaceName',
  'mlWorkspaceLocation',
] as const;

const AZURE_DEVOPS_RESOURCE = '499b84ac-1321-427f-aa17-267ca6975798';
const STORAGE_RESOURCE = 'https://storage.azure.com';

const KNOWN_CLOUDS: Record<string, Omit<Cloud, 'name'>> = {
  azurecloud: {
    authorityHost: 'https://login.microsoftonline.com/',
    resourceManager: 'https://management.azure.com/',
    terraformEnvironment: 'public',
    graph: 'https://graph.microsoft.com',
    keyVault: 'https://vault.azure.net',
    storage: STORAGE_RESOURCE,
    devops: AZURE_DEVOPS_RESOURCE,
  },
  azurechinacloud: {
    authorityHost: 'https://login.chinacloudapi.cn/',
    resourceManager: 'https://management.chinacloudapi.cn/',
    terraformEnvironment: 'china',
    graph: 'https://microsoftgraph.chinacloudapi.cn',
    keyVault: 'https://vault.azure.cn',
    storage: STORAGE_RESOURCE,
  },
  azureusgovernment: {
    authorityHost: 'https://login.microsoftonline.us/',
    resourceManager: 'https://management.usgovcloudapi.net/',
    terraformEnvironment: 'usgovernment',
    graph: 'https://graph.microsoft.us',
    keyVault: 'https://vault.usgovcloudapi.net',
    storage: STORAGE_RESOURCE,
    devops: AZURE_DEVOPS_RESOURCE,
  },
};

const WIF_SCHEME = 'WorkloadIdentityFederation';
/** A GUID as Azure writes ids: tenant, client, subscription and application ids. */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function lookup(record: Record<string, string | undefined>, key: string): string | undefined {
  const wanted = key.toLowerCase();
  for (const [name, value] of Object.entries(record)) {
    if (name.toLowerCase() === wanted && value !== undefined && value.trim() !== '') return value.trim();
  }
  return undefined;
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * The characters an Azure endpoint's URL is made of. Anything else (whitespace, quotes, `&|<>^%!`, a query)
 * has no place in an authority or a resource id, and would reach az's command line and the variables later
 * steps read.
 */
const SAFE_URL = /^https:\/\/[A-Za-z0-9.\-_~:/[\]]+$/;

function httpsUrl(value: string, field: string, connectionId: string): string {
  const parsed = parseUrl(value);
  if (!parsed) {
    throw new TaskFailure(
      `Service connection ${connectionId} has an invalid ${field} '${quoteUntrusted(value, 200)}': it is not a URL. ` +
        `Edit the service connection and set ${field} to an https URL such as https://login.microsoftonline.com/.`,
    );
  }
  if (parsed.protocol !== 'https:') {
    throw new TaskFailure(
      `Service connection ${connectionId} has ${field} '${quoteUntrusted(value, 200)}', which is not https; Entra ID clients refuse plain http. ` +
        `Edit the service connection and set ${field} to an https URL.`,
    );
  }
  if (!SAFE_URL.test(parsed.href) || parsed.username !== '' || parsed.password !== '' || /[?#]/.test(value)) {
    throw new TaskFailure(
      `Service connection ${connectionId} has ${field} '${quoteUntrusted(value, 200)}', which holds characters an Azure endpoint URL never has (it may use only letters, digits and - . _ ~ : /). ` +
        `Edit the service connection and set ${field} to the endpoint's plain https URL, such as https://login.microsoftonline.com/.`,
    );
  }
  return parsed.toString();
}

/**
 * An https URL as the connection wrote it (checked, not normalised: a trailing slash is meaningful). The
 * characters are checked on the text itself too, since URL parsing drops tabs and newlines it would keep.
 */
function httpsUrlVerbatim(value: string, field: string, connectionId: string): string {
  const normalised = httpsUrl(value, field, connectionId);
  return SAFE_URL.test(value) ? value : normalised;
}

interface NameRule {
  pattern: RegExp;
  rule: string;
  example: string;
}

/** Azure's naming rules for the fields that name Azure resources (learn.microsoft.com, "Naming rules and restrictions for Azure resources"). */
const NAME_RULES: Record<string, NameRule> = {
  subscriptionId: {
    pattern: GUID,
    rule: 'is not a GUID',
    example: "the subscription's id (a GUID) as the Azure portal shows it",
  },
  managementGroupId: {
    pattern: /^[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]$/,
    rule: 'is not a management group id (1 to 90 letters, digits, - _ ( ) or ., not ending in .)',
    example: "the management group's id (not its display name)",
  },
  resourceGroupName: {
    pattern: /^[\p{L}\p{N}_().-]{0,89}[\p{L}\p{N}_()-]$/u,
    rule: 'is not a resource group name (1 to 90 letters, digits, - _ ( ) or ., not ending in .)',
    example: "the workspace's resource group name",
  },
  mlWorkspaceName: {
    pattern: /^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$/,
    rule: 'is not a Machine Learning workspace name (3 to 33 letters, digits, - or _, starting with a letter or digit)',
    example: "the workspace's name",
  },
  mlWorkspaceLocation: {
    pattern: /^[A-Za-z0-9 ]{1,50}$/,
    rule: 'is not an Azure region (letters and digits, such as westeurope)',
    example: "the workspace's region, such as westeurope",
  },
  environment: {
    pattern: /^[A-Za-z][A-Za-z0-9]{0,63}$/,
    rule: 'is not an Azure environment name (letters and digits, such as AzureCloud)',
    example: 'AzureCloud, AzureChinaCloud, AzureUSGovernment or AzureStack',
  },
};

/** A data field that names an Azure resource, checked against Azure's rules for that name. */
function namedField(fields: ServiceConnectionFields, key: keyof typeof NAME_RULES): string | undefined {
  const value = lookup(fields.data, key);
  if (value === undefined) return undefined;
  const { pattern, rule, example } = NAME_RULES[key];
  if (!pattern.test(value)) {
    throw new TaskFailure(
      `Service connection ${fields.id} has the ${key} '${quoteUntrusted(value, 120)}', which ${rule}. ` +
        `Edit the service connection and set ${key} to ${example}.`,
    );
  }
  return value;
}

function nonWifMessage(
  connectionId: string,
  scheme: string | undefined,
  authenticationType?: string,
): string {
  const found = scheme
    ? `the authentication scheme '${scheme}'${authenticationType ? ` (${authenticationType})` : ''}`
    : 'no authentication scheme';
  const convert =
    'Open Project settings > Service connections, select the connection and choose "Convert" to switch it to workload identity federation, ' +
    'or create a new Azure Resource Manager connection with "Workload identity federation".';
  if (scheme?.toLowerCase() === 'managedserviceidentity') {
    return (
      `Service connection ${connectionId} uses ${found}, which only works on agents running in Azure with that managed identity, ` +
      `so it cannot give later steps a federated token. ${convert}`
    );
  }
  return (
    `Service connection ${connectionId} uses ${found}, but this task needs 'WorkloadIdentityFederation'. ` +
    convert
  );
}

function resolveCloud(fields: ServiceConnectionFields): Cloud {
  const name = namedField(fields, 'environment') ?? 'AzureCloud';
  const known = KNOWN_CLOUDS[name.toLowerCase()];
  const authorityOverride =
    lookup(fields.data, 'activeDirectoryAuthority') ?? lookup(fields.data, 'environmentAuthorityUrl');
  const resourceOverride = lookup(fields.data, 'activeDirectoryServiceEndpointResourceId');
  const authorityHost = authorityOverride
    ? withTrailingSlash(httpsUrl(authorityOverride, 'activeDirectoryAuthority', fields.id))
    : known?.authorityHost;
  // The audience, verbatim (its trailing slash included), chosen as Microsoft's tasks choose it for a workload
  // identity connection (azure-arm-rest azure-arm-endpoint.ts, getEndpoint): the connection's URL, outside Azure
  // Stack; the resource id data field or Azure Stack's metadata there.
  const isAzureStack = name.toLowerCase() === 'azurestack';
  const url = fields.url ? httpsUrlVerbatim(fields.url, 'url', fields.id) : undefined;
  // Checked even where the URL wins, so a malformed field is reported rather than silently ignored.
  const resourceId = resourceOverride
    ? httpsUrlVerbatim(resourceOverride, 'activeDirectoryServiceEndpointResourceId', fields.id)
    : undefined;
  const resourceManager = !isAzureStack && url ? url : (resourceId ?? known?.resourceManager);
  const graphOverride = checkedUrl(fields, 'microsoftGraphUrl');
  const keyVaultOverride = checkedUrl(fields, 'AzureKeyVaultServiceEndpointResourceId');
  const dataPlanes = {
    graph: graphOverride ? withoutTrailingSlash(graphOverride) : known?.graph,
    keyVault: keyVaultOverride ? withoutTrailingSlash(keyVaultOverride) : known?.keyVault,
    storage: known?.storage,
    devops: known?.devops,
  };
  if ((!authorityOverride || !resourceOverride) && isAzureStack && url) {
    // As Microsoft's tasks do (azure-arm-rest azure-arm-endpoint.ts, AzureRMEndpoint.getEndpoint): when
    // either the authority or the audience is missing, Azure Stack Hub's metadata names both.
    const metadataUrl = `${withTrailingSlash(url)}metadata/endpoints?api-version=2015-01-01`;
    return { name, authorityHost: '', resourceManager: '', ...dataPlanes, metadataUrl };
  }
  if (!authorityHost || !resourceManager) {
    throw new TaskFailure(
      `Service connection ${fields.id} targets the environment '${name}', whose Entra ID authority this task does not know. ` +
        "Use an AzureCloud, AzureChinaCloud or AzureUSGovernment connection, or set the connection's activeDirectoryAuthority and activeDirectoryServiceEndpointResourceId data fields.",
    );
  }
  return {
    name,
    authorityHost,
    resourceManager,
    terraformEnvironment: known?.terraformEnvironment,
    ...dataPlanes,
  };
}

function checkedUrl(fields: ServiceConnectionFields, key: string): string | undefined {
  const value = lookup(fields.data, key);
  return value === undefined ? undefined : httpsUrl(value, key, fields.id);
}

function parseScopeLevel(value: string | undefined, connectionId: string): ScopeLevel {
  if (value === undefined) return 'Subscription';
  for (const level of SCOPE_LEVELS) {
    if (level.toLowerCase() === value.toLowerCase()) return level;
  }
  throw new TaskFailure(
    `Service connection ${connectionId} has the scope level '${value}', which this task does not know. ` +
      'Use a connection scoped to a Subscription, a ManagementGroup or an AzureMLWorkspace.',
  );
}

function requiredGuid(fields: ServiceConnectionFields, key: string, description: string): string {
  const value = lookup(fields.authParameters, key);
  if (!value) {
    throw new TaskFailure(
      `Service connection ${fields.id} has no ${description} (${key}). ` +
        'Edit the service connection, or recreate it, so that it names its app registration or managed identity.',
    );
  }
  if (!GUID.test(value)) {
    throw new TaskFailure(
      `Service connection ${fields.id} has the ${description} '${value}', which is not a GUID. ` +
        `Edit the service connection and set ${key} to the GUID shown in Entra ID.`,
    );
  }
  return value;
}

/** Builds the connection model from the agent's fields, refusing anything but workload identity federation. */
export function parseConnection(fields: ServiceConnectionFields): AzureConnection {
  if (fields.scheme?.toLowerCase() !== WIF_SCHEME.toLowerCase()) {
    throw new TaskFailure(
      nonWifMessage(fields.id, fields.scheme, lookup(fields.authParameters, 'authenticationType')),
    );
  }
  const clientId = requiredGuid(fields, 'serviceprincipalid', 'client id');
  const tenantId = requiredGuid(fields, 'tenantid', 'tenant id');
  const scopeLevel = parseScopeLevel(lookup(fields.data, 'scopeLevel'), fields.id);
  const connection: AzureConnection = {
    id: fields.id,
    clientId,
    tenantId,
    scopeLevel,
    cloud: resolveCloud(fields),
    resourceManagerUrl: fields.url,
    expectedIssuer: lookup(fields.authParameters, 'workloadIdentityFederationIssuer'),
    expectedSubject: lookup(fields.authParameters, 'workloadIdentityFederationSubject'),
  };
  if (scopeLevel === 'Subscription') {
    connection.subscriptionId = namedField(fields, 'subscriptionId');
    connection.subscriptionName = lookup(fields.data, 'subscriptionName');
  } else if (scopeLevel === 'ManagementGroup') {
    connection.managementGroupId = namedField(fields, 'managementGroupId');
  } else {
    // A workspace lives in a subscription; tools that act on it (az ml, the SDKs) need both.
    connection.subscriptionId = namedField(fields, 'subscriptionId');
    connection.resourceGroupName = namedField(fields, 'resourceGroupName');
    connection.mlWorkspaceName = namedField(fields, 'mlWorkspaceName');
    connection.mlWorkspaceLocation = namedField(fields, 'mlWorkspaceLocation');
  }
  return connection;
}
