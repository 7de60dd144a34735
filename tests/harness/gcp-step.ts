import { createHash } from 'node:crypto';
import { GoogleAuth } from 'google-auth-library';
import { runStep, sdkRefusal } from './step-main';

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
    return sdkRefusal(error);
  }
}

runStep(main);
