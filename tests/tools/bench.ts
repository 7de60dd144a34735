import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Emulator, type EmulatorConnection, type RequestLogEntry } from '../emulator';
import { MAIN_SCRIPT, REPO_ROOT, makeTempDirectory, taskEnvironment } from '../harness/agent';
import { EmulatedJob } from '../harness/scenario';
import {
  describeKinds,
  formatKilobytes,
  formatRatio,
  formatRequests,
  formatTiming,
  markdownTable,
  median,
  parseLatencies,
  parseRuns,
  roundRobin,
  summarize,
  type Summary,
} from '../bench/stats';
import { METAFILE_DIRECTORY } from './bundle';
import { MAX_VSIX_BYTES, packageExtension } from './package';

/**
 * `npm run bench`: the task against the alternatives, each run as a whole process against the emulator with
 * an injected per-request latency, interleaved round-robin. Prints a markdown table (median and p10–p90 of
 * the wall time from spawn to exit, HTTP requests per run from the emulator's log, peak RSS), the targets,
 * and the bundle and .vsix sizes. Speed targets are checked here, never by timed tests.
 *
 *   npm run bench                       15 runs per contender and latency
 *   BENCH_RUNS=30 npm run bench         or: node build/tests/tools/bench.js --runs 30
 *   node build/tests/tools/bench.js --latencies 0,50,200 --no-package
 */

const BENCH_SCRIPTS = path.join(REPO_ROOT, 'build', 'tests', 'bench');
const IDENTITY_SCRIPT = path.join(BENCH_SCRIPTS, 'identity-credential.js');
const STOCK_SCRIPT = path.join(BENCH_SCRIPTS, 'stock-blocks.js');
const FETCH_REDIRECT = path.join(BENCH_SCRIPTS, 'fetch-redirect.js');
const RSS_PRELOAD = path.join(BENCH_SCRIPTS, 'rss-preload.js');
const GNU_TIME = '/usr/bin/time';
const SUCCEEDED = '##vso[task.complete result=Succeeded;]';
const RUN_TIMEOUT_MS = 60_000;

const TARGETS = {
  requestsPerRun: 2,
  floorRatioAt0: 2.0,
  speedupAt50: 1.5,
  bundleBytes: 450 * 1024,
  vsixBytes: MAX_VSIX_BYTES,
  peakRssBytes: 80 * 1024 * 1024,
};

interface Options {
  runs: number;
  rssRuns: number;
  latencies: number[];
  packageVsix: boolean;
}

interface Invocation {
  args: string[];
  env: Record<string, string>;
}

interface Contender {
  key: string;
  label: string;
  invocation: () => Invocation;
  /** Whether the run did the job (for the floor: exited 0). */
  checkOutput: boolean;
}

interface RunResult {
  ms: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  requests: RequestLogEntry[];
  rssKb?: number;
}

interface Measurements {
  times: Map<number, Map<string, number[]>>;
  requests: Map<string, number[]>;
  kinds: Map<string, string>;
  rssKb: Map<string, number[]>;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const options: Options = {
    runs: parseRuns(env.BENCH_RUNS, 15),
    rssRuns: 0,
    latencies: [0, 50],
    packageVsix: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--runs') options.runs = parseRuns(argv[++i] ?? '(nothing)', options.runs);
    else if (arg === '--latencies') {
      options.latencies = parseLatencies(argv[++i] ?? '(nothing)');
    } else if (arg === '--no-package') options.packageVsix = false;
    else
      throw new Error(
        `Unknown argument '${arg}'. Usage: bench.js [--runs N] [--latencies 0,50] [--no-package]`,
      );
  }
  options.rssRuns = Math.min(5, options.runs);
  return options;
}

/** How peak RSS is measured: GNU time's %M when it is installed (no preload in the child), else a preload. */
function rssMethod(): 'gnu-time' | 'preload' {
  const probe = path.join(os.tmpdir(), `bench-time-probe-${process.pid}`);
  const result = spawnSync(GNU_TIME, ['-f', '%M', '-o', probe, process.execPath, '-e', '0'], {
    stdio: 'ignore',
  });
  const ok = result.status === 0 && fs.existsSync(probe) && /^\d+\s*$/.test(fs.readFileSync(probe, 'utf8'));
  fs.rmSync(probe, { force: true });
  return ok ? 'gnu-time' : 'preload';
}

function label(entry: RequestLogEntry): string {
  if (entry.kind !== 'other') return entry.kind;
  return entry.method === 'OPTIONS' && /\/_apis\/[^/]+\/?$/.test(entry.path) ? 'resource-locations' : 'other';
}

class Runner {
  constructor(
    private readonly emulator: Emulator,
    private readonly rss: 'gnu-time' | 'preload',
  ) {}

  /** Spawns the contender as a whole process and measures from spawn to exit (stdio closed). */
  run(invocation: Invocation, measureRss = false): Promise<RunResult> {
    let command = process.execPath;
    let args = invocation.args;
    const env = { ...invocation.env };
    let rssFile: string | undefined;
    if (measureRss) {
      rssFile = path.join(
        os.tmpdir(),
        `bench-rss-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
      );
      if (this.rss === 'gnu-time') {
        command = GNU_TIME;
        args = ['-f', '%M', '-o', rssFile, process.execPath, ...invocation.args];
      } else {
        args = ['-r', RSS_PRELOAD, ...invocation.args];
        env.BENCH_RSS_FILE = rssFile;
      }
    }
    const before = this.emulator.requests.length;
    return new Promise((resolve, reject) => {
      const started = process.hrtime.bigint();
      const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
      child.on('error', reject);
      child.on('close', (exitCode) => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        clearTimeout(timer);
        let rssKb: number | undefined;
        if (rssFile) {
          const text = fs.existsSync(rssFile) ? fs.readFileSync(rssFile, 'utf8') : '';
          fs.rmSync(rssFile, { force: true });
          rssKb = /^\s*\d+\s*$/.test(text) ? Number(text) : undefined;
        }
        resolve({
          ms,
          exitCode,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          requests: this.emulator.requests.slice(before),
          rssKb,
        });
      });
    });
  }

  async runChecked(contender: Contender, measureRss = false): Promise<RunResult> {
    const result = await this.run(contender.invocation(), measureRss);
    const ok = result.exitCode === 0 && (!contender.checkOutput || result.stdout.includes(SUCCEEDED));
    if (!ok) {
      throw new Error(
        `${contender.label} failed (exit ${result.exitCode}):\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`,
      );
    }
    return result;
  }
}

function withoutAgentCa(env: Record<string, string>, caFile: string): Record<string, string> {
  const copy: Record<string, string> = { ...env, NODE_EXTRA_CA_CERTS: caFile };
  delete copy.AGENT_CAINFO;
  return copy;
}

function contenders(emulator: Emulator, job: EmulatedJob): Contender[] {
  const agentEnv = () => taskEnvironment(job.job);
  const baseEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir() };
  return [
    {
      key: 'task',
      label: '1. This task: dist/main.js as the agent runs it (Agent.CAInfo = test CA)',
      invocation: () => ({ args: [MAIN_SCRIPT], env: agentEnv() }),
      checkOutput: true,
    },
    {
      key: 'task-extra-ca',
      label: '1b. This task, test CA in NODE_EXTRA_CA_CERTS instead (as 2 and 3)',
      invocation: () => ({ args: [MAIN_SCRIPT], env: withoutAgentCa(agentEnv(), emulator.caFile) }),
      checkOutput: true,
    },
    {
      key: 'identity',
      label: '2. @azure/identity AzurePipelinesCredential script',
      invocation: () => ({ args: [IDENTITY_SCRIPT], env: withoutAgentCa(agentEnv(), emulator.caFile) }),
      checkOutput: true,
    },
    {
      key: 'stock',
      label: '3. Stock blocks: artifacts-common web API + node-api createOidcToken + msal-node defaults',
      invocation: () => ({
        args: ['-r', FETCH_REDIRECT, STOCK_SCRIPT],
        env: {
          ...withoutAgentCa(agentEnv(), emulator.caFile),
          BENCH_REDIRECT_ORIGIN: emulator.url,
          BENCH_REDIRECT_HOSTS: 'login.microsoftonline.com',
        },
      }),
      checkOutput: true,
    },
    {
      key: 'floor',
      label: '4. Floor: node -e 0',
      invocation: () => ({ args: ['-e', '0'], env: baseEnv }),
      checkOutput: false,
    },
    {
      key: 'floor-extra-ca',
      label: '4b. node -e 0 with NODE_EXTRA_CA_CERTS = test CA',
      invocation: () => ({ args: ['-e', '0'], env: { ...baseEnv, NODE_EXTRA_CA_CERTS: emulator.caFile } }),
      checkOutput: false,
    },
  ];
}

/** One run of the task per cloud, the authority pointed at the emulator: the requests each makes. */
async function requestsPerCloud(
  runner: Runner,
  emulator: Emulator,
  connection: EmulatorConnection,
): Promise<{ cloud: string; requests: RequestLogEntry[] }[]> {
  const clouds: { cloud: string; data: Record<string, string> }[] = [
    { cloud: 'AzureCloud', data: { environment: 'AzureCloud' } },
    { cloud: 'AzureChinaCloud', data: { environment: 'AzureChinaCloud' } },
    { cloud: 'AzureUSGovernment', data: { environment: 'AzureUSGovernment' } },
    {
      cloud: 'AzureStack (custom authority)',
      data: {
        environment: 'AzureStack',
        activeDirectoryServiceEndpointResourceId: 'https://management.local.azurestack.external/',
      },
    },
  ];
  const found = [];
  for (const { cloud, data } of clouds) {
    const job = EmulatedJob.forConnection(emulator, connection);
    job.job.connection.data = {
      ...job.job.connection.data,
      ...data,
      activeDirectoryAuthority: emulator.authorityHost,
    };
    const task: Contender = {
      key: 'task',
      label: `task (${cloud})`,
      invocation: () => ({ args: [MAIN_SCRIPT], env: taskEnvironment(job.job) }),
      checkOutput: true,
    };
    found.push({ cloud, requests: (await runner.runChecked(task)).requests });
    fs.rmSync(job.job.tempDirectory, { recursive: true, force: true });
    fs.rmSync(job.tempDirectory, { recursive: true, force: true });
  }
  return found;
}

async function measure(
  runner: Runner,
  emulator: Emulator,
  list: Contender[],
  options: Options,
): Promise<Measurements> {
  const measurements: Measurements = {
    times: new Map(),
    requests: new Map(),
    kinds: new Map(),
    rssKb: new Map(),
  };
  for (const latencyMs of options.latencies) {
    emulator.setOptions({ latencyMs });
    const times = new Map(list.map((c) => [c.key, [] as number[]]));
    measurements.times.set(latencyMs, times);
    // One unmeasured run each first: the file cache and the emulator's keys are warm for every contender.
    for (const contender of list) await runner.runChecked(contender);
    for (const contender of roundRobin(list, options.runs)) {
      const result = await runner.runChecked(contender);
      times.get(contender.key)!.push(result.ms);
      const counts = measurements.requests.get(contender.key) ?? [];
      counts.push(result.requests.length);
      measurements.requests.set(contender.key, counts);
      if (!measurements.kinds.has(contender.key)) {
        measurements.kinds.set(contender.key, describeKinds(result.requests.map(label)));
      }
    }
    process.stderr.write(`latency ${latencyMs} ms: ${options.runs} runs of ${list.length} contenders done\n`);
  }
  // Peak RSS on separate runs, so the wrapper (GNU time) or preload never adds to the timed runs.
  emulator.setOptions({ latencyMs: 0 });
  for (const contender of roundRobin(list, options.rssRuns)) {
    const result = await runner.runChecked(contender, true);
    if (result.rssKb !== undefined) {
      const values = measurements.rssKb.get(contender.key) ?? [];
      values.push(result.rssKb);
      measurements.rssKb.set(contender.key, values);
    }
  }
  return measurements;
}

interface Sizes {
  mainBytes: number;
  mainGzipBytes: number;
  postBytes: number;
  postGzipBytes: number;
  vsixBytes?: number;
  vsixSource: string;
  topInputs: string[];
}

/** Bytes in the bundle per package, largest first, from esbuild's metafile (tests/tools/bundle.ts). */
function topInputs(metafile: string, count: number): string[] {
  if (!fs.existsSync(metafile)) return [];
  const meta = JSON.parse(fs.readFileSync(metafile, 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
  };
  const byPackage = new Map<string, number>();
  for (const output of Object.values(meta.outputs)) {
    for (const [file, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
      const key = match
        ? match[1]
        : file.startsWith('tests/tools/stubs/')
          ? 'stubs'
          : 'the task (src, task.json)';
      byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, bytes]) => `${name} ${formatKilobytes(bytes)}`);
}

function sizes(options: Options): Sizes {
  const main = fs.readFileSync(MAIN_SCRIPT);
  const post = fs.readFileSync(path.join(REPO_ROOT, 'dist', 'post.js'));
  const result: Sizes = {
    mainBytes: main.length,
    mainGzipBytes: gzipSync(main, { level: 9 }).length,
    postBytes: post.length,
    postGzipBytes: gzipSync(post, { level: 9 }).length,
    vsixSource: '',
    topInputs: topInputs(path.join(METAFILE_DIRECTORY, 'main.json'), 8),
  };
  if (options.packageVsix) {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-vsix-'));
    try {
      result.vsixBytes = packageExtension({ outDir }).bytes;
      result.vsixSource = 'packaged now by tests/tools/package.ts';
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  } else {
    const out = path.join(REPO_ROOT, 'out');
    const vsix = fs.existsSync(out) ? fs.readdirSync(out).filter((f) => f.endsWith('.vsix')) : [];
    if (vsix.length > 0) {
      const newest = vsix
        .map((f) => path.join(out, f))
        .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
      result.vsixBytes = fs.statSync(newest).size;
      result.vsixSource = `${path.relative(REPO_ROOT, newest)} (not rebuilt)`;
    }
  }
  return result;
}

function report(
  list: Contender[],
  measurements: Measurements,
  clouds: { cloud: string; requests: RequestLogEntry[] }[],
  sizesFound: Sizes,
  options: Options,
  rss: 'gnu-time' | 'preload',
): string {
  const summaryOf = (latency: number, key: string): Summary =>
    summarize(measurements.times.get(latency)!.get(key)!);
  const floorAt = (latency: number) => summaryOf(latency, 'floor').median;
  const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
  const header = [
    'Contender',
    ...options.latencies.flatMap((latency) => [`${latency} ms latency: median (p10–p90)`, `× floor`]),
    'HTTP requests per run',
    'Peak RSS',
  ];
  const rows = list.map((contender) => {
    let requests = formatRequests(
      measurements.requests.get(contender.key) ?? [],
      measurements.kinds.get(contender.key),
    );
    if (contender.key === 'task') {
      const perCloud = clouds.map((c) => `${c.cloud} ${c.requests.length}`).join(', ');
      requests += `; per cloud: ${perCloud}`;
    }
    const rssValues = measurements.rssKb.get(contender.key);
    return [
      contender.label,
      ...options.latencies.flatMap((latency) => {
        const summary = summaryOf(latency, contender.key);
        return [formatTiming(summary), formatRatio(summary.median / floorAt(latency))];
      }),
      requests || '0',
      rssValues ? mb(median(rssValues)) : 'n/a',
    ];
  });

  const task = (latency: number) => summaryOf(latency, 'task').median;
  const speedups = options.latencies.map((latency) => [
    `${latency} ms`,
    formatRatio(summaryOf(latency, 'identity').median / task(latency)),
    formatRatio(summaryOf(latency, 'stock').median / task(latency)),
    formatRatio(summaryOf(latency, 'identity').median / summaryOf(latency, 'task-extra-ca').median),
    formatRatio(summaryOf(latency, 'stock').median / summaryOf(latency, 'task-extra-ca').median),
  ]);

  const met = (ok: boolean) => (ok ? 'met' : '**missed**');
  const taskRequests = [
    ...(measurements.requests.get('task') ?? []),
    ...(measurements.requests.get('task-extra-ca') ?? []),
    ...clouds.map((c) => c.requests.length),
  ];
  const cloudsOk = clouds.every(
    (c) =>
      c.requests.filter((r) => r.kind === 'oidctoken').length === 1 &&
      c.requests.filter((r) => r.kind === 'token').length === 1,
  );
  const requestsOk = taskRequests.every((n) => n === TARGETS.requestsPerRun) && cloudsOk;
  const targetRows: string[][] = [
    [
      'HTTP requests per successful run of the task',
      `${TARGETS.requestsPerRun} (1 Azure DevOps + 1 Entra)`,
      `${formatRequests(taskRequests)} in ${taskRequests.length} runs, every cloud 1 oidctoken + 1 token`,
      met(requestsOk),
    ],
  ];
  if (options.latencies.includes(0)) {
    const ratio = task(0) / floorAt(0);
    targetRows.push([
      'Task median at 0 ms ÷ floor median',
      `≤ ${TARGETS.floorRatioAt0.toFixed(1)}×`,
      `${formatRatio(ratio)} (${Math.round(task(0))} ms ÷ ${Math.round(floorAt(0))} ms)`,
      met(ratio <= TARGETS.floorRatioAt0),
    ]);
  }
  if (options.latencies.includes(50)) {
    for (const key of ['identity', 'stock']) {
      const speedup = summaryOf(50, key).median / task(50);
      targetRows.push([
        `Task speed-up over ${key === 'identity' ? '2' : '3'} at 50 ms`,
        `≥ ${TARGETS.speedupAt50.toFixed(1)}×`,
        formatRatio(speedup),
        met(speedup >= TARGETS.speedupAt50),
      ]);
    }
  }
  targetRows.push([
    'dist/main.js',
    `≤ ${formatKilobytes(TARGETS.bundleBytes)}`,
    `${formatKilobytes(sizesFound.mainBytes)} (gzip ${formatKilobytes(sizesFound.mainGzipBytes)})`,
    met(sizesFound.mainBytes <= TARGETS.bundleBytes),
  ]);
  targetRows.push([
    '.vsix',
    `≤ ${formatKilobytes(TARGETS.vsixBytes)}`,
    sizesFound.vsixBytes === undefined ? 'not measured' : formatKilobytes(sizesFound.vsixBytes),
    sizesFound.vsixBytes === undefined ? 'n/a' : met(sizesFound.vsixBytes <= TARGETS.vsixBytes),
  ]);
  const taskRss = measurements.rssKb.get('task');
  targetRows.push([
    'Task peak RSS (median)',
    `≤ ${TARGETS.peakRssBytes / 1024 / 1024} MB`,
    taskRss ? mb(median(taskRss)) : 'not measured',
    taskRss ? met(median(taskRss) * 1024 <= TARGETS.peakRssBytes) : 'n/a',
  ]);

  return [
    `### Benchmark: ${options.runs} runs per contender and latency, interleaved round-robin`,
    '',
    markdownTable(header, rows),
    '',
    markdownTable(['Latency', 'Task vs 2', 'Task vs 3', 'Task 1b vs 2', 'Task 1b vs 3'], speedups),
    '',
    markdownTable(['Target', 'Wanted', 'Measured', ''], targetRows),
    '',
    `Bundle: dist/main.js ${formatKilobytes(sizesFound.mainBytes)} (gzip ${formatKilobytes(sizesFound.mainGzipBytes)}), ` +
      `dist/post.js ${formatKilobytes(sizesFound.postBytes)} (gzip ${formatKilobytes(sizesFound.postGzipBytes)}); ` +
      `.vsix ${sizesFound.vsixBytes === undefined ? 'not measured' : `${formatKilobytes(sizesFound.vsixBytes)}, ${sizesFound.vsixSource}`}.`,
    `Largest parts of dist/main.js: ${sizesFound.topInputs.join(', ')}.`,
    '',
    `Wall time: spawn to exit of each process, measured by the benchmark. Latency: the emulator waits that long before ` +
      `every response. Requests: from the emulator's log. Peak RSS: ${
        rss === 'gnu-time'
          ? "GNU time's %M (the child's maximum resident set size)"
          : 'process.resourceUsage().maxRSS via a preload'
      }, median of ${options.rssRuns} separate runs, so the timed runs carry no wrapper. × floor: median ÷ the floor's median at ` +
      `the same latency. Node ${process.version}, ${os.cpus().length} CPUs, ${os.platform()} ${os.release()}.`,
    `Command: \`npm run bench\` (or \`BENCH_RUNS=${options.runs} npm run bench\`; \`node build/tests/tools/bench.js --runs ${options.runs}\` after \`npm run build\`).`,
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  if (!options.latencies.includes(0))
    throw new Error('--latencies must include 0 (the floor ratio is taken there)');
  const rss = rssMethod();
  const emulator = await Emulator.start();
  const temporary: string[] = [];
  try {
    const connection =
      emulator.options.connections.find((c) => c.issuerStyle === 'entra') ?? emulator.connection();
    const job = EmulatedJob.forConnection(emulator, connection, {
      tempDirectory: makeTempDirectory('azure-wif-bench-'),
    });
    temporary.push(job.job.tempDirectory, job.tempDirectory);
    const runner = new Runner(emulator, rss);
    const list = contenders(emulator, job);
    const clouds = await requestsPerCloud(runner, emulator, connection);
    const measurements = await measure(runner, emulator, list, options);
    const sizesFound = sizes(options);
    console.log(report(list, measurements, clouds, sizesFound, options, rss));
  } finally {
    await emulator.stop();
    for (const dir of temporary) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
