import * as fs from 'node:fs';
import { runStep } from './step-main';

/**
 * A later pipeline step, as a user would write it: it reads only what the task exported (the SDKs'
 * AZURE_* variables and the federated token file), exchanges the file's token at Entra ID the way
 * WorkloadIdentityCredential does, and prints the access token's non-secret claims as JSON.
 * Exit codes: 0 token obtained, 2 a variable is missing, 3 Entra ID refused.
 */
async function main(): Promise<number> {
  const required = [
    'AZURE_CLIENT_ID',
    'AZURE_TENANT_ID',
    'AZURE_AUTHORITY_HOST',
    'AZURE_FEDERATED_TOKEN_FILE',
  ];
  const missing = required.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    console.error(`missing variables: ${missing.join(', ')}`);
    return 2;
  }
  const env = process.env as Record<string, string>;
  const resource = process.argv[2] ?? 'https://management.azure.com';
  const assertion = fs.readFileSync(env.AZURE_FEDERATED_TOKEN_FILE, 'utf8');
  const authority = env.AZURE_AUTHORITY_HOST.endsWith('/')
    ? env.AZURE_AUTHORITY_HOST
    : `${env.AZURE_AUTHORITY_HOST}/`;
  const response = await fetch(`${authority}${env.AZURE_TENANT_ID}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: env.AZURE_CLIENT_ID,
      scope: `${resource}/.default`,
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok || typeof body.access_token !== 'string') {
    console.error(
      `Entra ID refused: HTTP ${response.status} ${String(body.error_description ?? body.error)}`,
    );
    return 3;
  }
  const claims = JSON.parse(
    Buffer.from(body.access_token.split('.')[1], 'base64url').toString('utf8'),
  ) as Record<string, unknown>;
  console.log(
    JSON.stringify({ aud: claims.aud, appid: claims.appid, tid: claims.tid, expires_in: body.expires_in }),
  );
  return 0;
}

runStep(main);
