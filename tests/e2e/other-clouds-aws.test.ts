import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import type { Emulator, EmulatorConnection } from '../emulator';
import { REPO_ROOT, runProcess, type StepResult } from '../harness/agent';
import { EmulatedJob, leakReport, startEmulator, withIdTokenExpiredOnArrival } from '../harness/scenario';
import { connectionOfStyle, describeStep, exported, laterStepEnvironment } from '../interop/support';

/**
 * AWS from the same connection: the bundled task proves the role's trust with AssumeRoleWithWebIdentity at the STS
 * endpoint the agent's AWS_ENDPOINT_URL_STS names (the setting AWS's own tools honour), then a later step with the
 * real @aws-sdk/client-sts authenticates from the exports alone through the default credential chain.
 */

const AWS_STEP = path.join(REPO_ROOT, 'build', 'tests', 'harness', 'aws-step.js');
const ROLE = 'arn:aws:iam::123456789012:role/azure-pipelines-deploy';
const SESSION = 'release-42';

describe('AWS: the task proves a role trust and a later AWS SDK step assumes it from the exports', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;

  before(async () => {
    emulator = await startEmulator();
    connection = connectionOfStyle(emulator, 'entra');
  });
  after(async () => emulator.stop());

  function awsJob(inputs: Record<string, string> = {}): EmulatedJob {
    return EmulatedJob.forConnection(emulator, connection, {
      inputs: { awsRoleArn: ROLE, awsRegion: 'eu-west-1', awsSessionName: SESSION, ...inputs },
      extra: { AWS_ENDPOINT_URL_STS: emulator.url },
    });
  }

  function trustPolicy(subject: string): string {
    const provider = emulator.issuerFor(connection).replace('https://', '');
    return JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${provider}` },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: { [`${provider}:aud`]: 'api://AzureADTokenExchange', [`${provider}:sub`]: subject },
          },
        },
      ],
    });
  }

  function failure(step: StepResult): string {
    assert.equal(step.result?.result, 'Failed', describeStep(step));
    return step.result.message.replace(/RequestId: [0-9a-f-]{36}/, 'RequestId: <id>');
  }

  it('exports the web identity variables, and @aws-sdk/client-sts GetCallerIdentity works from them', async () => {
    emulator.aws.trust(ROLE, emulator.issuerFor(connection), emulator.subjectFor(connection));
    const job = awsJob();
    const task = await job.runTask();
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));
    // An Entra-issuer connection: nothing to move before 2027.
    assert.deepEqual(task.warnings, []);
    const tokenFile = exported(task, 'AZURE_FEDERATED_TOKEN_FILE');
    assert.deepEqual(
      task.variables
        .filter((v) => v.name.startsWith('AWS_'))
        .map(({ preserveCase: _preserveCase, ...v }) => v),
      [
        { name: 'AWS_ROLE_ARN', value: ROLE, secret: false, output: false },
        { name: 'AWS_WEB_IDENTITY_TOKEN_FILE', value: tokenFile, secret: false, output: false },
        { name: 'AWS_ROLE_SESSION_NAME', value: SESSION, secret: false, output: false },
        { name: 'AWS_REGION', value: 'eu-west-1', secret: false, output: false },
        { name: 'AWS_DEFAULT_REGION', value: 'eu-west-1', secret: false, output: false },
      ],
    );
    const proof = emulator.requests.filter((r) => r.kind === 'aws-sts');
    assert.deepEqual(
      proof.map((r) => [r.status, new URLSearchParams(r.body).get('Action'), r.headers.authorization]),
      [[200, 'AssumeRoleWithWebIdentity', undefined]],
    );
    assert.ok(
      task.plainLines.includes(
        `AWS STS accepted the idToken as arn:aws:sts::123456789012:assumed-role/azure-pipelines-deploy/${SESSION}; later steps' AWS SDKs and CLI assume the role themselves from the token file.`,
      ),
      task.stdout,
    );

    // The user's own step: the SDK's endpoint setting and the agent's CA, nothing from the task beyond its exports.
    const env: Record<string, string> = {
      ...laterStepEnvironment(job, [task]),
      AWS_ENDPOINT_URL_STS: emulator.url,
    };
    assert.equal(env.AWS_ACCESS_KEY_ID, undefined);
    const step = await runProcess(AWS_STEP, env);
    assert.equal(step.exitCode, 0, describeStep(step));
    assert.deepEqual(JSON.parse(step.stdout), {
      Arn: `arn:aws:sts::123456789012:assumed-role/azure-pipelines-deploy/${SESSION}`,
      Account: '123456789012',
      UserId: JSON.parse(step.stdout).UserId,
    });
    // The SDK assumed the role itself with the file's token: a second AssumeRoleWithWebIdentity, then the call.
    const actions = emulator.requests
      .filter((r) => r.kind === 'aws-sts')
      .map((r) => new URLSearchParams(r.body).get('Action'));
    assert.deepEqual(actions, [
      'AssumeRoleWithWebIdentity',
      'AssumeRoleWithWebIdentity',
      'GetCallerIdentity',
    ]);
    assert.deepEqual(leakReport(emulator, [task, step]), []);
  });

  it("fails with the provider and trust-policy commands when the role's account has no OIDC provider for the issuer", async () => {
    const other = 'arn:aws:iam::210987654321:role/elsewhere';
    const task = await awsJob({ awsRoleArn: other }).runTask();
    const iss = emulator.issuerFor(connection);
    const provider = iss.replace('https://', '');
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::210987654321:oidc-provider/${provider}` },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: {
              [`${provider}:aud`]: 'api://AzureADTokenExchange',
              [`${provider}:sub`]: emulator.subjectFor(connection),
            },
          },
        },
      ],
    });
    assert.equal(
      failure(task),
      `AWS STS refused to let the idToken assume the role ${other}: account 210987654321 has no IAM OIDC identity provider for the idToken's issuer. ` +
        `Create it with: aws iam create-open-id-connect-provider --url ${iss} --client-id-list api://AzureADTokenExchange; ` +
        `then allow the role to be assumed with: aws iam update-assume-role-policy --role-name elsewhere --policy-document '${policy}'. ` +
        `STS said: InvalidIdentityToken: No OpenIDConnect provider found in your account for ${iss} (RequestId: <id>)`,
    );
  });

  it('fails naming the missing audience when the provider trusts another client id (wrong audience)', async () => {
    const role = 'arn:aws:iam::333333333333:role/sts-audience';
    emulator.aws.trust(role, emulator.issuerFor(connection), emulator.subjectFor(connection), {
      audience: 'sts.amazonaws.com',
    });
    const task = await awsJob({ awsRoleArn: role }).runTask();
    const provider = emulator.issuerFor(connection).replace('https://', '');
    assert.equal(
      failure(task),
      `AWS STS refused to let the idToken assume the role ${role}: the IAM OIDC provider for ${provider} does not list the audience api://AzureADTokenExchange. ` +
        `Add it with: aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn arn:aws:iam::333333333333:oidc-provider/${provider} --client-id api://AzureADTokenExchange. ` +
        'STS said: InvalidIdentityToken: Incorrect token audience (RequestId: <id>)',
    );
  });

  it('fails with the exact trust policy when the role trusts another subject (wrong subject)', async () => {
    const role = 'arn:aws:iam::123456789012:role/renamed-connection';
    emulator.aws.trust(role, emulator.issuerFor(connection), `${emulator.subjectFor(connection)}-old`);
    const task = await awsJob({ awsRoleArn: role }).runTask();
    assert.equal(
      failure(task),
      `AWS STS refused to let the idToken assume the role ${role}: the role's trust policy does not allow this issuer, subject and audience. ` +
        `Allow exactly this connection with: aws iam update-assume-role-policy --role-name renamed-connection --policy-document '${trustPolicy(emulator.subjectFor(connection))}'. ` +
        'STS said: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity (RequestId: <id>)',
    );
  });

  it('fails on the clock when STS sees the idToken expired (expired token)', async () => {
    emulator.aws.trust(ROLE, emulator.issuerFor(connection), emulator.subjectFor(connection));
    await withIdTokenExpiredOnArrival(emulator, 'aws-sts', async () => {
      const task = await awsJob().runTask();
      assert.match(
        failure(task),
        new RegExp(
          `^AWS STS refused to let the idToken assume the role ${ROLE.replace(/[/]/g, '\\/')}: the idToken had expired when STS checked it\\. ` +
            "Check that the agent machine's clock is right and re-run the job; later steps read the refreshed token file rather than a saved token\\. " +
            'STS said: ExpiredTokenException: Token expired: current date/time \\d+ must be before the expiration date/time\\d+ \\(RequestId: <id>\\)$',
        ),
      );
    });
  });

  it('refuses a malformed role ARN before any request', async () => {
    emulator.clearRequests();
    const task = await awsJob({ awsRoleArn: 'azure-pipelines-deploy' }).runTask();
    assert.equal(
      failure(task),
      "The input 'awsRoleArn' is 'azure-pipelines-deploy', which is not an IAM role ARN. " +
        'Set it to the ARN of the role to assume, e.g. arn:aws:iam::123456789012:role/azure-pipelines (IAM console > Roles > the role > ARN).',
    );
    assert.equal(emulator.requests.length, 0);
  });
});
