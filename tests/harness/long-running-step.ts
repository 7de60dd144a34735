import { execFileSync } from 'node:child_process';
import { WorkloadIdentityCredential } from '@azure/identity';

/**
 * A long-running later step: for `seconds`, it keeps getting Resource Manager tokens from Entra ID by one
 * refresh path, as a real tool would, and prints a JSON summary (never a token).
 *   terraform  the azurerm provider's own idToken refresh (REFERENCE §4), then a client-assertion exchange
 *   sdk-file   @azure/identity's WorkloadIdentityCredential reading AZURE_FEDERATED_TOKEN_FILE
 *   command    azure-wif-token access-token, found on PATH
 */

const [mode, secondsArg, intervalArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? '15');
const intervalMs = Number(intervalArg ?? '1000');
const env = process.env as Record<string, string>;
const RESOURCE = 'https://management.azure.com';

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

async function exchange(assertion: string, clientId: string, tenantId: string): Promise<string> {
  const response = await fetch(`${env.AZURE_AUTHORITY_HOST}${tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: clientId,
      scope: `${RESOURCE}/.default`,
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (typeof body.access_token !== 'string')
    throw new Error(`Entra ID refused: ${String(body.error_description)}`);
  return body.access_token;
}

/** Terraform's refresh request, exactly as the azurerm provider sends it. */
async function terraformToken(): Promise<{ accessToken: string; idToken: string }> {
  const url = env.ARM_OIDC_REQUEST_URL || env.SYSTEM_OIDCREQUESTURI;
  const requestToken = env.ARM_OIDC_REQUEST_TOKEN || env.SYSTEM_ACCESSTOKEN;
  const connection = env.ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID || env.ARM_OIDC_AZURE_SERVICE_CONNECTION_ID;
  const query = new URLSearchParams({
    'api-version': '7.1',
    serviceConnectionId: connection,
    audience: 'api://AzureADTokenExchange',
  });
  const response = await fetch(`${url}?${query.toString()}`, {
    method: 'POST',
    headers: {
      Accept: 'application/json',
      'Content-Type': 'application/json',
      Authorization: `Bearer ${requestToken}`,
    },
  });
  const body = (await response.json()) as { oidcToken?: string };
  if (!body.oidcToken) throw new Error(`Azure DevOps refused: HTTP ${response.status}`);
  return {
    idToken: body.oidcToken,
    accessToken: await exchange(body.oidcToken, env.ARM_CLIENT_ID, env.ARM_TENANT_ID),
  };
}

async function sdkToken(): Promise<{ accessToken: string }> {
  // A new credential each time: its 5-minute file cache must not hide a stale file.
  const credential = new WorkloadIdentityCredential({ disableInstanceDiscovery: true });
  const token = await credential.getToken(`${RESOURCE}/.default`);
  return { accessToken: token.token };
}

function commandToken(): { accessToken: string } {
  const launcher = process.platform === 'win32' ? 'azure-wif-token.cmd' : 'azure-wif-token';
  const output = execFileSync(launcher, ['access-token'], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return { accessToken: output.trim() };
}

async function main(): Promise<void> {
  const started = Date.now();
  const summary = {
    mode,
    iterations: 0,
    audiences: new Set<string>(),
    idTokens: new Set<string>(),
    spanSeconds: 0,
  };
  while (Date.now() - started < seconds * 1000) {
    const result: { accessToken: string; idToken?: string } =
      mode === 'terraform' ? await terraformToken() : mode === 'sdk-file' ? await sdkToken() : commandToken();
    summary.audiences.add(String(claims(result.accessToken).aud));
    if (result.idToken) summary.idTokens.add(String(claims(result.idToken).jti));
    summary.iterations++;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  summary.spanSeconds = Math.round((Date.now() - started) / 1000);
  console.log(
    JSON.stringify({ ...summary, audiences: [...summary.audiences], idTokens: summary.idTokens.size }),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
