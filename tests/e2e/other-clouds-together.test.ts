import { strict as assert } from 'node:assert';
import type { Emulator, EmulatorConnection } from '../emulator';
import { leaks } from '../harness/agent';
import { ConnectProxy } from '../harness/proxy';
import { EmulatedJob, leakReport, startEmulator } from '../harness/scenario';
import { connectionOfStyle, describeStep } from '../interop/support';

/** AWS, Google Cloud and Vault configured at once, behind the agent's proxy, as a corporate agent runs the task. */

const ROLE = 'arn:aws:iam::123456789012:role/azure-pipelines-deploy';
const PROVIDER =
  'projects/123456789012/locations/global/workloadIdentityPools/azure-devops/providers/contoso';
const SA = 'deployer@my-project.iam.gserviceaccount.com';

describe('Other clouds together: every proof goes through the agent proxy, one run, all exports', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;
  let proxy: ConnectProxy;

  before(async () => {
    emulator = await startEmulator();
    connection = connectionOfStyle(emulator, 'entra');
    const [iss, sub] = [emulator.issuerFor(connection), emulator.subjectFor(connection)];
    emulator.aws.trust(ROLE, iss, sub);
    emulator.gcp.addProvider(PROVIDER, iss, { subject: sub });
    emulator.gcp.grantWorkloadIdentityUser(SA, PROVIDER, sub);
    emulator.vault.addRole('deploy', iss, sub);
    proxy = await ConnectProxy.start();
  });
  after(async () => {
    await proxy.stop();
    await emulator.stop();
  });

  it('proves AWS, then Google Cloud, then Vault through the proxy and exports each one', async () => {
    const job = EmulatedJob.forConnection(emulator, connection, {
      inputs: {
        awsRoleArn: ROLE,
        gcpWorkloadIdentityProvider: PROVIDER,
        gcpServiceAccount: SA,
        gcpTokenUrl: `${emulator.url}/v1/token`,
        gcpIamCredentialsUrl: emulator.url,
        vaultAddress: emulator.url,
        vaultRole: 'deploy',
      },
      extra: { AWS_ENDPOINT_URL_STS: emulator.url, AGENT_PROXYURL: proxy.url, BUILD_BUILDID: '4711' },
    });
    const task = await job.runTask();
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));
    assert.deepEqual(
      emulator.requests.map((r) => r.kind),
      ['oidctoken', 'token', 'aws-sts', 'gcp-sts', 'gcp-iam', 'vault'],
    );
    // One tunnel per request (the task does not keep connections alive), every one through the proxy.
    assert.equal(proxy.log.length, 6);
    assert.ok(proxy.log.every((e) => e.status === 200 && e.target === new URL(emulator.url).host));
    const names = task.variables.filter((v) => !v.output).map((v) => v.name);
    for (const name of [
      'AWS_ROLE_ARN',
      'AWS_WEB_IDENTITY_TOKEN_FILE',
      'GOOGLE_APPLICATION_CREDENTIALS',
      'CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE',
      'VAULT_ADDR',
      'VAULT_TOKEN',
    ]) {
      assert.ok(names.includes(name), name);
    }
    // Without an input, the session name carries the build id, as CloudTrail shows it.
    assert.equal(
      task.variables.find((v) => v.name === 'AWS_ROLE_SESSION_NAME')?.value,
      'azure-pipelines-4711',
    );
    // No region input or AWS_REGION on the agent: the aws partition's default.
    assert.equal(task.variables.find((v) => v.name === 'AWS_REGION')?.value, 'us-east-1');
    // Every token another cloud issued was registered with the agent's masker and shown nowhere else.
    const issued = [...emulator.gcp.issuedTokens, ...emulator.vault.issuedTokens];
    assert.equal(issued.length, 3);
    for (const token of issued) assert.ok(task.secrets.includes(token));
    assert.deepEqual(leakReport(emulator, [task]), []);
    assert.deepEqual(leaks(task, issued), []);
  });
});
