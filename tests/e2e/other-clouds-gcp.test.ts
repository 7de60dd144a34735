import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator, EmulatorConnection } from '../emulator';
import { REPO_ROOT, runProcess, type StepResult } from '../harness/agent';
import { EmulatedJob, leakReport, startEmulator, withIdTokenExpiredOnArrival } from '../harness/scenario';
import { connectionOfStyle, describeStep, exported, laterStepEnvironment } from '../interop/support';

/**
 * Google Cloud from the same connection: the bundled task proves the workload identity provider (and the service
 * account's binding) with the STS token exchange and generateAccessToken at the endpoints its inputs gcpTokenUrl /
 * gcpIamCredentialsUrl name (a Private Service Connect endpoint for a real user; the emulator here), writes the
 * external_account credential file, and a later step's google-auth-library authenticates from the exports alone.
 */

const GCP_STEP = path.join(REPO_ROOT, 'build', 'tests', 'harness', 'gcp-step.js');
const PROVIDER =
  'projects/123456789012/locations/global/workloadIdentityPools/azure-devops/providers/contoso';
const POOL = 'projects/123456789012/locations/global/workloadIdentityPools/azure-devops';
const SA = 'deployer@my-project.iam.gserviceaccount.com';

describe('Google Cloud: the task proves a workload identity provider and google-auth-library signs in from the exports', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;

  before(async () => {
    emulator = await startEmulator();
    connection = connectionOfStyle(emulator, 'entra');
  });
  after(async () => emulator.stop());
  beforeEach(() => {
    emulator.gcp.providers.length = 0;
    emulator.gcp.serviceAccounts.length = 0;
  });

  function gcpJob(inputs: Record<string, string> = {}): EmulatedJob {
    return EmulatedJob.forConnection(emulator, connection, {
      inputs: {
        gcpWorkloadIdentityProvider: PROVIDER,
        gcpServiceAccount: SA,
        gcpProjectId: 'my-project',
        gcpTokenUrl: `${emulator.url}/v1/token`,
        gcpIamCredentialsUrl: emulator.url,
        ...inputs,
      },
    });
  }

  function trustConnection(options: { audiences?: string[]; subject?: string } = {}): void {
    emulator.gcp.addProvider(PROVIDER, emulator.issuerFor(connection), {
      subject: emulator.subjectFor(connection),
      ...options,
    });
  }

  function fix(verb: 'create' | 'update'): string {
    return (
      `gcloud iam workload-identity-pools providers ${verb}-oidc contoso --project 123456789012 --location global --workload-identity-pool azure-devops ` +
      `--issuer-uri ${emulator.issuerFor(connection)} --allowed-audiences api://AzureADTokenExchange --attribute-mapping google.subject=assertion.sub ` +
      `--attribute-condition "assertion.sub == '${emulator.subjectFor(connection)}'"`
    );
  }

  function failure(step: StepResult): string {
    assert.equal(step.result?.result, 'Failed', describeStep(step));
    return step.result.message;
  }

  async function signInLater(
    job: EmulatedJob,
    task: StepResult,
  ): Promise<{ who?: string; project: unknown }> {
    const step = await runProcess(GCP_STEP, laterStepEnvironment(job, [task]));
    assert.equal(step.exitCode, 0, describeStep(step));
    assert.deepEqual(leakReport(emulator, [task, step]), []);
    const { tokenSha256, project } = JSON.parse(step.stdout) as { tokenSha256: string; project: unknown };
    const token = emulator.gcp.issuedTokens.find(
      (t) => createHash('sha256').update(t).digest('hex') === tokenSha256,
    );
    return { who: token && emulator.gcp.whoIs(token), project };
  }

  it('writes the external_account file, exports it, and the later step impersonates the service account with it', async () => {
    trustConnection();
    emulator.gcp.grantWorkloadIdentityUser(SA, PROVIDER, emulator.subjectFor(connection));
    const job = gcpJob();
    const task = await job.runTask();
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));
    const file = exported(task, 'GOOGLE_APPLICATION_CREDENTIALS');
    assert.deepEqual(
      task.variables
        .filter((v) => /^(GOOGLE|CLOUDSDK)_/.test(v.name))
        .map((v) => [v.name, v.value, v.secret]),
      [
        ['GOOGLE_APPLICATION_CREDENTIALS', file, false],
        ['CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE', file, false],
        ['GOOGLE_CLOUD_PROJECT', 'my-project', false],
        ['CLOUDSDK_CORE_PROJECT', 'my-project', false],
      ],
    );
    assert.equal(path.dirname(file), path.dirname(exported(task, 'AZURE_FEDERATED_TOKEN_FILE')));
    if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {
      universe_domain: 'googleapis.com',
      type: 'external_account',
      audience: `//iam.googleapis.com/${PROVIDER}`,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `${emulator.url}/v1/token`,
      credential_source: { file: exported(task, 'AZURE_FEDERATED_TOKEN_FILE') },
      service_account_impersonation_url: `${emulator.url}/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
    });
    assert.deepEqual(
      emulator.requests.filter((r) => r.kind.startsWith('gcp')).map((r) => `${r.kind} ${r.status}`),
      ['gcp-sts 200', 'gcp-iam 200'],
    );
    assert.deepEqual(await signInLater(job, task), { who: SA, project: 'my-project' });
  });

  it('without a service account, the later step gets the federated principal itself', async () => {
    trustConnection();
    const job = gcpJob({ gcpServiceAccount: '' });
    const task = await job.runTask();
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));
    const file = JSON.parse(
      fs.readFileSync(exported(task, 'GOOGLE_APPLICATION_CREDENTIALS'), 'utf8'),
    ) as object;
    assert.equal('service_account_impersonation_url' in file, false);
    assert.deepEqual(await signInLater(job, task), {
      who: `principal://iam.googleapis.com/${POOL}/subject/${emulator.subjectFor(connection)}`,
      project: 'my-project',
    });
  });

  it('fails with the provider command when the provider allows another audience (wrong audience)', async () => {
    trustConnection({ audiences: [`https://iam.googleapis.com/${PROVIDER}`] });
    const task = await gcpJob().runTask();
    assert.equal(
      failure(task),
      `Google Cloud STS refused the idToken for the workload identity provider ${PROVIDER}: the provider does not allow the audience api://AzureADTokenExchange. ` +
        `Allow it with: ${fix('update')}. ` +
        'Google said: invalid_grant: The audience in ID Token [api://AzureADTokenExchange] does not match the expected audience.',
    );
  });

  it("fails with the exact attribute condition when the provider's condition names another subject (wrong subject)", async () => {
    trustConnection({ subject: `${emulator.subjectFor(connection)}-old` });
    const task = await gcpJob().runTask();
    assert.equal(
      failure(task),
      `Google Cloud STS refused the idToken for the workload identity provider ${PROVIDER}: the provider's attribute condition rejects this connection's subject. ` +
        `Allow exactly this connection with: ${fix('update')}. ` +
        'Google said: unauthorized_client: The given credential is rejected by the attribute condition.',
    );
  });

  it("fails with the binding command when the service account does not trust the connection's principal", async () => {
    trustConnection();
    emulator.gcp.grantWorkloadIdentityUser(SA, PROVIDER, 'someone-else');
    const task = await gcpJob().runTask();
    assert.equal(
      failure(task),
      `Google Cloud refused to let the federated identity impersonate the service account ${SA}: the service account does not grant this connection's principal the Workload Identity User role. ` +
        `Grant it with: gcloud iam service-accounts add-iam-policy-binding ${SA} --role roles/iam.workloadIdentityUser --member principal://iam.googleapis.com/${POOL}/subject/${emulator.subjectFor(connection)}. ` +
        "Google said: PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
    );
  });

  it('fails with the create command when the provider does not exist', async () => {
    const task = await gcpJob().runTask();
    assert.equal(
      failure(task),
      `Google Cloud STS refused the idToken for the workload identity provider ${PROVIDER}: the pool or provider does not exist or is disabled. ` +
        `Create it with: ${fix('create')}. ` +
        'Google said: invalid_target: The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn\'t exist.',
    );
  });

  it('fails on the clock when Google sees the idToken expired (expired token)', async () => {
    trustConnection();
    await withIdTokenExpiredOnArrival(emulator, 'gcp-sts', async () => {
      const task = await gcpJob().runTask();
      assert.match(
        failure(task),
        new RegExp(
          `^Google Cloud STS refused the idToken for the workload identity provider ${PROVIDER}: the idToken had expired when Google checked it\\. ` +
            "Check that the agent machine's clock is right and re-run the job; later steps read the refreshed token file rather than a saved token\\. " +
            'Google said: invalid_grant: ID Token expired at \\d+\\.$',
        ),
      );
    });
  });

  it('refuses a provider named by project id before any request', async () => {
    emulator.clearRequests();
    const task = await gcpJob({
      gcpWorkloadIdentityProvider:
        'projects/my-project/locations/global/workloadIdentityPools/azure-devops/providers/contoso',
    }).runTask();
    assert.equal(
      failure(task),
      "The input 'gcpWorkloadIdentityProvider' names the project 'my-project' by its id, but the provider name needs the project number. " +
        'Replace it with the number that gcloud projects describe my-project --format "value(projectNumber)" prints.',
    );
    assert.equal(emulator.requests.length, 0);
  });
});
