import * as path from 'node:path';
import type { Plugin } from 'esbuild';
import { REPO_ROOT } from './repo-root';

/**
 * Leaves out of the bundles what the task never runs (found with esbuild's metafile, see `npm run bench`):
 * each module below is replaced by a stub from tools/stubs/ that throws a StubbedModuleError, naming
 * the module, as soon as anything uses it. A stub applies only to the importers listed: when another
 * package starts to import the module, the build fails so that someone checks the new use first.
 */
export interface StubbedModule {
  /** The specifier as written in the importer's require()/import. */
  specifier: string;
  /** Importers (path relative to node_modules, forward slashes) allowed to get the stub. */
  importers: RegExp;
  /** For a relative specifier: the package whose files it is stubbed in (elsewhere it names another module). */
  within?: string;
  /** The stub, relative to tools/stubs/. */
  stub: string;
  /** What it weighed (minified, with its own dependencies) when it was left out. */
  why: string;
}

export const STUBBED_MODULES: readonly StubbedModule[] = [
  {
    specifier: 'qs',
    importers: /^typed-rest-client\/Util\.js$/,
    stub: 'qs.ts',
    why: 'typed-rest-client encodes `queryParameters` with it (≈55 KB with side-channel, object-inspect, get-intrinsic); the task never passes any',
  },
  {
    specifier: 'jsonwebtoken',
    importers: /^@azure\/msal-node\/dist\/client\/ClientAssertion\.mjs$/,
    stub: 'jsonwebtoken.ts',
    why: 'MSAL signs certificate assertions with it (≈57 KB with jws, jwa, lodash.*, semver 7); the task passes the idToken as the assertion',
  },
  {
    specifier: 'minimatch',
    importers: /^azure-pipelines-task-lib\/(task|internal)\.js$/,
    stub: 'minimatch.ts',
    why: "task-lib's find/match/filter use it (≈14 KB with brace-expansion); the task searches no files",
  },
  {
    specifier: 'semver',
    importers: /^azure-pipelines-task-lib\/(task|internal)\.js$/,
    stub: 'semver.ts',
    why: 'task-lib only calls semver.lt on plain x.y.z versions (≈18 KB, and ~40 regular expressions built at load); the stub compares those exactly',
  },
  {
    specifier: './toolrunner',
    importers: /^azure-pipelines-task-lib\/task\.js$/,
    within: 'azure-pipelines-task-lib',
    stub: 'toolrunner.ts',
    why: "task-lib's tool/exec use it (≈34 KB with q); the task runs no tools",
  },
];

/**
 * Node built-in modules that a package requires when it loads but the task uses rarely or never: the bundle
 * gives the importer a stand-in that requires the built-in on first use. Loading zlib costs ≈2.5 ms of CPU on
 * Node 24 (0.5 ms on Node 20); typed-rest-client needs it only to gunzip in readBody, which the task never calls
 * (src/core/http.ts reads the response stream itself).
 */
export const LAZY_BUILTINS: readonly { specifier: string; importers: RegExp }[] = [
  { specifier: 'zlib', importers: /^typed-rest-client\/Util\.js$/ },
];

/** The stand-in for a lazily loaded built-in: every property read or `in` check loads it first. */
export function lazyBuiltinSource(specifier: string): string {
  return [
    'let loaded;',
    `const load = () => loaded || (loaded = require(${JSON.stringify(specifier)}));`,
    'module.exports = new Proxy({}, {',
    '  get: (_target, key) => (typeof key === "symbol" || key === "__esModule" ? undefined : load()[key]),',
    '  has: (_target, key) => key in load(),',
    '});',
    '',
  ].join('\n');
}

/**
 * task-lib's own messages whose text can reach the task's log: the ones the task-lib functions the task
 * calls (getInput, getEndpoint*, setVariable, setSecret, the uncaught-exception handler) format with loc().
 * Their translations stay; the translations of every other message (≈59 KB) go. The English text of all
 * messages stays, so a message never turns into its key.
 */
export const LOCALIZED_LIB_MESSAGES = [
  'LIB_EndpointAuthNotExist',
  'LIB_EndpointDataNotExist',
  'LIB_EndpointNotExist',
  'LIB_InputRequired',
  'LIB_InvalidEndpointAuth',
  'LIB_MultilineSecret',
  'LIB_ParameterIsRequired',
  'LIB_UnhandledEx',
] as const;

/**
 * The task-lib members the task's code may use (as `tl.<member>`), each checked to reach none of the stubbed
 * modules and, through loc(), only the messages in {@link LOCALIZED_LIB_MESSAGES}. A unit test fails when
 * src/ uses another one: check it the same way, then add it here.
 */
export const TASK_LIB_MEMBERS_CHECKED = [
  'EndpointAuthorization',
  'TaskResult',
  'command',
  'debug',
  'getEndpointAuthorization',
  'getEndpointAuthorizationScheme',
  'getEndpointDataParameter',
  'getEndpointUrl',
  'getHttpCertConfiguration',
  'getHttpProxyConfiguration',
  'getInput',
  'getTaskVariable',
  'getVariable',
  'prependPath',
  'setResult',
  'setSecret',
  'setTaskVariable',
  'setVariable',
  // Writes ##vso[task.uploadsummary] through task-lib's command(), like prependPath: no stubbed module.
  'uploadSummary',
  'warning',
] as const;

/** The stubs' TypeScript sources (esbuild compiles them into the bundle; this file runs from build/). */
export const STUBS_DIRECTORY = path.join(REPO_ROOT, 'tools', 'stubs');

interface LibResource {
  messages: Record<string, string>;
  localizedMessages?: Record<string, Record<string, string>>;
}

/** task-lib's lib-resource.js data with only the translations of {@link LOCALIZED_LIB_MESSAGES}. */
export function trimLibResource(
  resource: LibResource,
  keep: readonly string[] = LOCALIZED_LIB_MESSAGES,
): LibResource {
  const missing = keep.filter((key) => !(key in resource.messages));
  if (missing.length > 0) {
    throw new Error(
      `azure-pipelines-task-lib/lib-resource.js no longer has the messages ${missing.join(', ')}; review LOCALIZED_LIB_MESSAGES in tools/slim-plugin.ts`,
    );
  }
  const wanted = new Set(keep.map((key) => `loc.messages.${key}`));
  const localizedMessages: Record<string, Record<string, string>> = {};
  for (const [culture, messages] of Object.entries(resource.localizedMessages ?? {})) {
    localizedMessages[culture] = Object.fromEntries(
      Object.entries(messages).filter(([key]) => wanted.has(key)),
    );
  }
  return { messages: resource.messages, localizedMessages };
}

/** The importer's path below its node_modules folder, with forward slashes; undefined outside node_modules. */
export function packagePath(importer: string): string | undefined {
  const normalized = importer.split(path.sep).join('/');
  const at = normalized.lastIndexOf('/node_modules/');
  return at < 0 ? undefined : normalized.slice(at + '/node_modules/'.length);
}

/**
 * The stub for a specifier imported by `importer`, undefined when the module is not stubbed; throws when a
 * stubbed package module is imported from somewhere the stub was not checked for.
 */
export function stubFor(specifier: string, importer: string): string | undefined {
  const from = packagePath(importer);
  const entry = STUBBED_MODULES.find(
    (candidate) =>
      candidate.specifier === specifier &&
      (candidate.within === undefined || (from ?? '').startsWith(`${candidate.within}/`)),
  );
  if (!entry) return undefined;
  if (from !== undefined && entry.importers.test(from)) return path.join(STUBS_DIRECTORY, entry.stub);
  throw new Error(
    `${from ?? importer} imports '${specifier}', which the bundle replaces with tools/stubs/${entry.stub} only for ${entry.importers}. ` +
      'Check whether the task can reach that use; if it can, stop stubbing the module, else add the importer in tools/slim-plugin.ts.',
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export const slimBundle: Plugin = {
  name: 'slim-bundle',
  setup(build) {
    const filter = new RegExp(`^(${STUBBED_MODULES.map((m) => escapeRegExp(m.specifier)).join('|')})$`);
    build.onResolve({ filter }, (args) => {
      const stub = stubFor(args.path, args.importer);
      return stub ? { path: stub } : undefined;
    });
    const lazyFilter = new RegExp(`^(${LAZY_BUILTINS.map((m) => escapeRegExp(m.specifier)).join('|')})$`);
    build.onResolve({ filter: lazyFilter }, (args) => {
      const from = packagePath(args.importer);
      const lazy = LAZY_BUILTINS.find(
        (m) => m.specifier === args.path && from !== undefined && m.importers.test(from),
      );
      return lazy ? { path: lazy.specifier, namespace: 'lazy-builtin' } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: lazyBuiltinSource(args.path),
      loader: 'js',
      resolveDir: STUBS_DIRECTORY,
    }));
    build.onLoad({ filter: /azure-pipelines-task-lib[\\/]lib-resource\.js$/ }, (args) => {
      // lib-resource.js is plain data (`module.exports = {...}`): load it as task-lib would.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const resource = JSON.parse(JSON.stringify(require(args.path))) as LibResource;
      return { contents: `module.exports = ${JSON.stringify(trimLibResource(resource))};\n`, loader: 'js' };
    });
  },
};
