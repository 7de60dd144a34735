import { Emulator } from '../tests/emulator';
import { secretsOf, type StepResult } from '../tests/harness/agent';
import { EmulatedJob } from '../tests/harness/scenario';

/**
 * `npm run demo`: the task end to end against the local emulator, shown as a pipeline author sees it in
 * the job log (secrets masked as ***), then a later step that signs in with what the task exported.
 */

function mask(text: string, secrets: string[]): string {
  return secrets.filter((s) => s.length >= 8).reduce((out, secret) => out.split(secret).join('***'), text);
}

/** Renders a step's stdout the way the web log shows it: commands become their effect, secrets become ***. */
function render(step: StepResult, secrets: string[]): string[] {
  const lines: string[] = [];
  for (const line of step.stdout.split(/\r?\n/)) {
    if (line === '') continue;
    const command = step.commands.find((c) => c.line === line);
    if (!command) {
      lines.push(`  ${mask(line, secrets)}`);
      continue;
    }
    const { area, event, properties, data } = command;
    const name = `${area}.${event}`;
    if (name === 'task.setvariable') {
      const scope = properties.isoutput === 'true' ? 'output variable' : 'variable';
      const value = properties.issecret === 'true' ? '***' : mask(data, secrets);
      lines.push(`  [${scope}] ${properties.variable} = ${value}`);
    } else if (name === 'task.issue' || name === 'task.logissue') {
      lines.push(`  ##[${properties.type ?? 'error'}] ${mask(data, secrets)}`);
    } else if (name === 'task.complete') {
      lines.push(`  [result] ${properties.result}: ${mask(data, secrets)}`);
    }
    // setsecret, settaskvariable and debug lines are consumed by the agent and not shown.
  }
  return lines;
}

async function main(): Promise<number> {
  const emulator = await Emulator.start();
  try {
    const connection =
      emulator.options.connections.find((c) => c.issuerStyle === 'entra') ?? emulator.connection();
    console.log(`Emulated Azure DevOps and Entra ID at ${emulator.url} (test CA ${emulator.caFile})`);
    console.log(
      `Service connection ${connection.id} (${connection.name}): client ${connection.clientId}, tenant ${connection.tenantId}\n`,
    );

    const job = EmulatedJob.forConnection(emulator, connection);
    console.log('Step 1: AzureWorkloadIdentity@0 with azureSubscription: ' + connection.name);
    const step = await job.runTask();
    const secrets = [...secretsOf(step), ...emulator.issuedIdTokens, ...emulator.issuedAccessTokens];
    for (const line of render(step, secrets)) console.log(line);
    const requests = emulator.requests.map((r) => `${r.method} ${r.path} -> ${r.status} (${r.kind})`);
    console.log(
      `\n  The task made ${requests.length} requests:\n${requests.map((r) => `    ${r}`).join('\n')}\n`,
    );
    if (step.result?.result !== 'Succeeded') return 1;

    console.log(
      'Step 2: a script that uses only the exported AZURE_* variables and the federated token file',
    );
    emulator.clearRequests();
    const next = await job.runNextStep([step]);
    console.log(`  ${mask(next.stdout.trim() || next.stderr.trim(), secrets)}`);
    if (next.exitCode !== 0) return 1;

    console.log('\nPost-job: AzureWorkloadIdentity@0 cleanup');
    const post = await job.runPostJob(step);
    for (const line of render(post, secrets)) console.log(line);
    console.log('\nDone: the task signed in once and the next step signed in on its own.');
    return 0;
  } finally {
    await emulator.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : String(error));
    process.exit(1);
  },
);
