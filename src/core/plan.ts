import type { AzureConnection } from './connection';

export interface ExportedVariable {
  name: string;
  value: string;
  secret: boolean;
  /** Output variables reach later jobs and stages; their names must match ^[A-Za-z][A-Za-z0-9]*$. */
  output: boolean;
  /**
   * Keep the name's case in later steps' environments (the agent's `preservecase` property, agent 3.234.0+:
   * azure-pipelines-agent src/Agent.Worker/TaskCommandExtension.cs, TaskSetVariableCommand; env name from
   * src/Microsoft.VisualStudio.Services.Agent/Util/VarUtil.cs, ConvertToEnvVariableFormat). Without it the agent
   * upper-cases the name, and a script written for AzureCLI@2's `$servicePrincipalId` finds nothing on Linux.
   */
  preserveCase?: boolean;
}

export interface ExportInputs {
  connection: AzureConnection;
  /** The Oidctoken URL without query, for Terraform's own idToken refresh. */
  oidcRequestUrl: string;
  idToken: string;
  idTokenExpiresOn: Date;
  accessToken: string;
  accessTokenExpiresOn: Date;
  federatedTokenFile: string;
  /**
   * Whether the idToken itself is exported (as secrets). Off, no step can pin Terraform to a static token
   * that shadows its own refresh; steps get fresh tokens from the file, the command or Terraform's refresh.
   */
  exportIdToken: boolean;
  /** Access tokens for the resources input, in its order. */
  extraTokens: Array<{ name: string; token: string; expiresOn: Date }>;
  /** Put before every non-output name, so two instances in one job keep apart (e.g. STATE_). */
  prefix: string;
  /**
   * Whether the tokens are also secret output variables. Off by default: an output leaves the job (later
   * jobs and stages, possibly on other pools), which a token should do only when the author asks.
   */
  exportTokenOutputs: boolean;
}

/**
 * The output variables, by the names a later job or stage reads as `dependencies.<job>.outputs['<step>.<name>']`.
 * None may equal (case-insensitively) a plain or secret variable the task sets: the agent treats every name
 * task.json declares as an output as output-only, and sets it as `<step>.<name>` alone
 * (azure-pipelines-agent src/Agent.Worker/ExecutionContext.cs, SetVariable: `isOutput || OutputVariables.Contains(name)`),
 * so a shared name would hide the plain variable from later steps (tests/unit/manifest-outputs.test.ts).
 */
export const OUTPUT_NAMES = {
  serviceConnectionId: 'serviceConnectionId',
  clientId: 'clientId',
  tenantId: 'azureTenantId',
  subscriptionId: 'subscriptionId',
  managementGroupId: 'managementGroupId',
  mlWorkspaceName: 'mlWorkspaceName',
  authorityHost: 'authorityHost',
  idToken: 'oidcToken',
  idTokenExpiresOn: 'oidcTokenExpiresOn',
  accessToken: 'accessToken',
  accessTokenExpiresOn: 'accessTokenExpiresOn',
} as const;

/** The task's own names, for what no tool already has a name for. */
export const ACCESS_TOKEN_VARIABLE = 'AZUREWIF_ACCESS_TOKEN';
export const ACCESS_TOKEN_EXPIRY_VARIABLE = 'AZUREWIF_ACCESS_TOKEN_EXPIRES_ON';
export const ID_TOKEN_EXPIRY_VARIABLE = 'AZUREWIF_ID_TOKEN_EXPIRES_ON';

/** Every variable the task sets, in the order it sets them. Never includes the job access token. */
export function planExports(inputs: ExportInputs): ExportedVariable[] {
  return unprefixedPlan(inputs).map((variable) =>
    variable.output ? variable : { ...variable, name: `${inputs.prefix}${variable.name}` },
  );
}

function unprefixedPlan(inputs: ExportInputs): ExportedVariable[] {
  const { connection } = inputs;
  const idTokenExpiresOn = inputs.idTokenExpiresOn.toISOString();
  const accessTokenExpiresOn = inputs.accessTokenExpiresOn.toISOString();
  const plain = (name: string, value: string | undefined): ExportedVariable[] =>
    value === undefined ? [] : [{ name, value, secret: false, output: false }];
  const secret = (name: string, value: string): ExportedVariable => ({
    name,
    value,
    secret: true,
    output: false,
  });
  const idToken = (variable: ExportedVariable): ExportedVariable[] =>
    inputs.exportIdToken ? [variable] : [];
  // The names AzureCLI@2's addSpnToEnvironment gives scripts, camel-cased (Tasks/AzureCLIV2/azureclitask.ts).
  const casePreserved = (variables: ExportedVariable[]): ExportedVariable[] =>
    variables.map((variable) => ({ ...variable, preserveCase: true }));
  const output = (name: string, value: string | undefined, isSecret = false): ExportedVariable[] =>
    value === undefined ? [] : [{ name, value, secret: isSecret, output: true }];

  return [
    // Terraform azurerm/azuread/azapi providers and the azurerm backend.
    ...plain('ARM_CLIENT_ID', connection.clientId),
    ...plain('ARM_TENANT_ID', connection.tenantId),
    ...plain('ARM_SUBSCRIPTION_ID', connection.subscriptionId),
    ...plain('ARM_USE_OIDC', 'true'),
    ...plain('ARM_ENVIRONMENT', connection.cloud.terraformEnvironment),
    ...plain('ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID', connection.id),
    ...plain('ARM_OIDC_AZURE_SERVICE_CONNECTION_ID', connection.id),
    ...plain('ARM_OIDC_REQUEST_URL', inputs.oidcRequestUrl),
    ...idToken(secret('ARM_OIDC_TOKEN', inputs.idToken)),
    // Azure SDKs' WorkloadIdentityCredential / DefaultAzureCredential.
    ...plain('AZURE_CLIENT_ID', connection.clientId),
    ...plain('AZURE_TENANT_ID', connection.tenantId),
    ...plain('AZURE_SUBSCRIPTION_ID', connection.subscriptionId),
    ...plain('AZURE_AUTHORITY_HOST', connection.cloud.authorityHost),
    ...plain('AZURE_FEDERATED_TOKEN_FILE', inputs.federatedTokenFile),
    // What Microsoft's AzureCLI@2 / AzurePowerShell@5 give scripts (kubelogin, azd, samples read these).
    ...plain('AZURESUBSCRIPTION_SERVICE_CONNECTION_ID', connection.id),
    ...plain('AZURESUBSCRIPTION_CLIENT_ID', connection.clientId),
    ...plain('AZURESUBSCRIPTION_TENANT_ID', connection.tenantId),
    ...casePreserved(plain('servicePrincipalId', connection.clientId)),
    ...casePreserved(plain('tenantId', connection.tenantId)),
    ...idToken(secret('idToken', inputs.idToken)),
    // This task's own.
    secret(ACCESS_TOKEN_VARIABLE, inputs.accessToken),
    ...plain(ACCESS_TOKEN_EXPIRY_VARIABLE, accessTokenExpiresOn),
    ...plain(ID_TOKEN_EXPIRY_VARIABLE, idTokenExpiresOn),
    ...inputs.extraTokens.flatMap(({ name, token, expiresOn }) => [
      secret(`${ACCESS_TOKEN_VARIABLE}_${name}`, token),
      ...plain(`${ACCESS_TOKEN_VARIABLE}_${name}_EXPIRES_ON`, expiresOn.toISOString()),
    ]),
    // Scopes other than a subscription.
    ...plain('AZUREWIF_MANAGEMENT_GROUP_ID', connection.managementGroupId),
    ...plain('AZUREWIF_RESOURCE_GROUP', connection.resourceGroupName),
    ...plain('AZUREWIF_ML_WORKSPACE_NAME', connection.mlWorkspaceName),
    ...plain('AZUREWIF_ML_WORKSPACE_LOCATION', connection.mlWorkspaceLocation),
    // For later jobs and stages.
    ...output(OUTPUT_NAMES.serviceConnectionId, connection.id),
    ...output(OUTPUT_NAMES.clientId, connection.clientId),
    ...output(OUTPUT_NAMES.tenantId, connection.tenantId),
    ...output(OUTPUT_NAMES.subscriptionId, connection.subscriptionId),
    ...output(OUTPUT_NAMES.managementGroupId, connection.managementGroupId),
    ...output(OUTPUT_NAMES.mlWorkspaceName, connection.mlWorkspaceName),
    ...output(OUTPUT_NAMES.authorityHost, connection.cloud.authorityHost),
    ...output(OUTPUT_NAMES.idTokenExpiresOn, idTokenExpiresOn),
    ...output(OUTPUT_NAMES.accessTokenExpiresOn, accessTokenExpiresOn),
    ...(inputs.exportTokenOutputs
      ? [
          ...(inputs.exportIdToken ? output(OUTPUT_NAMES.idToken, inputs.idToken, true) : []),
          ...output(OUTPUT_NAMES.accessToken, inputs.accessToken, true),
        ]
      : []),
  ];
}

/** What the other-cloud exports need: what each target proved, and the token file their tools re-read. */
export interface OtherCloudExportInputs {
  aws?: { roleArn: string; region: string; sessionName: string };
  gcp?: { credentialFile: string; projectId?: string };
  vault?: { address: string; namespace?: string; token: string; expiresOn?: Date };
  federatedTokenFile: string;
  prefix: string;
}

/**
 * The variables for AWS, Google Cloud and Vault, named the way each one's own tools read them. Kept apart from
 * planExports: they are set after the Azure ones, only for the targets the author configured.
 */
export function planOtherCloudExports(inputs: OtherCloudExportInputs): ExportedVariable[] {
  const plain = (name: string, value: string): ExportedVariable => ({
    name: `${inputs.prefix}${name}`,
    value,
    secret: false,
    output: false,
  });
  const variables: ExportedVariable[] = [];
  if (inputs.aws) {
    // The SDKs' and CLI's web identity provider: they assume the role themselves and re-read the file on each
    // refresh. No static keys: AWS_ACCESS_KEY_ID would come first in the chain and expire without refresh.
    // AWS_ENDPOINT_URL_STS is not exported: a step that needs it has it from the same pipeline variable.
    variables.push(
      plain('AWS_ROLE_ARN', inputs.aws.roleArn),
      plain('AWS_WEB_IDENTITY_TOKEN_FILE', inputs.federatedTokenFile),
      plain('AWS_ROLE_SESSION_NAME', inputs.aws.sessionName),
      plain('AWS_REGION', inputs.aws.region),
      plain('AWS_DEFAULT_REGION', inputs.aws.region),
    );
  }
  if (inputs.gcp) {
    // google-auth-library (every Google Cloud client library, Terraform's google provider) and gcloud.
    variables.push(
      plain('GOOGLE_APPLICATION_CREDENTIALS', inputs.gcp.credentialFile),
      plain('CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE', inputs.gcp.credentialFile),
    );
    if (inputs.gcp.projectId) {
      variables.push(
        plain('GOOGLE_CLOUD_PROJECT', inputs.gcp.projectId),
        plain('CLOUDSDK_CORE_PROJECT', inputs.gcp.projectId),
      );
    }
  }
  if (inputs.vault) {
    // The vault CLI and the Vault SDKs; the token is a secret, so a step maps it with env: VAULT_TOKEN.
    variables.push(plain('VAULT_ADDR', inputs.vault.address));
    if (inputs.vault.namespace) variables.push(plain('VAULT_NAMESPACE', inputs.vault.namespace));
    variables.push({ ...plain('VAULT_TOKEN', inputs.vault.token), secret: true });
    if (inputs.vault.expiresOn) {
      variables.push(plain('VAULT_TOKEN_EXPIRES_ON', inputs.vault.expiresOn.toISOString()));
    }
  }
  return variables;
}
