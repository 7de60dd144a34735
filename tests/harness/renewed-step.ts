import * as fs from 'node:fs';
import { WorkloadIdentityCredential } from '@azure/identity';

/**
 * A long-running later step with no wrapper and no SYSTEM_ACCESSTOKEN: for `seconds`, every `interval` ms it
 * reads AZURE_FEDERATED_TOKEN_FILE (decoding exp: the token must never be expired when read) and, in `sdk`
 * mode, gets a Resource Manager token through @azure/identity's WorkloadIdentityCredential from that file.
 * Prints a JSON summary (never a token).
 *   node renewed-step.js <file|sdk> <seconds> <interval ms>
 */

const [mode, secondsArg, intervalArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? '10');
const intervalMs = Number(intervalArg ?? '1000');
const file = process.env.AZURE_FEDERATED_TOKEN_FILE ?? '';

function claims(token: string): { exp: number; jti?: string; aud?: unknown } {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as {
    exp: number;
    jti?: string;
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const summary = {
    mode,
    reads: 0,
    expiredReads: 0,
    unreadable: 0,
    minLeftMs: Number.POSITIVE_INFINITY,
    idTokens: new Set<string>(),
    sdkTokens: 0,
    sdkFailures: [] as string[],
    audiences: new Set<string>(),
    spanSeconds: 0,
  };
  while (Date.now() - started < seconds * 1000) {
    try {
      const token = fs.readFileSync(file, 'utf8');
      const { exp, jti } = claims(token);
      const left = exp * 1000 - Date.now();
      summary.reads++;
      if (left <= 0) summary.expiredReads++;
      summary.minLeftMs = Math.min(summary.minLeftMs, left);
      summary.idTokens.add(String(jti));
    } catch {
      summary.unreadable++;
    }
    if (mode === 'sdk') {
      try {
        // A new credential per call: one instance keeps the file's content for 5 minutes (the SDK's own
        // cache), which would hide whether the file is fresh now.
        const credential = new WorkloadIdentityCredential({ disableInstanceDiscovery: true });
        const token = await credential.getToken('https://management.azure.com/.default');
        summary.sdkTokens++;
        summary.audiences.add(String(claims(token.token).aud));
      } catch (error) {
        summary.sdkFailures.push(error instanceof Error ? error.message.split('\n')[0] : String(error));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  summary.spanSeconds = (Date.now() - started) / 1000;
  console.log(
    JSON.stringify({
      ...summary,
      idTokens: summary.idTokens.size,
      audiences: [...summary.audiences],
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
