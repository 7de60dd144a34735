import * as fs from 'node:fs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GoogleAuth } from 'google-auth-library';

/**
 * A long-running later step that uses AWS and Google Cloud from the task's exports alone (no SYSTEM_ACCESSTOKEN,
 * no wrapper): for `seconds`, every `interval` ms it notes the `exp` of the federated token file, then calls AWS
 * GetCallerIdentity through the SDK's default credential chain (web identity provider: AWS_ROLE_ARN +
 * AWS_WEB_IDENTITY_TOKEN_FILE) and gets a Google access token through Application Default Credentials
 * (GOOGLE_APPLICATION_CREDENTIALS, whose credential_source is that same file). Prints a JSON summary (never a
 * token or key).
 *   node other-clouds-long-step.js <seconds> <interval ms>
 */

const [secondsArg, intervalArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? '10');
const intervalMs = Number(intervalArg ?? '1000');
const file = process.env.AWS_WEB_IDENTITY_TOKEN_FILE ?? '';

/** One pass of the loop, as the summary prints it (other-clouds-long.test.ts reads it with this type). */
export interface Iteration {
  /** Milliseconds since the step started. */
  at: number;
  /** The token file's `exp` (seconds since the epoch) when read before the calls; 0 when unreadable. */
  fileExp: number;
  /** Milliseconds the file's idToken had left when read (negative: it was expired). */
  leftMs: number;
  aws: string;
  gcp: string;
}

function fileExp(): number {
  try {
    const token = fs.readFileSync(file, 'utf8');
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as {
      exp: number;
    };
    return claims.exp;
  } catch {
    return 0;
  }
}

function failure(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
}

async function main(): Promise<void> {
  const started = Date.now();
  const iterations: Iteration[] = [];
  while (Date.now() - started < seconds * 1000) {
    const exp = fileExp();
    const now = Date.now();
    const iteration: Iteration = {
      at: now - started,
      fileExp: exp,
      leftMs: exp * 1000 - now,
      aws: 'ok',
      gcp: 'ok',
    };
    // New clients every time: an STSClient keeps the credentials it assumed until they expire (an hour), and a
    // GoogleAuth keeps its access token likewise, so a reused client would not show whether the file is fresh now.
    try {
      const identity = await new STSClient({}).send(new GetCallerIdentityCommand({}));
      if (!identity.Arn) iteration.aws = 'no Arn';
    } catch (error) {
      iteration.aws = failure(error);
    }
    try {
      const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
      if (!(await auth.getAccessToken())) iteration.gcp = 'no access token';
    } catch (error) {
      iteration.gcp = failure(error);
    }
    iterations.push(iteration);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  console.log(JSON.stringify({ spanSeconds: (Date.now() - started) / 1000, iterations }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
