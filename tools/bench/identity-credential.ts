/**
 * Benchmark contender 2: the same job with @azure/identity's AzurePipelinesCredential, as a pipeline script
 * would write it. It reads what the agent gives a task step from the environment (no task-lib), asks the
 * credential for a Resource Manager token (the credential fetches the idToken from the Oidctoken API itself,
 * but does not expose it) and prints the logging commands that hand the token to the agent.
 *
 * Needs NODE_EXTRA_CA_CERTS for a test CA; the connection's activeDirectoryAuthority (the emulator) is the
 * authority host, with instance discovery off, as needed offline.
 */
import { AzurePipelinesCredential } from '@azure/identity';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function main(): Promise<void> {
  const connectionId = required('INPUT_CONNECTEDSERVICENAMEARM');
  const credential = new AzurePipelinesCredential(
    required(`ENDPOINT_AUTH_PARAMETER_${connectionId}_TENANTID`),
    required(`ENDPOINT_AUTH_PARAMETER_${connectionId}_SERVICEPRINCIPALID`),
    connectionId,
    required('ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN'),
    {
      authorityHost: process.env[`ENDPOINT_DATA_${connectionId}_ACTIVEDIRECTORYAUTHORITY`],
      disableInstanceDiscovery: true,
    },
  );
  const token = await credential.getToken('https://management.azure.com/.default');
  console.log(`##vso[task.setsecret]${token.token}`);
  console.log(`##vso[task.setvariable variable=AZUREWIF_ACCESS_TOKEN;issecret=true;]${token.token}`);
  console.log('##vso[task.complete result=Succeeded;]AzurePipelinesCredential got a Resource Manager token');
}

main().catch((error: unknown) => {
  console.log(`##vso[task.complete result=Failed;]${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
