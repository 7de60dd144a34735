/**
 * What starting the job-wide renewer adds to the task step: the synchronous time of startRenewer() (spawn of
 * the detached process and the stdin hand-over), in a process that has loaded what the task loads, so fork
 * costs what it costs in the step. The children are given a config that makes them exit at once.
 *   npm run build && node build/tools/bench/renewer-start.js [runs]
 * Target (issue #14): median under 5 ms.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startRenewer } from '../../src/renewer/control';
import { summarize } from './stats';
import { REPO_ROOT } from '../repo-root';

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? '50');
  // The task step has task-lib and msal-node loaded when it starts the renewer.
  /* eslint-disable @typescript-eslint/no-require-imports */
  require('azure-pipelines-task-lib/task');
  require('@azure/msal-node');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'renewer-bench-'));
  const script = path.join(REPO_ROOT, 'dist', 'main.js');
  const samples: number[] = [];
  const pids: number[] = [];
  for (let i = 0; i < runs; i++) {
    const workDirectory = fs.mkdtempSync(path.join(temp, 'azure-wif-'));
    const started = performance.now();
    const pid = startRenewer(
      {
        workDirectory,
        configFile: path.join(workDirectory, 'missing.json'),
        secrets: { jobAccessToken: 'bench-not-a-token' },
      },
      script,
    );
    samples.push(performance.now() - started);
    if (pid) pids.push(pid);
    // Spaced out so each child has finished loading: in a step only one starts, with the CPU to itself.
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const s = summarize(samples.slice(1)); // the first spawn warms libuv's process machinery
  console.log(
    `startRenewer: median ${s.median.toFixed(2)} ms, p90 ${s.p90.toFixed(2)} ms, max ${s.max.toFixed(2)} ms over ${s.count} runs (node ${process.version}, ${os.cpus().length} CPUs)`,
  );
  await new Promise((resolve) => setTimeout(resolve, 1000));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited on its own, as it should
    }
  }
  fs.rmSync(temp, { recursive: true, force: true });
}

void main();
