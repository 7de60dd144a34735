import {
  AzurePipelinesCredential,
  DefaultAzureCredential,
  WorkloadIdentityCredential,
  type TokenCredential,
} from '@azure/identity';

/**
 * A later pipeline step that uses @azure/identity the way users' code does, reading only its own environment
 * (which the test builds by the agent's rules from what the task exported). The only concessions to running
 * offline are the emulator's https authority (AZURE_AUTHORITY_HOST, exported by the task), its CA (through
 * NODE_EXTRA_CA_CERTS, as on an agent with a custom CA) and `disableInstanceDiscovery`.
 *
 * Usage: node identity-client.js default|workload|pipelines
 * Prints the access token's non-secret claims as JSON on success (exit 0). On failure prints
 * `<error name>: <message>` on stderr, with anything token-shaped redacted, and exits 1.
 */

const SCOPE = 'https://management.azure.com/.default';
const OFFLINE = { disableInstanceDiscovery: true } as const;

function credential(kind: string | undefined): TokenCredential {
  const env = process.env;
  switch (kind) {
    case 'default':
      return new DefaultAzureCredential(OFFLINE);
    case 'workload':
      return new WorkloadIdentityCredential(OFFLINE);
    case 'pipelines':
      // The constructor signature Microsoft documents, fed from the variables AzureCLI@2 also sets and from
      // `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`. SYSTEM_OIDCREQUESTURI is read by the credential.
      return new AzurePipelinesCredential(
        env.AZURESUBSCRIPTION_TENANT_ID ?? '',
        env.AZURESUBSCRIPTION_CLIENT_ID ?? '',
        env.AZURESUBSCRIPTION_SERVICE_CONNECTION_ID ?? '',
        env.SYSTEM_ACCESSTOKEN ?? '',
        OFFLINE,
      );
    default:
      throw new Error(`unknown credential '${String(kind)}': use default, workload or pipelines`);
  }
}

/** Never let a token reach the step's log, even inside an SDK's error message. */
function redact(text: string): string {
  let out = text.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[JWT]');
  const secret = process.env.SYSTEM_ACCESSTOKEN;
  if (secret) out = out.split(secret).join('[SYSTEM_ACCESSTOKEN]');
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const token = await credential(process.argv[2]).getToken(SCOPE);
  if (!token) throw new Error('the credential returned no token');
  const claims = JSON.parse(Buffer.from(token.token.split('.')[1], 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  console.log(
    JSON.stringify({
      aud: claims.aud,
      appid: claims.appid,
      tid: claims.tid,
      expiresInSeconds: Math.round((token.expiresOnTimestamp - started) / 1000),
    }),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    console.error(`${name}: ${redact(message)}`);
    process.exit(1);
  },
);
