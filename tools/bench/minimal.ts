/**
 * Benchmark contender "minimal": the physical limit of the task's job. The same two requests the task makes
 * (the Oidctoken POST, REFERENCE.md §2 and src/core/idtoken.ts; the Entra token POST, §3 and
 * src/core/entra.ts), in the same agent environment (the agent's variables, Agent.CAInfo added to the system
 * roots as src/pipeline/agent.ts does), with node's own `https` and nothing else: no task-lib, no MSAL, no retries, no
 * checks beyond what it needs to go on. Like the task, each request gets its own connection (in a real job
 * the two hosts differ, so nothing can be reused) and both share one TLS context, built once.
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as tls from 'node:tls';

const env = process.env;

function required(name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

// Node's default roots plus the agent's CA, the cheapest way Node offers: the default context holds the roots
// already parsed, and adding one CA copies them into the context's own store (see tools/tls-context-plugin.ts).
const caFile = env.AGENT_CAINFO;
let secureContext: tls.SecureContext | undefined;
if (caFile) {
  secureContext = tls.createSecureContext();
  (secureContext.context as { addCACert(pem: string): void }).addCACert(fs.readFileSync(caFile, 'utf8'));
}

function post(url: string, headers: Record<string, string>, body: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // secureContext is a tls.connect option that https passes through (absent from https.RequestOptions' type).
    const options: https.RequestOptions & { secureContext?: tls.SecureContext } = {
      method: 'POST',
      agent: false,
      secureContext,
      headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
    };
    const request = https.request(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (response.statusCode !== 200) reject(new Error(`HTTP ${response.statusCode} from ${url}`));
        else resolve(JSON.parse(text) as Record<string, unknown>);
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function main(): Promise<void> {
  const id = required('INPUT_CONNECTEDSERVICENAMEARM');
  const jobAccessToken = required('ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN');
  const tenantId = required(`ENDPOINT_AUTH_PARAMETER_${id}_TENANTID`);
  const clientId = required(`ENDPOINT_AUTH_PARAMETER_${id}_SERVICEPRINCIPALID`);
  const authority = (
    env[`ENDPOINT_DATA_${id}_ACTIVEDIRECTORYAUTHORITY`] ?? 'https://login.microsoftonline.com/'
  ).replace(/\/?$/, '/');
  const resource =
    env[`ENDPOINT_DATA_${id}_ACTIVEDIRECTORYSERVICEENDPOINTRESOURCEID`] ?? 'https://management.azure.com';

  const oidc = await post(
    `${required('SYSTEM_OIDCREQUESTURI')}?api-version=7.1&serviceConnectionId=${id}`,
    {
      Authorization: `Bearer ${jobAccessToken}`,
      Accept: 'application/json',
      'Content-Type': 'application/json',
      'X-TFS-FedAuthRedirect': 'Suppress',
    },
    '',
  );
  const idToken = String(oidc.oidcToken);
  process.stdout.write(`##vso[task.setsecret]${idToken}\n`);

  const form = new URLSearchParams({
    client_id: clientId,
    scope: `${resource.replace(/\/+$/, '')}/.default`,
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: idToken,
  }).toString();
  const token = await post(
    `${authority}${tenantId}/oauth2/v2.0/token`,
    { 'Content-Type': 'application/x-www-form-urlencoded;charset=utf-8', Accept: 'application/json' },
    form,
  );
  const accessToken = String(token.access_token);
  process.stdout.write(
    `##vso[task.setsecret]${accessToken}\n` +
      `##vso[task.setvariable variable=ARM_OIDC_TOKEN;issecret=true;]${idToken}\n` +
      `##vso[task.setvariable variable=AZUREWIF_ACCESS_TOKEN;issecret=true;]${accessToken}\n` +
      '##vso[task.complete result=Succeeded;]minimal: an idToken and a Resource Manager token\n',
  );
}

main().catch((error: unknown) => {
  process.stdout.write(
    `##vso[task.complete result=Failed;]${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
});
