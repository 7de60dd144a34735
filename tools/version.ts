import { deepStrictEqual } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './repo-root';

export { REPO_ROOT };

/**
 * One version, four places: package.json (and package-lock.json), task.json's Major/Minor/Patch, and
 * vss-extension.json. `npm run version:bump -- <major|minor|patch|x.y.z>` moves them together.
 * The agent caches a task by its task.json version, so every release must raise it, and the Marketplace
 * refuses an extension version it already has: the two move in step.
 */

export const VERSION_FILES = [
  'package.json',
  'package-lock.json',
  'task.json',
  'vss-extension.json',
] as const;

const PLAIN_VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

export function parseVersion(text: string): Version | undefined {
  const match = PLAIN_VERSION.exec(text);
  return match ? { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) } : undefined;
}

export function formatVersion(version: Version): string {
  return `${version.major}.${version.minor}.${version.patch}`;
}

function compare(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function show(value: unknown): string {
  return value === undefined ? 'missing' : JSON.stringify(value);
}

/** task.json's version as text, or a description of what is wrong with it. */
function taskVersion(taskJson: unknown): { version?: string; problems: string[] } {
  const version = field(taskJson, 'version');
  const problems: string[] = [];
  const parts: number[] = [];
  for (const key of ['Major', 'Minor', 'Patch']) {
    const part = field(version, key);
    if (typeof part !== 'number' || !Number.isInteger(part) || part < 0) {
      problems.push(`task.json: version.${key} must be a non-negative integer, not ${show(part)}`);
    } else {
      parts.push(part);
    }
  }
  return problems.length > 0 ? { problems } : { version: parts.join('.'), problems };
}

/**
 * Where the manifests disagree about the version (empty when they agree). package.json is the reference;
 * package-lock.json is checked when given.
 */
export function versionDisagreements(
  packageJson: unknown,
  taskJson: unknown,
  extensionJson: unknown,
  packageLockJson?: unknown,
): string[] {
  const problems: string[] = [];
  const reference = field(packageJson, 'version');
  if (typeof reference !== 'string' || !parseVersion(reference)) {
    problems.push(
      `package.json: version ${show(reference)} is not a plain major.minor.patch version, which task.json could not express`,
    );
    return problems;
  }
  const task = taskVersion(taskJson);
  problems.push(...task.problems);
  if (task.version !== undefined && task.version !== reference) {
    problems.push(`task.json: version is ${task.version}, package.json says ${reference}`);
  }
  const extension = field(extensionJson, 'version');
  if (extension !== reference) {
    problems.push(`vss-extension.json: version is ${show(extension)}, package.json says ${reference}`);
  }
  if (packageLockJson !== undefined) {
    const lock = field(packageLockJson, 'version');
    if (lock !== reference) {
      problems.push(`package-lock.json: version is ${show(lock)}, package.json says ${reference}`);
    }
    const rootPackage = field(field(packageLockJson, 'packages'), '');
    if (rootPackage !== undefined && field(rootPackage, 'version') !== reference) {
      problems.push(
        `package-lock.json: packages[""].version is ${show(field(rootPackage, 'version'))}, package.json says ${reference}`,
      );
    }
  }
  return problems;
}

export type Bump = 'major' | 'minor' | 'patch';

/** The next version: a bump of the current one, or an explicit x.y.z that must be higher. */
export function nextVersion(current: string, request: string): string {
  const from = parseVersion(current);
  if (!from) throw new Error(`The current version '${current}' is not a plain major.minor.patch version`);
  if (request === 'major') return formatVersion({ major: from.major + 1, minor: 0, patch: 0 });
  if (request === 'minor') return formatVersion({ major: from.major, minor: from.minor + 1, patch: 0 });
  if (request === 'patch') return formatVersion({ ...from, patch: from.patch + 1 });
  const to = parseVersion(request);
  if (!to) throw new Error(`Expected major, minor, patch or a version such as 1.2.3, not '${request}'`);
  if (compare(to, from) <= 0) {
    throw new Error(
      `${request} is not higher than the current version ${current}: agents would keep their cached copy of the task`,
    );
  }
  return request;
}

/**
 * Applies `edit` to the parsed JSON and `rewrite` to the text, and checks that both agree: the text keeps
 * its formatting (prettier's, not JSON.stringify's) and no other value can change by accident.
 */
function rewriteJson(
  file: string,
  text: string,
  edit: (json: Record<string, unknown>) => void,
  rewrite: (text: string) => string,
) {
  const expected = JSON.parse(text) as Record<string, unknown>;
  edit(expected);
  const result = rewrite(text);
  try {
    deepStrictEqual(JSON.parse(result), expected);
  } catch {
    throw new Error(
      `Could not update the version in ${file} without touching anything else; edit it by hand`,
    );
  }
  return result;
}

function replaceOnce(
  text: string,
  pattern: RegExp,
  replacement: (match: string, ...groups: string[]) => string,
): string {
  let count = 0;
  const result = text.replace(pattern, (match: string, ...groups: string[]) => {
    count += 1;
    return replacement(match, ...groups);
  });
  return count === 1 ? result : text;
}

/** The four files' new text for `version` (only files that exist under root). */
export function rewriteVersions(root: string, version: string): Map<string, string> {
  const parsed = parseVersion(version);
  if (!parsed) throw new Error(`'${version}' is not a plain major.minor.patch version`);
  const updates = new Map<string, string>();
  const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
  const topLevelVersion = /("version"\s*:\s*)"[^"]*"/;

  for (const file of ['package.json', 'vss-extension.json']) {
    updates.set(
      file,
      rewriteJson(
        file,
        read(file),
        (json) => (json.version = version),
        (text) => replaceOnce(text, topLevelVersion, (_m, key) => `${key}"${version}"`),
      ),
    );
  }

  if (fs.existsSync(path.join(root, 'package-lock.json'))) {
    updates.set(
      'package-lock.json',
      rewriteJson(
        'package-lock.json',
        read('package-lock.json'),
        (json) => {
          json.version = version;
          const rootPackage = field(json.packages, '') as Record<string, unknown> | undefined;
          if (rootPackage) rootPackage.version = version;
        },
        (text) =>
          replaceOnce(
            replaceOnce(text, topLevelVersion, (_m, key) => `${key}"${version}"`),
            /("packages"\s*:\s*\{\s*""\s*:\s*\{[^{}]*?"version"\s*:\s*)"[^"]*"/,
            (_m, key) => `${key}"${version}"`,
          ),
      ),
    );
  }

  updates.set(
    'task.json',
    rewriteJson(
      'task.json',
      read('task.json'),
      (json) => (json.version = { Major: parsed.major, Minor: parsed.minor, Patch: parsed.patch }),
      (text) =>
        replaceOnce(text, /"version"\s*:\s*\{[^{}]*\}/, (block) =>
          block
            .replace(/("Major"\s*:\s*)\d+/, `$1${parsed.major}`)
            .replace(/("Minor"\s*:\s*)\d+/, `$1${parsed.minor}`)
            .replace(/("Patch"\s*:\s*)\d+/, `$1${parsed.patch}`),
        ),
    ),
  );
  return updates;
}

export function readManifests(root: string): Record<(typeof VERSION_FILES)[number], unknown> {
  const read = (file: string) =>
    fs.existsSync(path.join(root, file))
      ? (JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as unknown)
      : undefined;
  return {
    'package.json': read('package.json'),
    'package-lock.json': read('package-lock.json'),
    'task.json': read('task.json'),
    'vss-extension.json': read('vss-extension.json'),
  };
}

/** Bumps every file under root; returns the old and new versions. */
export function bumpVersion(root: string, request: string): { from: string; to: string } {
  const manifests = readManifests(root);
  const from = String(field(manifests['package.json'], 'version'));
  const disagreements = versionDisagreements(
    manifests['package.json'],
    manifests['task.json'],
    manifests['vss-extension.json'],
    manifests['package-lock.json'],
  );
  if (disagreements.length > 0 && parseVersion(request) === undefined) {
    throw new Error(
      `The versions disagree, so '${request}' is ambiguous; pass the version to set, e.g. 1.2.3:\n  ${disagreements.join('\n  ')}`,
    );
  }
  const to = disagreements.length > 0 ? request : nextVersion(from, request);
  const updates = rewriteVersions(root, to);
  for (const [file, text] of updates) fs.writeFileSync(path.join(root, file), text);
  return { from, to };
}

if (require.main === module) {
  const request = process.argv[2];
  if (!request || process.argv.length > 3) {
    console.error('Usage: npm run version:bump -- <major|minor|patch|x.y.z>');
    process.exitCode = 2;
  } else {
    try {
      const { from, to } = bumpVersion(REPO_ROOT, request);
      console.log(`Version ${from} -> ${to} in ${VERSION_FILES.join(', ')}.`);
      console.log('Run `npm run package` to build the .vsix with it (the bundle embeds the task version).');
    } catch (error) {
      console.error(error instanceof Error ? error.message : String(error));
      process.exitCode = 1;
    }
  }
}
