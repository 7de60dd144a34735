/**
 * `npm run emulator`: starts the Azure DevOps + Entra ID emulator with its default scenario, prints how to
 * point a task at it, and logs one line per request (method, path, status, endpoint kind) until Ctrl-C.
 *
 * Nothing secret reaches stdout: the job access token is masked in the printed variables; the complete set is
 * written (mode 600) to `<state dir>/agent.env`, in the dotenv format of `node --env-file=<file>` (a shell
 * cannot source it: ENDPOINT_* names contain the connection GUID's dashes, as the agent's do), and to
 * `<state dir>/agent-env.json`. Request lines never contain headers, bodies or query strings, so no token can
 * leak through them.
 *
 * Options: --state-dir <dir> (default ./.emulator), --latency <ms>.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Emulator } from '../tests/emulator';

interface CliOptions {
  stateDir: string;
  latencyMs: number;
}

function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = { stateDir: resolve('.emulator'), latencyMs: 0 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--state-dir' && value) {
      options.stateDir = resolve(value);
      i++;
    } else if (arg === '--latency' && value && /^\d+$/.test(value)) {
      options.latencyMs = Number(value);
      i++;
    } else if (arg === '--help' || arg === '-h') {
      console.log('Usage: node build/tools/emulator-cli.js [--state-dir <dir>] [--latency <ms>]');
      process.exit(0);
    } else {
      console.error(`Unknown argument: ${arg}`);
      process.exit(2);
    }
  }
  return options;
}

/** One dotenv line; values are single-quoted (JSON values contain double quotes, none contains a quote). */
function dotenvLine(name: string, value: string): string {
  return value.includes("'") || value.includes('\n')
    ? `${name}=${JSON.stringify(value)}\n`
    : `${name}='${value}'\n`;
}

async function main(): Promise<void> {
  const cli = parseArgs(process.argv.slice(2));
  const emulator = await Emulator.start({
    stateDir: cli.stateDir,
    latencyMs: cli.latencyMs,
    log: (line) => console.log(line),
  });

  const env = emulator.agentEnvironment();
  const secret = emulator.options.jobAccessToken;
  const envFile = join(cli.stateDir, 'agent.env');
  const jsonFile = join(cli.stateDir, 'agent-env.json');
  writeFileSync(
    envFile,
    Object.entries(env)
      .map(([k, v]) => dotenvLine(k, v))
      .join(''),
    { mode: 0o600 },
  );
  writeFileSync(jsonFile, `${JSON.stringify(env, null, 2)}\n`, { mode: 0o600 });
  // `mode` only applies when a file is created: tighten files left by an earlier run too.
  chmodSync(envFile, 0o600);
  chmodSync(jsonFile, 0o600);

  const o = emulator.options;
  console.log(`Azure DevOps + Entra ID emulator listening on ${emulator.url}`);
  console.log(`CA certificate:   ${emulator.caFile}  (AGENT_CAINFO / NODE_EXTRA_CA_CERTS)`);
  console.log(`Entra authority:  ${emulator.authorityHost}  (token endpoint ${emulator.tokenEndpoint()})`);
  console.log(
    `Organization:     ${o.organizationName} (${o.organizationId}), project ${o.projectName} (${o.projectId})`,
  );
  for (const c of o.connections) {
    console.log(
      `Connection:       ${c.name} ${c.id} [${c.issuerStyle} issuer] client ${c.clientId} tenant ${c.tenantId}`,
    );
  }
  console.log('');
  console.log(`Agent-like environment (job access token masked). Full values, mode 600:`);
  console.log(`  ${envFile}  (node --env-file=${envFile} <task.js>)`);
  console.log(`  ${jsonFile}`);
  for (const [name, value] of Object.entries(env)) {
    console.log(`  ${name}=${value.split(secret).join('***')}`);
  }
  console.log('');
  console.log('Requests (Ctrl-C to stop):');

  let stopping = false;
  const stop = (): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log('Stopping emulator...');
    emulator.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
