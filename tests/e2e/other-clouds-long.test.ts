import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator, EmulatorConnection } from '../emulator';
import { REPO_ROOT, runProcess, type StepResult } from '../harness/agent';
import type { Iteration } from '../harness/other-clouds-long-step';
import { alive } from '../harness/processes';
import { EmulatedJob, leakReport, startEmulator } from '../harness/scenario';
import { connectionOfStyle, describeStep } from '../interop/support';

/**
 * AWS and Google Cloud in a long later step, kept signed in by the job-wide renewer (renewTokens, on by default):
 * AWS_WEB_IDENTITY_TOKEN_FILE and the external_account file's credential_source name the federated token file the
 * renewer rewrites, so the SDKs, which read the file each time they need new credentials, keep authenticating for
 * many idToken lifetimes with no `env:` mapping of SYSTEM_ACCESSTOKEN.
 */

const LONG_STEP = path.join(REPO_ROOT, 'build', 'tests', 'harness', 'other-clouds-long-step.js');
const ROLE = 'arn:aws:iam::123456789012:role/azure-pipelines-deploy';
const PROVIDER =
  'projects/123456789012/locations/global/workloadIdentityPools/azure-devops/providers/contoso';
const SA = 'deployer@my-project.iam.gserviceaccount.com';
// As in renewer.test.ts: short enough to cross 5 lifetimes in ~30 s, long enough for a loaded machine to renew.
const ID_TOKEN_SECONDS = 6;
const LIFETIMES = 5;
const SPAN_SECONDS = LIFETIMES * ID_TOKEN_SECONDS + 1;

function claims(token: string): { jti?: string; iat?: number; exp?: number } {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as {
    jti?: string;
    iat?: number;
  };
}

describe('Other clouds in a long step: the renewer keeps AWS and Google Cloud SDKs signed in from the exports alone', function () {
  this.timeout(120_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;
  const steps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator({ idTokenLifetimeSeconds: ID_TOKEN_SECONDS });
    connection = connectionOfStyle(emulator, 'entra');
    const [iss, sub] = [emulator.issuerFor(connection), emulator.subjectFor(connection)];
    emulator.aws.trust(ROLE, iss, sub);
    emulator.gcp.addProvider(PROVIDER, iss, { subject: sub });
    emulator.gcp.grantWorkloadIdentityUser(SA, PROVIDER, sub);
  });
  after(async () => emulator?.stop());

  it(`authenticates to AWS STS and Google STS in every iteration for ${SPAN_SECONDS} s (over ${LIFETIMES} idToken lifetimes) with renewed idTokens, then the post-job step stops the renewer`, async () => {
    const job = EmulatedJob.forConnection(emulator, connection, {
      inputs: {
        awsRoleArn: ROLE,
        gcpWorkloadIdentityProvider: PROVIDER,
        gcpServiceAccount: SA,
        // Without a project, every new GoogleAuth looks it up at cloudresourcemanager.googleapis.com
        // (google-auth-library src/auth/googleauth.ts getProjectIdOptional), which the offline emulator is not.
        gcpProjectId: 'my-project',
        gcpTokenUrl: `${emulator.url}/v1/token`,
        gcpIamCredentialsUrl: emulator.url,
      },
      extra: { AWS_ENDPOINT_URL_STS: emulator.url },
    });
    const task = await job.runTask();
    steps.push(task);
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));
    const started = task.plainLines.find((l) => l.startsWith('Started the token renewer (pid '));
    assert.ok(started, task.stdout);
    const pid = Number(/\(pid (\d+)\)/.exec(started)![1]);
    const variable = (name: string): string | undefined => task.variables.find((v) => v.name === name)?.value;
    const tokenFile = variable('AZURE_FEDERATED_TOKEN_FILE');
    assert.ok(tokenFile);
    // Both SDKs read the file the renewer rewrites.
    assert.equal(variable('AWS_WEB_IDENTITY_TOKEN_FILE'), tokenFile);
    const credentials = JSON.parse(fs.readFileSync(variable('GOOGLE_APPLICATION_CREDENTIALS')!, 'utf8')) as {
      type: string;
      credential_source: { file: string };
    };
    assert.equal(credentials.type, 'external_account');
    assert.equal(credentials.credential_source.file, tokenFile);

    // The user's own step: the task's exports, plus what an offline user sets for their STS endpoint (the SDK's
    // AWS_ENDPOINT_URL_STS) and trust of the agent's CA (nextStepEnvironment sets NODE_EXTRA_CA_CERTS).
    const env: Record<string, string> = {
      ...job.nextStepEnvironment([task]),
      AWS_ENDPOINT_URL_STS: emulator.url,
    };
    assert.equal(env.NODE_EXTRA_CA_CERTS, emulator.caFile);
    assert.equal(env.SYSTEM_ACCESSTOKEN, undefined);
    assert.deepEqual(
      Object.keys(env).filter((name) => name.startsWith('ENDPOINT_AUTH')),
      [],
    );
    const firstStepRequest = emulator.requests.length;
    const step = await runProcess(LONG_STEP, env, [String(SPAN_SECONDS), '1000'], 90_000);
    steps.push(step);
    assert.equal(step.exitCode, 0, describeStep(step));
    const summary = JSON.parse(step.plainLines.at(-1)!) as { spanSeconds: number; iterations: Iteration[] };
    const { iterations } = summary;
    assert.ok(summary.spanSeconds >= SPAN_SECONDS, `ran ${summary.spanSeconds} s`);
    assert.deepEqual(
      iterations.filter((i) => i.aws !== 'ok' || i.gcp !== 'ok'),
      [],
      'every iteration authenticated to both clouds',
    );
    // Every lifetime window had a success, so no window was covered by one early token.
    for (let window = 0; window < LIFETIMES; window++) {
      const [from, to] = [window * ID_TOKEN_SECONDS * 1000, (window + 1) * ID_TOKEN_SECONDS * 1000];
      assert.ok(
        iterations.some((i) => i.at >= from && i.at < to),
        `no iteration in ${from}-${to} ms: ${JSON.stringify(iterations.map((i) => i.at))}`,
      );
    }
    // The file was never read expired, and its idToken changed at least once per lifetime.
    assert.deepEqual(
      iterations.filter((i) => i.leftMs <= 0),
      [],
    );
    assert.ok(new Set(iterations.map((i) => i.fileExp)).size >= LIFETIMES, JSON.stringify(iterations));

    // What the clouds saw: the SDKs presented renewed idTokens, not the task's first one again and again.
    const presented = (kind: string, field: string): Set<string> => {
      const tokens = emulator.requests
        .slice(firstStepRequest)
        .filter((r) => r.kind === kind && r.status === 200)
        .map((r) => new URLSearchParams(r.body).get(field))
        .filter((t): t is string => !!t);
      return new Set(tokens.map((t) => `${claims(t).jti}/${claims(t).iat}`));
    };
    const awsTokens = presented('aws-sts', 'WebIdentityToken');
    const gcpTokens = presented('gcp-sts', 'subject_token');
    assert.ok(awsTokens.size >= LIFETIMES, `AWS STS saw ${awsTokens.size} distinct idTokens`);
    assert.ok(gcpTokens.size >= LIFETIMES, `Google STS saw ${gcpTokens.size} distinct idTokens`);
    // No request of the step was refused.
    assert.deepEqual(
      emulator.requests
        .slice(firstStepRequest)
        .filter((r) => r.status !== 200 && ['aws-sts', 'gcp-sts', 'gcp-iam'].includes(r.kind))
        .map((r) => `${r.kind} ${r.status}`),
      [],
    );
    console.log(
      `      ${iterations.length} iterations in ${summary.spanSeconds} s; AWS STS saw ${awsTokens.size}, Google STS ${gcpTokens.size} distinct idTokens`,
    );

    const post = await job.runPostJob(task);
    steps.push(post);
    assert.ok(
      post.plainLines.some((l) =>
        new RegExp(
          `^Stopped the token renewer \\(pid ${pid}\\)\\. It made \\d+ renewals, 0 failed attempts;`,
        ).test(l),
      ),
      post.stdout,
    );
    assert.equal(alive(pid), false, 'the renewer is gone after the post-job step');
    assert.deepEqual(leakReport(emulator, steps), []);
  });
});
