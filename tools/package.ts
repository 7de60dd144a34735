import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './repo-root';

export { REPO_ROOT };

/**
 * Builds the Marketplace package (.vsix) offline: stages exactly the files the extension ships into
 * out/staging/, then runs tfx-cli there. `npm run package` runs the build first.
 *
 * Environment (all optional), for publishing without editing vss-extension.json:
 *   PUBLISHER=<id>     publisher id (tfx --publisher)
 *   PUBLIC=true|false  Marketplace visibility (tfx --override '{"public": …}')
 *   OVERRIDE=<json>    any other manifest override, merged last (tfx --override)
 * There is deliberately no --rev-version: a new extension version must ship a new task version too, or
 * agents keep running their cached copy of the task. Use `npm run version:bump` instead.
 */

/** The task's folder inside the package: vss-extension.json's contribution `properties.name`. */
export const TASK_FOLDER = 'AzureWorkloadIdentity';
/** Files at the package root besides the task folder (the icon and the Marketplace page). */
export const EXTENSION_FILES = ['images/extension-icon.png', 'overview.md'];
/** The Marketplace's size target for this package. */
export const MAX_VSIX_BYTES = 300 * 1024;

export interface PackageOptions {
  root?: string;
  /** Where the .vsix is written; staging goes to <outDir>/staging. Default <root>/out. */
  outDir?: string;
  publisher?: string;
  public?: boolean;
  overrides?: Record<string, unknown>;
}

export interface PackageResult {
  vsixPath: string;
  bytes: number;
  stagingDir: string;
  /** Staged files, relative to the staging root, sorted. */
  files: string[];
  publisher: string;
  extensionId: string;
  version: string;
}

interface TaskManifest {
  execution?: Record<string, { target?: string }>;
  prejobexecution?: Record<string, { target?: string }>;
  postjobexecution?: Record<string, { target?: string }>;
}

/** Every file a handler of task.json runs, relative to the task folder, without duplicates. */
export function handlerTargets(task: TaskManifest): string[] {
  const targets = new Set<string>();
  for (const section of [task.execution, task.prejobexecution, task.postjobexecution]) {
    for (const handler of Object.values(section ?? {})) {
      if (handler.target) targets.add(handler.target.replace(/\$\(\s*currentDirectory\s*\)[\\/]?/i, ''));
    }
  }
  return [...targets].sort();
}

/** The task folder's contents, relative to the repository root: task.json, icon.png, the bundles and their legal notices. */
export function taskFolderFiles(root: string): string[] {
  const task = JSON.parse(fs.readFileSync(path.join(root, 'task.json'), 'utf8')) as TaskManifest;
  const files = ['task.json', 'icon.png'];
  for (const target of handlerTargets(task)) {
    files.push(target);
    // esbuild's `legalComments: 'linked'` writes the bundled packages' licence notices beside the bundle.
    if (fs.existsSync(path.join(root, `${target}.LEGAL.txt`))) files.push(`${target}.LEGAL.txt`);
  }
  return files;
}

function copy(from: string, to: string): void {
  if (!fs.existsSync(from))
    throw new Error(`${from} is missing: run \`npm run build\` (and \`npm run icons\`) first`);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}

function listFiles(dir: string, prefix = ''): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? listFiles(path.join(dir, entry.name), `${prefix}${entry.name}/`)
        : [`${prefix}${entry.name}`],
    )
    .sort();
}

/** Recreates the staging folder: the manifest, the extension files and the task folder, nothing else. */
export function stage(root: string, stagingDir: string): string[] {
  fs.rmSync(stagingDir, { recursive: true, force: true });
  fs.mkdirSync(stagingDir, { recursive: true });
  for (const file of ['vss-extension.json', ...EXTENSION_FILES]) {
    copy(path.join(root, file), path.join(stagingDir, file));
  }
  for (const file of taskFolderFiles(root)) {
    copy(path.join(root, file), path.join(stagingDir, TASK_FOLDER, file));
  }
  return listFiles(stagingDir);
}

export function optionsFromEnvironment(env: NodeJS.ProcessEnv = process.env): PackageOptions {
  const options: PackageOptions = {};
  if (env.PUBLISHER) options.publisher = env.PUBLISHER;
  if (env.PUBLIC) {
    if (!/^(true|false)$/i.test(env.PUBLIC))
      throw new Error(`PUBLIC must be true or false, not '${env.PUBLIC}'`);
    options.public = env.PUBLIC.toLowerCase() === 'true';
  }
  if (env.OVERRIDE) {
    const parsed = JSON.parse(env.OVERRIDE) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error('OVERRIDE must be a JSON object');
    }
    options.overrides = parsed as Record<string, unknown>;
  }
  return options;
}

function tfxCli(): string {
  const packageJsonPath = require.resolve('tfx-cli/package.json');
  const { bin } = JSON.parse(fs.readFileSync(packageJsonPath, 'utf8')) as { bin: Record<string, string> };
  return path.join(path.dirname(packageJsonPath), bin.tfx);
}

/** Stages the package and runs `tfx extension create` offline in the staging root. */
export function packageExtension(options: PackageOptions = {}): PackageResult {
  const root = options.root ?? REPO_ROOT;
  const outDir = path.resolve(options.outDir ?? path.join(root, 'out'));
  const stagingDir = path.join(outDir, 'staging');
  const files = stage(root, stagingDir);

  const override: Record<string, unknown> = { ...options.overrides };
  if (options.public !== undefined) override.public = options.public;
  const args = [
    tfxCli(),
    'extension',
    'create',
    '--root',
    stagingDir,
    '--manifest-globs',
    'vss-extension.json',
    '--output-path',
    outDir,
    '--no-prompt',
    '--no-color',
    '--json',
  ];
  if (options.publisher) args.push('--publisher', options.publisher);
  if (Object.keys(override).length > 0) args.push('--override', JSON.stringify(override));

  const run = spawnSync(process.execPath, args, { cwd: stagingDir, encoding: 'utf8', timeout: 120_000 });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`tfx extension create failed (exit ${run.status}):\n${output}`);
  // tfx only warns about an invalid task.json or an end-of-life handler ("In the future, this warning will
  // be treated as an error"): treat it as the error it will become, so a broken task never ships.
  const lines = output.split(/\r?\n/);
  const warnings = lines.filter((line) => /^\s*warning:/i.test(line));
  if (warnings.length > 0) throw new Error(`tfx extension create warned:\n${warnings.join('\n')}`);

  const stdoutLines = (run.stdout ?? '').split(/\r?\n/);
  const jsonStart = stdoutLines.findIndex((line) => line.startsWith('{'));
  if (jsonStart < 0) throw new Error(`tfx extension create printed no result:\n${output}`);
  const created = JSON.parse(stdoutLines.slice(jsonStart).join('\n')) as {
    path: string;
    extensionId: string;
    version: string;
    publisher: string;
  };
  return {
    vsixPath: created.path,
    bytes: fs.statSync(created.path).size,
    stagingDir,
    files,
    publisher: created.publisher,
    extensionId: created.extensionId,
    version: created.version,
  };
}

if (require.main === module) {
  try {
    const result = packageExtension(optionsFromEnvironment());
    const kb = (result.bytes / 1024).toFixed(1);
    console.log(`Packaged ${result.publisher}.${result.extensionId} ${result.version}`);
    console.log(
      `${path.relative(process.cwd(), result.vsixPath) || result.vsixPath} (${kb} KB, ${result.bytes} bytes)`,
    );
    if (result.bytes > MAX_VSIX_BYTES) {
      console.error(`The package is larger than ${MAX_VSIX_BYTES / 1024} KB.`);
      process.exitCode = 1;
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
