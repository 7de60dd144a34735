import { createHash } from 'node:crypto';
import { GoogleAuth } from 'google-auth-library';

/**
 * A later step that uses Google Cloud the way its client libraries' documentation says: Application Default
 * Credentials, nothing in code. GOOGLE_APPLICATION_CREDENTIALS (the task's external_account file) makes
 * google-auth-library exchange the token file's idToken at the file's token_url (and impersonate through
 * service_account_impersonation_url). Prints the SHA-256 of the access token (never the token) and the project.
 */
async function main(): Promise<number> {
  const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  try {
    const token = await auth.getAccessToken();
    if (!token) throw new Error('no access token');
    console.log(
      JSON.stringify({
        tokenSha256: createHash('sha256').update(token).digest('hex'),
        project: process.env.GOOGLE_CLOUD_PROJECT ?? null,
      }),
    );
    return 0;
  } catch (error) {
    const e = error as Error;
    console.error(`${e.name}: ${e.message}`);
    return 3;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
