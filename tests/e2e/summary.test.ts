import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator, EmulatorConnection } from '../emulator';
import { leaks, secretsOf, type StepResult } from '../harness/agent';
import { plainCell, sections, tableUnder } from '../harness/markdown';
import { EmulatedJob, leakReport, startEmulator } from '../harness/scenario';

const OUTPUT_COLUMN = 'In a later job (`variables:` of a job that `dependsOn` this one)';

/** The summary file the step handed the agent with ##vso[task.uploadsummary], read as the agent would. */
function uploadedSummaries(step: StepResult): Array<{ file: string; markdown: string }> {
  return step.commands
    .filter((c) => c.area === 'task' && c.event === 'uploadsummary')
    .map((c) => ({ file: c.data, markdown: fs.readFileSync(c.data, 'utf8') }));
}

/** The summary's three variable tables must list exactly what the step set, in the order it set them. */
function assertTablesMatch(markdown: string, step: StepResult, stepName: string, jobName: string): void {
  const plain = tableUnder(markdown, 'Variables for later steps of this job');
  assert.deepEqual(
    plain.map((row) => [plainCell(row.Variable), plainCell(row.Value)]),
    step.variables.filter((v) => !v.secret && !v.output).map((v) => [v.name, v.value]),
  );
  const secrets = tableUnder(markdown, 'Secret variables');
  assert.deepEqual(
    secrets.map((row) => [plainCell(row.Variable), plainCell(row['Map it with'])]),
    step.variables.filter((v) => v.secret && !v.output).map((v) => [v.name, `${v.name}: $(${v.name})`]),
  );
  const outputs = tableUnder(markdown, 'Output variables for later jobs and stages');
  assert.deepEqual(
    outputs.map((row) => [plainCell(row.Output), row.Secret, plainCell(row[OUTPUT_COLUMN])]),
    step.variables
      .filter((v) => v.output)
      .map((v) => [
        v.name,
        v.secret ? 'yes' : 'no',
        `$[ dependencies.${jobName}.outputs['${stepName}.${v.name}'] ]`,
      ]),
  );
}

/** Every secret the emulator issued or the step registered, found anywhere in the text. */
function secretsIn(text: string, emulator: Emulator, steps: StepResult[]): string[] {
  const secrets = [
    ...emulator.issuedIdTokens,
    ...emulator.issuedAccessTokens,
    emulator.options.jobAccessToken ?? '',
    ...steps.flatMap(secretsOf),
  ].filter((secret) => secret.length >= 8);
  return secrets.filter((secret) => text.includes(secret));
}

describe('run summary: the tab the step adds to the run page', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let entra: EmulatorConnection;
  let devops: EmulatorConnection;
  const steps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator();
    entra = emulator.options.connections.find((c) => c.issuerStyle === 'entra')!;
    devops = emulator.options.connections.find((c) => c.issuerStyle === 'azuredevops')!;
  });

  after(async () => {
    await emulator?.stop();
  });

  async function run(job: EmulatedJob): Promise<StepResult> {
    const step = await job.runTask();
    steps.push(step);
    assert.equal(step.result?.result, 'Succeeded', step.stdout);
    return step;
  }

  it('uploads one owner-only Markdown file whose tables are the variables the step set', async () => {
    const job = EmulatedJob.forConnection(emulator, entra);
    const step = await run(job);
    const [summary, ...more] = uploadedSummaries(step);
    assert.equal(more.length, 0);
    assert.equal(path.basename(summary.file), 'azure-workload-identity.md');
    assert.ok(summary.file.startsWith(job.job.tempDirectory + path.sep), summary.file);
    assert.equal(fs.statSync(summary.file).mode & 0o777, 0o600);
    assert.ok(summary.markdown.startsWith('## Azure workload identity\n'));
    // The emulated agent gives no step or job name, as an agent before 2.x would not: placeholders.
    assertTablesMatch(summary.markdown, step, '<step name>', '<job>');
    assert.deepEqual(secretsIn(summary.markdown, emulator, [step]), []);
    assert.deepEqual(leakReport(emulator, [step]), []);
  });

  it('names the step and job the agent gives, and says the step has a name', async () => {
    const job = EmulatedJob.forConnection(emulator, entra, {
      extra: { SYSTEM_TASKINSTANCENAME: 'azureLogin', SYSTEM_PHASENAME: 'Build', SYSTEM_STAGENAME: 'Infra' },
    });
    const step = await run(job);
    const [summary] = uploadedSummaries(step);
    assertTablesMatch(summary.markdown, step, 'azureLogin', 'Build');
    assert.match(summary.markdown, /This step's name is `azureLogin`\./);
    assert.match(
      summary.markdown,
      /In a later stage: `\$\[ stageDependencies\.Infra\.Build\.outputs\['azureLogin\.<name>'\] \]`/,
    );
  });

  it('shows the Azure DevOps issuer retirement in the summary with the same words as the log warning', async () => {
    const step = await run(EmulatedJob.forConnection(emulator, devops));
    const [summary] = uploadedSummaries(step);
    const advice = sections(summary.markdown).get('Advice')!.replace(/\\(.)/g, '$1');
    assert.equal(step.warnings.length, 1);
    assert.ok(advice.includes(step.warnings[0]), advice);
    assert.match(advice, /After conversion: issuer https:\/\/login\.microsoftonline\.com\//);
    assert.deepEqual(secretsIn(summary.markdown, emulator, [step]), []);
  });

  it('warns in the log and the summary in a container job and a deployment job, and reads outputs under the job name', async () => {
    const job = EmulatedJob.forConnection(emulator, entra, {
      extra: {
        AGENT_CONTAINERID: 'c0ffee1234',
        ENVIRONMENT_NAME: 'production',
        STRATEGY_NAME: 'runOnce',
        SYSTEM_TASKINSTANCENAME: 'azureLogin',
        SYSTEM_PHASENAME: 'DeployWeb',
      },
    });
    const step = await run(job);
    assert.equal(step.warnings.length, 2);
    assert.match(step.warnings[0], /^This step runs in a container job \(Agent\.ContainerId c0ffee1234\)/);
    assert.match(
      step.warnings[1],
      /^This step runs in a deployment job \(environment production, strategy runOnce\)/,
    );
    const [summary] = uploadedSummaries(step);
    const advice = sections(summary.markdown).get('Advice')!.replace(/\\(.)/g, '$1');
    for (const warning of step.warnings) assert.ok(advice.includes(warning), warning);
    assertTablesMatch(summary.markdown, step, 'DeployWeb.azureLogin', 'DeployWeb');
  });

  it('prints the exportIdToken advice as a log line (not a warning) and drops it with exportIdToken off', async () => {
    const on = await run(EmulatedJob.forConnection(emulator, entra));
    assert.ok(on.plainLines.some((line) => line.startsWith('exportIdToken is on, so ARM_OIDC_TOKEN holds')));
    const off = await run(EmulatedJob.forConnection(emulator, entra, { inputs: { exportIdToken: 'false' } }));
    assert.ok(!off.plainLines.some((line) => line.startsWith('exportIdToken is on')));
    const [summary] = uploadedSummaries(off);
    assert.equal(sections(summary.markdown).get('Advice')!.trim(), 'Nothing to change.');
    assert.ok(!summary.markdown.includes('ARM_OIDC_TOKEN: $(ARM_OIDC_TOKEN)'));
    assertTablesMatch(summary.markdown, off, '<step name>', '<job>');
  });

  it('gives a prefixed instance its own file and title, with its own variables', async () => {
    const first = EmulatedJob.forConnection(emulator, emulator.options.connections[0]);
    const second = new EmulatedJob(emulator, {
      ...EmulatedJob.forConnection(emulator, emulator.options.connections[1], {
        inputs: { variablePrefix: 'STATE_' },
      }).job,
      tempDirectory: first.job.tempDirectory,
    });
    const a = await run(first);
    const b = await run(second);
    const [summaryA] = uploadedSummaries(a);
    const [summaryB] = uploadedSummaries(b);
    assert.equal(path.basename(summaryB.file), 'azure-workload-identity-STATE.md');
    assert.notEqual(path.dirname(summaryA.file), path.dirname(summaryB.file));
    assert.ok(summaryB.markdown.startsWith('## Azure workload identity (STATE)\n'));
    // Both are still there: the second did not overwrite the first.
    assert.ok(fs.readFileSync(summaryA.file, 'utf8').startsWith('## Azure workload identity\n'));
    assertTablesMatch(summaryA.markdown, a, '<step name>', '<job>');
    assertTablesMatch(summaryB.markdown, b, '<step name>', '<job>');
    assert.match(summaryB.markdown, /`azure-wif-token-state access-token \[--resource <uri>\]`/);
    assert.deepEqual(secretsIn(summaryA.markdown + summaryB.markdown, emulator, [a, b]), []);
  });

  it('leaves the summary for the agent to upload when the post-job step removes the token files', async () => {
    const job = EmulatedJob.forConnection(emulator, entra);
    const main = await run(job);
    const [summary] = uploadedSummaries(main);
    const tokenFile = main.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')!.value;
    const post = await job.runPostJob(main);
    steps.push(post);
    assert.equal(fs.existsSync(tokenFile), false);
    // The agent reads the file from its upload queue after the command, and cleans Agent.TempDirectory only
    // once that queue is drained (see src/pipeline/run-summary.ts).
    const after = fs.readFileSync(summary.file, 'utf8');
    assert.ok(after.startsWith(summary.markdown), 'the post-job step only appends');
    // The renewer's record, appended and uploaded again before its directory went (without its counts when the
    // post-job step came before the renewer had written any).
    assert.match(
      after.slice(summary.markdown.length),
      /^\n### Token file renewer \(post-job\)\n\nRenewed the token file \d+ times?(, last at \S+)?; stopped at \S+: Stopped the token renewer \(pid \d+\)\.( It made \d+ renewals?, \d+ failed attempts?; the last idToken in the file expires \S+\.)?\n$/,
    );
    assert.deepEqual(
      uploadedSummaries(post).map((s) => s.file),
      [summary.file],
    );
  });

  it('appends nothing after the post-job step when the renewer is off', async () => {
    const job = EmulatedJob.forConnection(emulator, entra, { inputs: { renewTokens: 'false' } });
    const main = await run(job);
    const [summary] = uploadedSummaries(main);
    assert.match(summary.markdown, /Token file renewer: not running\./);
    const post = await job.runPostJob(main);
    steps.push(post);
    assert.equal(fs.readFileSync(summary.file, 'utf8'), summary.markdown);
    assert.deepEqual(uploadedSummaries(post), []);
  });

  it('printed no secret in any step', () => {
    assert.deepEqual(leakReport(emulator, steps), []);
    for (const step of steps) assert.deepEqual(leaks(step, secretsOf(step)), []);
  });
});
