import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { load } from 'js-yaml';
import type { Emulator, EmulatorConnection } from '../emulator';
import { REPO_ROOT, expandMacros, jobVariables, type StepResult } from '../harness/agent';
import { EmulatedJob, findOnPath, leakReport, runCommand } from '../harness/scenario';
import { INTEROP_BUILD_DIR, interopEmulator, registerEmulatedAzCloud } from '../interop/support';

/**
 * Every YAML pipeline snippet in README.md and overview.md, run as the agent would run it: the task's steps with
 * their inputs, then each script step with its `$(…)` macros expanded and its `env:` mapped by the agent's rules
 * (tests/harness/agent.ts), in bash with `set -eo pipefail` (stricter than the agent, so no failing line hides).
 * Tools that cannot run offline are stand-ins (tests/interop/standins.ts) that check what the real tool needs;
 * az is the real Azure CLI with its cloud pointed at the emulator. pwsh steps run only where pwsh is installed.
 */

interface Snippet {
  file: string;
  line: number;
  steps: Array<Record<string, unknown>>;
}

function snippets(): Snippet[] {
  return ['README.md', 'overview.md'].flatMap((file) => {
    const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
    return [...text.matchAll(/^```yaml\r?\n([\s\S]*?)^```/gm)].map((m) => {
      const parsed = load(m[1]) as unknown;
      const steps = Array.isArray(parsed) ? parsed : (parsed as { steps: unknown[] }).steps;
      return {
        file,
        line: text.slice(0, m.index).split('\n').length,
        steps: steps as Array<Record<string, unknown>>,
      };
    });
  });
}

const TASK = 'AzureWorkloadIdentity@0';
const STANDINS = path.join(INTEROP_BUILD_DIR, 'standins.js');

describe('the README and overview pipeline snippets, run as the agent runs them', function () {
  this.timeout(120_000);
  let emulator: Emulator;
  let connections: EmulatorConnection[];
  let realAz: string | undefined;
  const pwsh = findOnPath('pwsh');
  const allSteps: StepResult[] = [];

  before(async () => {
    emulator = await interopEmulator();
    connections = emulator.options.connections;
    realAz = findOnPath('az');
  });

  /** A folder of shims that put the stand-ins first on PATH; az only when the real one is installed. */
  function standinDirectory(job: EmulatedJob): string {
    const dir = fs.mkdtempSync(path.join(job.job.tempDirectory, 'tools-'));
    const tools = ['terraform', 'python', 'curl', 'aws', 'gcloud', 'vault', ...(realAz ? ['az'] : [])];
    for (const tool of tools) {
      fs.writeFileSync(
        path.join(dir, tool),
        `#!/bin/sh\nexec "${process.execPath}" "${STANDINS}" ${tool} "$@"\n`,
        { mode: 0o755 },
      );
    }
    return dir;
  }

  /**
   * What the snippet's other-cloud inputs need from the emulator: the trust the one-time set-up creates, and the
   * endpoints pointed at the emulator through the settings a user has (AWS_ENDPOINT_URL_STS on the agent, the
   * Google URL inputs, the Vault address). Returns the agent environment to add.
   */
  function trustOtherClouds(
    connection: EmulatorConnection,
    inputs: Record<string, string>,
  ): Record<string, string> {
    const [iss, sub] = [emulator.issuerFor(connection), emulator.subjectFor(connection)];
    const extra: Record<string, string> = {};
    if (inputs.awsRoleArn) {
      emulator.aws.trust(inputs.awsRoleArn, iss, sub);
      extra.AWS_ENDPOINT_URL_STS = emulator.url;
    }
    if (inputs.gcpWorkloadIdentityProvider) {
      emulator.gcp.addProvider(inputs.gcpWorkloadIdentityProvider, iss, { subject: sub });
      if (inputs.gcpServiceAccount)
        emulator.gcp.grantWorkloadIdentityUser(
          inputs.gcpServiceAccount,
          inputs.gcpWorkloadIdentityProvider,
          sub,
        );
      inputs.gcpTokenUrl = `${emulator.url}/v1/token`;
      inputs.gcpIamCredentialsUrl = emulator.url;
    }
    if (inputs.vaultRole) {
      emulator.vault.addRole(inputs.vaultRole, iss, sub);
      inputs.vaultAddress = emulator.url;
    }
    return extra;
  }

  for (const snippet of snippets()) {
    const scriptSteps = snippet.steps.filter((s) => !('task' in s));
    const usesPwsh = scriptSteps.some((s) => 'pwsh' in s || 'powershell' in s);
    const usesAz = scriptSteps.some((s) => /\baz /.test(String(s.script ?? s.bash ?? '')));
    it(`${snippet.file}:${snippet.line} runs to the end`, async function () {
      if (usesPwsh && !pwsh) this.skip();
      if (usesAz && !realAz) this.skip();
      const taskSteps = snippet.steps.filter((s) => s.task === TASK);
      // A recipe shown on its own presupposes the task step before it.
      const tasks = taskSteps.length > 0 ? taskSteps : [{ task: TASK, inputs: { azureSubscription: 'c' } }];
      const steps: StepResult[] = [];
      let job: EmulatedJob | undefined;
      for (const [index, taskStep] of tasks.entries()) {
        // As the agent passes them: every input a string (YAML's true is the input 'true').
        const { azureSubscription, ...inputs } = Object.fromEntries(
          Object.entries((taskStep.inputs ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
        );
        assert.ok(azureSubscription, 'the task step names its connection');
        const connection = connections[index % connections.length];
        const extra = trustOtherClouds(connection, inputs);
        const azureCliLogin = inputs.azureCliLogin === 'true';
        if (azureCliLogin && !realAz) this.skip();
        // Every task step of one snippet runs in the same job, with the same temporary directory.
        const stepJob = EmulatedJob.forConnection(
          emulator,
          connection,
          job ? { inputs, extra, tempDirectory: job.job.tempDirectory } : { inputs, extra },
        );
        if (azureCliLogin) {
          // Offline, az accepts a local authority only under /adfs (tests/e2e/azure-cli-login.test.ts): the
          // connection's authority and Resource Manager URL point at the emulator, settings a connection has.
          stepJob.job.connection.url = `${emulator.url}/`;
          stepJob.job.connection.data.activeDirectoryAuthority = `${emulator.url}/adfs/`;
          stepJob.job.extra = { ...stepJob.job.extra, REQUESTS_CA_BUNDLE: emulator.caFile };
        }
        job ??= stepJob;
        const run = await stepJob.runTask();
        steps.push(run);
        allSteps.push(run);
        assert.equal(run.result?.result, 'Succeeded', run.stdout);
      }
      const tools = standinDirectory(job!);
      const agentVariables = [
        { name: 'Agent.TempDirectory', value: job!.job.tempDirectory, secret: false, preserveCase: false },
        {
          name: 'System.AccessToken',
          value: emulator.options.jobAccessToken!,
          secret: true,
          preserveCase: false,
        },
      ];
      for (const step of scriptSteps) {
        const kind = ['script', 'bash', 'pwsh'].find((k) => k in step)!;
        const variables = jobVariables(steps, agentVariables);
        const script = expandMacros(String(step[kind]), variables);
        const mapped = Object.fromEntries(
          Object.entries((step.env ?? {}) as Record<string, string>).map(([name, value]) => [
            name,
            expandMacros(String(value), variables),
          ]),
        );
        const env: Record<string, string> = {
          ...job!.nextStepEnvironment(steps),
          ...mapped,
          EMULATOR_URL: emulator.url,
          // The step's own settings on an agent whose STS is not AWS's: the same variable the task honoured.
          AWS_ENDPOINT_URL_STS: emulator.url,
          REQUESTS_CA_BUNDLE: emulator.caFile,
          AZURE_CORE_COLLECT_TELEMETRY: 'false',
        };
        env.PATH = `${tools}${path.delimiter}${env.PATH}`;
        if (realAz) {
          env.REAL_AZ = realAz;
          // The task's own sign-in (azureCliLogin) exported AZURE_CONFIG_DIR; otherwise the step gets a profile of
          // its own with the emulated cloud, as an agent's az profile would have the real one.
          if (!env.AZURE_CONFIG_DIR) {
            env.AZURE_CONFIG_DIR = fs.mkdtempSync(path.join(job!.job.tempDirectory, 'az-'));
            await registerEmulatedAzCloud(realAz, emulator, env.AZURE_CONFIG_DIR, env);
          } else if (!fs.existsSync(env.AZURE_CONFIG_DIR)) {
            fs.mkdirSync(env.AZURE_CONFIG_DIR, { recursive: true });
            await registerEmulatedAzCloud(realAz, emulator, env.AZURE_CONFIG_DIR, env);
          }
        }
        const run =
          kind === 'pwsh'
            ? await runCommand(pwsh!, ['-NoProfile', '-NonInteractive', '-Command', script], env)
            : await runCommand(
                '/bin/bash',
                ['--noprofile', '--norc', '-c', `set -eo pipefail\n${script}`],
                env,
              );
        allSteps.push(run);
        assert.equal(run.exitCode, 0, `${kind} step failed:\n${script}\n${run.stdout}\n${run.stderr}`);
      }
    });
  }

  it('printed no token in any snippet run', () => {
    assert.deepEqual(leakReport(emulator, allSteps), []);
  });
});
