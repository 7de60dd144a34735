import { strict as assert } from 'node:assert';
import {
  assumeRoleWithWebIdentity,
  configuredStsEndpoint,
  resolveAwsTarget,
  stsEndpoint,
  xmlElement,
  type AwsSettings,
} from '../../src/core/aws';
import { TaskFailure, TransientFailure } from '../../src/core/errors';
import { decodeIdTokenClaims } from '../../src/core/jwt';
import { planOtherCloudExports } from '../../src/core/plan';
import { ScriptedTransport, fakeJwt, idTokenClaims } from './fakes';

function settings(overrides: Partial<AwsSettings> = {}): AwsSettings {
  return {
    roleArn: 'arn:aws:iam::123456789012:role/deploy',
    environment: {},
    defaultSessionName: 'azure-pipelines-77',
    ...overrides,
  };
}

const ADO_TOKEN = fakeJwt(
  idTokenClaims({
    iss: 'https://vstoken.dev.azure.com/0000aaaa-1111-2222-3333-444455556666',
    sub: 'sc://org/proj/conn',
  }),
);

function xml(status: number, body: string) {
  return { status, headers: { 'content-type': 'text/xml' }, body };
}

function stsError(code: string, message: string): string {
  return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`;
}

describe('AWS core: role ARN, region and STS endpoint', () => {
  it('picks the regional STS endpoint of the role ARN partition', () => {
    assert.equal(resolveAwsTarget(settings()).stsUrl, 'https://sts.us-east-1.amazonaws.com/');
    assert.equal(
      resolveAwsTarget(settings({ roleArn: 'arn:aws-cn:iam::123456789012:role/deploy' })).stsUrl,
      'https://sts.cn-north-1.amazonaws.com.cn/',
    );
    assert.equal(
      resolveAwsTarget(
        settings({ roleArn: 'arn:aws-us-gov:iam::123456789012:role/a/path/deploy', region: 'us-gov-east-1' }),
      ).stsUrl,
      'https://sts.us-gov-east-1.amazonaws.com/',
    );
    assert.equal(stsEndpoint('aws', 'eu-west-1'), 'https://sts.eu-west-1.amazonaws.com/');
  });

  it("takes the region from the input, else the agent's AWS_REGION, then AWS_DEFAULT_REGION", () => {
    assert.equal(
      resolveAwsTarget(settings({ region: 'eu-north-1', environment: { AWS_REGION: 'ap-south-1' } })).region,
      'eu-north-1',
    );
    assert.equal(
      resolveAwsTarget(
        settings({ environment: { AWS_REGION: 'ap-south-1', AWS_DEFAULT_REGION: 'eu-west-2' } }),
      ).region,
      'ap-south-1',
    );
    assert.equal(
      resolveAwsTarget(settings({ environment: { AWS_DEFAULT_REGION: 'eu-west-2' } })).region,
      'eu-west-2',
    );
  });

  it('honours AWS_ENDPOINT_URL_STS over AWS_ENDPOINT_URL, and neither when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true', () => {
    assert.equal(
      configuredStsEndpoint({
        AWS_ENDPOINT_URL_STS: 'https://sts.example:8443',
        AWS_ENDPOINT_URL: 'https://all.example',
      }),
      'https://sts.example:8443/',
    );
    assert.equal(
      configuredStsEndpoint({ AWS_ENDPOINT_URL: 'https://all.example/base' }),
      'https://all.example/base/',
    );
    assert.equal(
      configuredStsEndpoint({
        AWS_ENDPOINT_URL_STS: 'https://sts.example',
        AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'TRUE',
      }),
      undefined,
    );
    assert.throws(() => configuredStsEndpoint({ AWS_ENDPOINT_URL_STS: 'sts.example' }), {
      message:
        "The agent's AWS endpoint setting (AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL) is 'sts.example', which is not a URL. Set it to the STS endpoint URL, e.g. https://sts.eu-west-1.amazonaws.com, or remove it.",
    });
  });

  it('refuses a region of another partition, a bad session name and a duration STS cannot give', () => {
    assert.throws(
      () =>
        resolveAwsTarget(
          settings({ roleArn: 'arn:aws-cn:iam::123456789012:role/deploy', region: 'eu-west-1' }),
        ),
      {
        message:
          "The role arn:aws-cn:iam::123456789012:role/deploy is in the AWS China partition, but the region is eu-west-1. Set the input 'awsRegion' to cn-north-1 or cn-northwest-1.",
      },
    );
    assert.throws(() => resolveAwsTarget(settings({ sessionName: 'has space' })), {
      message:
        "The input 'awsSessionName' is 'has space', which AWS does not accept as a role session name. Use 2 to 64 letters, digits and the characters _+=,.@- (e.g. azure-pipelines-$(Build.BuildId)).",
    });
    assert.throws(() => resolveAwsTarget(settings({ durationSeconds: 600 })), {
      message:
        "The input 'awsSessionDurationSeconds' is 600, outside what STS allows. Set it to a number of seconds from 900 to 43200.",
    });
    assert.equal(resolveAwsTarget(settings()).sessionName, 'azure-pipelines-77');
  });
});

describe('AWS core: AssumeRoleWithWebIdentity', () => {
  const target = resolveAwsTarget(settings());
  const claims = decodeIdTokenClaims(ADO_TOKEN);

  it('posts the unsigned Query API form and registers the credentials it will not export', async () => {
    const registered: string[] = [];
    const transport = new ScriptedTransport([
      xml(
        200,
        '<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/deploy/azure-pipelines-77</Arn></AssumedRoleUser><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s3cr3t/key</SecretAccessKey><SessionToken>tok&amp;en</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>',
      ),
    ]);
    const session = await assumeRoleWithWebIdentity(target, ADO_TOKEN, claims, {
      transport,
      registerSecret: (s) => registered.push(s),
    });
    assert.deepEqual(session, {
      assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/deploy/azure-pipelines-77',
      expiresOn: new Date('2030-01-01T00:00:00Z'),
    });
    assert.deepEqual(registered, ['s3cr3t/key', 'tok&en']);
    const [request] = transport.requests;
    assert.equal(request.url, 'https://sts.us-east-1.amazonaws.com/');
    assert.equal(request.headers.Authorization, undefined);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(request.body)), {
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: 'arn:aws:iam::123456789012:role/deploy',
      RoleSessionName: 'azure-pipelines-77',
      WebIdentityToken: ADO_TOKEN,
      DurationSeconds: '3600',
    });
  });

  it('retries throttling and IdP communication errors, and fails at once on a refusal', async () => {
    const throttled = assumeRoleWithWebIdentity(target, ADO_TOKEN, claims, {
      transport: new ScriptedTransport([
        xml(400, stsError('IDPCommunicationError', 'could not reach the IdP')),
      ]),
      registerSecret: () => {},
    });
    await assert.rejects(throttled, (e: unknown) => e instanceof TransientFailure);
    const denied = assumeRoleWithWebIdentity(target, ADO_TOKEN, claims, {
      transport: new ScriptedTransport([
        xml(403, stsError('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity')),
      ]),
      registerSecret: () => {},
    });
    await assert.rejects(
      denied,
      (e: unknown) => e instanceof TaskFailure && !(e instanceof TransientFailure),
    );
  });

  it('adds the retirement note when the trust names the Azure DevOps issuer', async () => {
    const denied = assumeRoleWithWebIdentity(target, ADO_TOKEN, claims, {
      transport: new ScriptedTransport([
        xml(
          400,
          stsError(
            'ValidationError',
            'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
          ),
        ),
      ]),
      registerSecret: () => {},
    });
    await assert.rejects(denied, {
      message:
        'AWS STS refused to let the idToken assume the role arn:aws:iam::123456789012:role/deploy: the requested session of 3600 s is longer than the role allows. ' +
        "Lower the input 'awsSessionDurationSeconds', or raise the role's limit: aws iam update-role --role-name deploy --max-session-duration 3600. " +
        'STS said: ValidationError: The requested DurationSeconds exceeds the MaxSessionDuration set for this role. (RequestId: r-1) ' +
        'The AWS trust names the Azure DevOps issuer (https://vstoken.dev.azure.com/0000aaaa-1111-2222-3333-444455556666), which Microsoft retires on 2027-07-01. ' +
        'When you convert the service connection to the Microsoft Entra issuer, change the AWS trust to the new issuer and subject the task then logs, in the same change.',
    });
  });

  it('reads XML text with entities', () => {
    assert.equal(xmlElement('<a><Message>x &lt;y&gt; &amp;amp;</Message></a>', 'Message'), 'x <y> &amp;');
    assert.equal(xmlElement('<a></a>', 'Message'), undefined);
  });
});

describe('planOtherCloudExports for AWS', () => {
  it('exports the web identity variables (no static keys), prefixed like the Azure ones', () => {
    assert.deepEqual(
      planOtherCloudExports({
        aws: { roleArn: 'arn:aws:iam::1:role/r', region: 'eu-west-1', sessionName: 's' },
        federatedTokenFile: '/t/federated-token.jwt',
        prefix: 'STATE_',
      }).map((v) => `${v.name}=${v.value}${v.secret ? ' (secret)' : ''}`),
      [
        'STATE_AWS_ROLE_ARN=arn:aws:iam::1:role/r',
        'STATE_AWS_WEB_IDENTITY_TOKEN_FILE=/t/federated-token.jwt',
        'STATE_AWS_ROLE_SESSION_NAME=s',
        'STATE_AWS_REGION=eu-west-1',
        'STATE_AWS_DEFAULT_REGION=eu-west-1',
      ],
    );
  });
});
