/**
 * Benchmark contender 3: the same job from Microsoft's stock building blocks, as a task would compose them:
 * azure-pipelines-task-lib for the agent's inputs, azure-pipelines-tasks-artifacts-common's web API helper
 * (azure-devops-node-api) and TaskApi.createOidcToken for the idToken, then @azure/msal-node's
 * ConfidentialClientApplication with its default configuration (instance discovery and OpenID metadata
 * from the network) for the Resource Manager token.
 *
 * Needs NODE_EXTRA_CA_CERTS for a test CA, and tools/bench/fetch-redirect as a preload so that MSAL's
 * instance-discovery request to login.microsoftonline.com reaches the emulator.
 */
import * as tl from 'azure-pipelines-task-lib/task';
import { getSystemAccessToken, getWebApiWithProxy } from 'azure-pipelines-tasks-artifacts-common/webapi';
import { ConfidentialClientApplication } from '@azure/msal-node';

function variable(name: string): string {
  const value = tl.getVariable(name);
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function main(): Promise<void> {
  const connectionId = tl.getInput('connectedServiceNameARM', true) as string;
  const authorization = tl.getEndpointAuthorization(connectionId, false);
  const tenantId = authorization?.parameters.tenantid;
  const clientId = authorization?.parameters.serviceprincipalid;
  if (!tenantId || !clientId) throw new Error(`endpoint ${connectionId} has no tenant or client id`);
  const authorityHost =
    tl.getEndpointDataParameter(connectionId, 'activeDirectoryAuthority', true) ??
    'https://login.microsoftonline.com/';

  const accessToken = getSystemAccessToken();
  const webApi = getWebApiWithProxy(variable('System.CollectionUri'), accessToken);
  const taskApi = await webApi.getTaskApi();
  const { oidcToken } = await taskApi.createOidcToken(
    {},
    variable('System.TeamProjectId'),
    variable('System.HostType'),
    variable('System.PlanId'),
    variable('System.JobId'),
    connectionId,
  );
  if (!oidcToken) throw new Error('Azure DevOps returned no idToken');
  tl.setSecret(oidcToken);

  const app = new ConfidentialClientApplication({
    auth: {
      clientId,
      authority: `${authorityHost.replace(/\/?$/, '/')}${tenantId}`,
      clientAssertion: oidcToken,
    },
  });
  const result = await app.acquireTokenByClientCredential({
    scopes: ['https://management.azure.com/.default'],
  });
  if (!result?.accessToken) throw new Error('Entra ID returned no access token');
  tl.setVariable('idToken', oidcToken, true);
  tl.setVariable('AZUREWIF_ACCESS_TOKEN', result.accessToken, true);
  tl.setResult(
    tl.TaskResult.Succeeded,
    'The stock building blocks got an idToken and a Resource Manager token',
  );
}

main().catch((error: unknown) => {
  tl.setResult(tl.TaskResult.Failed, error instanceof Error ? error.message : String(error));
});
