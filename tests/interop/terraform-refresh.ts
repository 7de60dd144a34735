import * as https from 'node:https';

/**
 * The Terraform azurerm provider's own idToken refresh in an Azure Pipelines step, request for request: what
 * hashicorp/go-azure-sdk's ADOPipelineOIDCAuthorizer (sdk/auth/ado_pipeline_oidc_authorizer.go) and its
 * client-assertion grant (sdk/auth/client_credentials.go) send, read from the same environment variables
 * (REFERENCE §4). Go's url.Values.Encode sorts keys, so the query and form are sorted here too; Go's transport
 * adds User-Agent `Go-http-client/1.1`, `Accept-Encoding: gzip` and, for the empty POST, `Content-Length: 0`.
 *
 * Usage: node terraform-refresh.js [--login-endpoint <url>]
 * The login endpoint is the one of ARM_ENVIRONMENT; `--login-endpoint` replaces it with the emulator's for
 * running offline (the provider would call login.microsoftonline.com for `public`).
 * Prints the access token's non-secret claims as JSON (exit 0). Errors are the provider's messages for the
 * same failure (exit 1); exit 2 when the variables that turn the refresh on are missing.
 */

const LOGIN_ENDPOINTS: Record<string, string> = {
  public: 'https://login.microsoftonline.com',
  usgovernment: 'https://login.microsoftonline.us',
  china: 'https://login.chinacloudapi.cn',
};
const RESOURCE_MANAGER: Record<string, string> = {
  public: 'https://management.azure.com',
  usgovernment: 'https://management.usgovcloudapi.net',
  china: 'https://management.chinacloudapi.cn',
};
const GO_HEADERS = { 'User-Agent': 'Go-http-client/1.1', 'Accept-Encoding': 'gzip' };

interface Response {
  status: number;
  body: string;
}

function post(url: string, headers: Record<string, string>, body: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      url,
      {
        method: 'POST',
        headers: { ...GO_HEADERS, ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Go's url.Values.Encode: keys sorted, values form-encoded. */
function goEncode(values: Array<[string, string]>): string {
  return new URLSearchParams([...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))).toString();
}

class ProviderError extends Error {}

async function main(): Promise<number> {
  const env = process.env;
  const serviceConnectionId =
    env.ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID || env.ARM_OIDC_AZURE_SERVICE_CONNECTION_ID || '';
  const requestUrl = env.ARM_OIDC_REQUEST_URL || env.SYSTEM_OIDCREQUESTURI || '';
  const requestToken = env.ARM_OIDC_REQUEST_TOKEN || env.SYSTEM_ACCESSTOKEN || '';
  const missing = [
    ['ARM_CLIENT_ID', env.ARM_CLIENT_ID],
    ['ARM_TENANT_ID', env.ARM_TENANT_ID],
    ['ARM_USE_OIDC', env.ARM_USE_OIDC === 'true' ? 'true' : undefined],
    ['ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID', serviceConnectionId],
    ['ARM_OIDC_REQUEST_URL', requestUrl],
  ].filter(([, value]) => !value);
  if (missing.length > 0) {
    console.error(`missing variables: ${missing.map(([name]) => name).join(', ')}`);
    return 2;
  }
  const environment = env.ARM_ENVIRONMENT || 'public';
  const override = process.argv.indexOf('--login-endpoint');
  const loginEndpoint = override > 0 ? process.argv[override + 1] : LOGIN_ENDPOINTS[environment];
  const resourceManager = RESOURCE_MANAGER[environment];
  if (!loginEndpoint || !resourceManager) throw new ProviderError(`unknown environment ${environment}`);

  // adoPipelineAssertion: keep the URL's query, add what is missing, re-encode sorted.
  const url = new URL(requestUrl);
  const query: Array<[string, string]> = [...url.searchParams];
  const has = (name: string) => Boolean(url.searchParams.get(name));
  if (!has('api-version')) query.push(['api-version', '7.1']);
  if (!has('serviceConnectionId')) query.push(['serviceConnectionId', serviceConnectionId]);
  if (!has('audience')) query.push(['audience', 'api://AzureADTokenExchange']);
  url.search = goEncode(query);
  const oidc = await post(
    url.toString(),
    {
      Accept: 'application/json',
      Authorization: `Bearer ${requestToken}`,
      'Content-Type': 'application/json',
    },
    '',
  );
  if (oidc.status < 200 || oidc.status > 299) {
    throw new ProviderError(
      `adoPipelineAssertion: received HTTP status ${oidc.status} with response: ${oidc.body}`,
    );
  }
  let assertion: unknown;
  try {
    assertion = (JSON.parse(oidc.body) as { oidcToken?: unknown }).oidcToken;
  } catch (error) {
    throw new ProviderError(
      `adoPipelineAssertion: cannot unmarshal response: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (typeof assertion !== 'string') {
    throw new ProviderError('ADOPipelineOIDCAuthorizer: nil JWT assertion received from ADOPipeline');
  }

  // ClientAssertionAuthorizer.token → clientCredentialsToken.
  const token = await post(
    `${loginEndpoint.replace(/\/+$/, '')}/${env.ARM_TENANT_ID}/oauth2/v2.0/token`,
    { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
    goEncode([
      ['client_assertion', assertion],
      ['client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'],
      ['client_id', env.ARM_CLIENT_ID ?? ''],
      ['grant_type', 'client_credentials'],
      ['scope', `${resourceManager}/.default`],
    ]),
  );
  if (token.status < 200 || token.status > 299) {
    throw new ProviderError(
      `clientCredentialsToken: received HTTP status ${token.status} with response: ${token.body}`,
    );
  }
  const result = JSON.parse(token.body) as { access_token?: string; expires_in?: unknown };
  const claims = JSON.parse(
    Buffer.from((result.access_token ?? '').split('.')[1] ?? '', 'base64url').toString('utf8') || '{}',
  ) as Record<string, unknown>;
  console.log(
    JSON.stringify({ aud: claims.aud, appid: claims.appid, tid: claims.tid, expires_in: result.expires_in }),
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Never print a token: an Entra error quotes claims but no assertion; redact anything JWT-shaped anyway.
    const message = error instanceof Error ? error.message : String(error);
    console.error(message.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[JWT]'));
    process.exit(1);
  },
);
