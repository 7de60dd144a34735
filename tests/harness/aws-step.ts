import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { runStep, sdkRefusal } from './step-main';

/**
 * A later step that uses AWS the way its SDK's documentation says: no credentials in code, the default credential
 * chain (here: the web identity provider, from AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, which the task
 * exported). Prints GetCallerIdentity as JSON; exit 3 when AWS refused, with the SDK's own error name and message.
 */
async function main(): Promise<number> {
  const client = new STSClient({});
  try {
    const identity = await client.send(new GetCallerIdentityCommand({}));
    console.log(JSON.stringify({ Arn: identity.Arn, Account: identity.Account, UserId: identity.UserId }));
    return 0;
  } catch (error) {
    return sdkRefusal(error);
  }
}

runStep(main);
