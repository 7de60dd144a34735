import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/**
 * Stand-ins for the tools the README's recipes call that cannot run offline, each proving what the real tool would
 * need from the step's environment and nothing more:
 *   terraform init …   refuses an argument that still holds an unexpanded `$(…)` macro, as the backend would fail
 *   terraform apply …  the azurerm provider's own idToken refresh and exchange (terraform-refresh.js)
 *   python <script>    DefaultAzureCredential from the step's environment (identity-client.js default)
 *   curl -H "Authorization: Bearer <jwt>" <url>   checks the token's audience is the URL's service
 *   az deployment …    `az account get-access-token` with the real az: the sign-in an ARM deployment needs
 *   aws …              GetCallerIdentity through the AWS SDK's default credential chain (aws-step.js)
 *   gcloud …           an access token through Application Default Credentials (gcp-step.js)
 *   vault …            `vault token lookup` with VAULT_ADDR and VAULT_TOKEN (vault-step.js)
 * Usage: node standins.js <tool> <args…>; the emulator's URL comes from EMULATOR_URL, the real az from REAL_AZ.
 */

const HERE = __dirname;

function node(script: string, args: string[]): number {
  const result = spawnSync(process.execPath, [path.join(HERE, script), ...args], { stdio: 'inherit' });
  return result.status ?? 1;
}

function terraform(args: string[]): number {
  const unexpanded = args.filter((arg) => /\$\([^)]*\)/.test(arg));
  if (unexpanded.length > 0) {
    console.error(`terraform: unexpanded macro in ${unexpanded.join(' ')}`);
    return 1;
  }
  if (args[0] === 'init') return 0;
  if (args[0] === 'apply' || args[0] === 'plan')
    return node('terraform-refresh.js', ['--login-endpoint', process.env.EMULATOR_URL ?? '']);
  console.error(`terraform stand-in: unsupported command ${args[0]}`);
  return 1;
}

const SERVICE_AUDIENCES: Record<string, string[]> = {
  'graph.microsoft.com': ['https://graph.microsoft.com', 'https://graph.microsoft.com/'],
  'management.azure.com': ['https://management.azure.com', 'https://management.azure.com/'],
};

function curl(args: string[]): number {
  const header = args.find((arg) => /^Authorization: Bearer /i.test(arg));
  const url = args.find((arg) => /^https:\/\//.test(arg));
  if (!header || !url) {
    console.error('curl stand-in: expected -H "Authorization: Bearer <token>" and an https URL');
    return 2;
  }
  const token = header.replace(/^Authorization: Bearer /i, '');
  let audience: unknown;
  try {
    audience = (
      JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { aud?: unknown }
    ).aud;
  } catch {
    console.error('curl: (22) The requested URL returned error: 401 (the bearer token is not a JWT)');
    return 22;
  }
  const allowed = SERVICE_AUDIENCES[new URL(url).host] ?? [];
  if (!allowed.includes(String(audience))) {
    console.error(`curl: (22) The requested URL returned error: 401 (token audience ${String(audience)})`);
    return 22;
  }
  console.log('{"value":[]}');
  return 0;
}

function az(args: string[]): number {
  const real = process.env.REAL_AZ ?? 'az';
  const forwarded = args[0] === 'deployment' ? ['account', 'get-access-token', '--output', 'none'] : args;
  return spawnSync(real, forwarded, { stdio: 'inherit' }).status ?? 1;
}

const [tool, ...args] = process.argv.slice(2);
const tools: Record<string, (args: string[]) => number> = {
  terraform,
  python: () => node('identity-client.js', ['default']),
  curl,
  az,
  aws: () => node('../harness/aws-step.js', []),
  gcloud: () => node('../harness/gcp-step.js', []),
  vault: () => node('../harness/vault-step.js', []),
};
process.exit(tools[tool] ? tools[tool](args) : 127);
