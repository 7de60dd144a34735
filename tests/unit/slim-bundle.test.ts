import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  LOCALIZED_LIB_MESSAGES,
  STUBBED_MODULES,
  STUBS_DIRECTORY,
  TASK_LIB_MEMBERS_CHECKED,
  packagePath,
  stubFor,
  LAZY_BUILTINS,
  lazyBuiltinSource,
  trimLibResource,
} from '../../tools/slim-plugin';
import { StubbedModuleError, unusedModule } from '../../tools/stubs/unused';
import {
  CERT_AGENT_OPTIONS,
  SHARED_CONTEXT_AGENT_OPTIONS,
  shareSecureContext,
} from '../../tools/tls-context-plugin';
import { REPO_ROOT } from '../../tools/repo-root';

const NODE_MODULES = path.join(REPO_ROOT, 'node_modules');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('bundle slimming (tools/slim-plugin.ts, tools/stubs)', () => {
  it('stubs a module only for the importers it was checked for', () => {
    const util = path.join(NODE_MODULES, 'typed-rest-client', 'Util.js');
    assert.equal(stubFor('qs', util), path.join(STUBS_DIRECTORY, 'qs.ts'));
    assert.equal(
      stubFor('./toolrunner', path.join(NODE_MODULES, 'azure-pipelines-task-lib', 'task.js')),
      path.join(STUBS_DIRECTORY, 'toolrunner.ts'),
    );
    assert.throws(
      () => stubFor('qs', path.join(NODE_MODULES, 'some-package', 'index.js')),
      /some-package\/index\.js imports 'qs'.*Check whether the task can reach that use/s,
    );
    // Another package's own ./toolrunner is a different module; a module that is not stubbed is left alone.
    assert.equal(stubFor('./toolrunner', path.join(NODE_MODULES, 'other', 'index.js')), undefined);
    assert.equal(stubFor('tunnel', path.join(NODE_MODULES, 'typed-rest-client', 'HttpClient.js')), undefined);
  });

  it('names importers by their path below the innermost node_modules', () => {
    assert.equal(packagePath(path.join('/x', 'node_modules', 'a', 'node_modules', 'b', 'c.js')), 'b/c.js');
    assert.equal(packagePath(path.join('/x', 'src', 'task.ts')), undefined);
  });

  it('has a stub file for every stubbed module, and every importer still imports it', () => {
    for (const entry of STUBBED_MODULES) {
      assert.ok(fs.existsSync(path.join(STUBS_DIRECTORY, entry.stub)), entry.stub);
    }
    const imports = (file: string, specifier: string) =>
      fs.readFileSync(path.join(NODE_MODULES, file), 'utf8').includes(`'${specifier}'`) ||
      fs.readFileSync(path.join(NODE_MODULES, file), 'utf8').includes(`"${specifier}"`);
    assert.ok(imports('typed-rest-client/Util.js', 'qs'));
    assert.ok(imports('@azure/msal-node/dist/client/ClientAssertion.mjs', 'jsonwebtoken'));
    assert.ok(imports('azure-pipelines-task-lib/task.js', 'minimatch'));
    assert.ok(imports('azure-pipelines-task-lib/task.js', './toolrunner'));
    assert.ok(imports('azure-pipelines-task-lib/task.js', 'semver'));
    assert.ok(imports('azure-pipelines-task-lib/internal.js', 'semver'));
  });

  it('loads a lazy built-in on first use only, and typed-rest-client uses zlib only inside a function', () => {
    const loads: string[] = [];
    const fakeZlib = { gunzip: () => 'gunzipped', constants: { Z_OK: 0 } };
    const module = { exports: {} as Record<string, unknown> };
    new Function('require', 'module', lazyBuiltinSource('zlib'))((name: string) => {
      loads.push(name);
      return fakeZlib;
    }, module);
    const lazy = module.exports;
    assert.equal(lazy.__esModule, undefined);
    assert.deepEqual(loads, []);
    assert.equal((lazy.gunzip as () => string)(), 'gunzipped');
    assert.equal('constants' in lazy, true);
    assert.deepEqual(loads, ['zlib']);
    const util = fs.readFileSync(path.join(NODE_MODULES, 'typed-rest-client', 'Util.js'), 'utf8');
    assert.deepEqual(util.match(/\bzlib\.\w+/g), ['zlib.gunzip']);
    assert.deepEqual(
      LAZY_BUILTINS.map((m) => m.specifier),
      ['zlib'],
    );
  });

  it('compares plain versions as semver does, and refuses any other use of semver', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const stub = require(path.join(REPO_ROOT, 'build', 'tools', 'stubs', 'semver')) as Record<
      string,
      unknown
    >;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const real = require('semver') as { lt(a: string, b: string): boolean };
    const lt = stub.lt as (a: unknown, b: unknown) => boolean;
    const versions = [
      '4.2.0',
      '20.20.2',
      '24.22.3',
      '4.10.0',
      '4.2.10',
      '2.104.1',
      '3.220.0',
      '10.0.0',
      '0.0.0',
    ];
    for (const a of versions) for (const b of versions) assert.equal(lt(a, b), real.lt(a, b), `${a} < ${b}`);
    assert.equal(lt(process.versions.node, '4.2.0'), false);
    assert.throws(() => lt('1.2.3-beta.1', '1.2.3'), /The task used semver\.lt\("1\.2\.3-beta\.1"\)/);
    assert.throws(() => lt('v1.2.3', '1.2.3'), StubbedModuleError);
    assert.throws(() => stub.gte, /The task used semver\.gte, which its bundle leaves out/);
    assert.equal('lt' in stub, true);
  });

  it('makes every use of a stubbed module throw an error that names it', () => {
    const stub = unusedModule('example', 'the task never needs it', ['Runner']) as Record<string, unknown>;
    assert.equal(stub.__esModule, undefined);
    assert.equal(typeof stub.Runner, 'function');
    assert.throws(() => (stub.Runner as () => void)(), StubbedModuleError);
    assert.throws(
      () => new (stub.Runner as new () => unknown)(),
      /The task used example\.Runner, which its bundle leaves out because the task never needs it\./,
    );
    assert.throws(() => stub.parse, /The task used example\.parse/);
    assert.throws(() => {
      stub.parse = 1;
    }, StubbedModuleError);
    // The compiled stubs: loading them is free, using them fails loudly.
    for (const [name, member] of [
      ['qs', 'stringify'],
      ['jsonwebtoken', 'sign'],
      ['minimatch', 'Minimatch'],
      ['toolrunner', 'ToolRunner'],
    ]) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const loaded = require(path.join(REPO_ROOT, 'build', 'tools', 'stubs', name)) as Record<
        string,
        unknown
      >;
      assert.throws(() => {
        const used = loaded[member] as () => unknown;
        used();
      }, StubbedModuleError);
    }
  });

  it('keeps every English task-lib message and the translations of the messages the task can show', () => {
    const installed = JSON.parse(
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      JSON.stringify(require('azure-pipelines-task-lib/lib-resource.js')),
    ) as Parameters<typeof trimLibResource>[0];
    const trimmed = trimLibResource(installed);
    assert.deepEqual(trimmed.messages, installed.messages);
    const cultures = Object.keys(installed.localizedMessages ?? {});
    assert.ok(cultures.length > 5);
    assert.deepEqual(Object.keys(trimmed.localizedMessages ?? {}), cultures);
    const german = trimmed.localizedMessages?.['de-DE'] ?? {};
    assert.deepEqual(
      Object.keys(german).sort(),
      LOCALIZED_LIB_MESSAGES.map((key) => `loc.messages.${key}`)
        .filter((key) => key in (installed.localizedMessages?.['de-DE'] ?? {}))
        .sort(),
    );
    assert.throws(
      () => trimLibResource({ messages: {} }, ['LIB_Gone']),
      /no longer has the messages LIB_Gone/,
    );
  });

  it('covers every task-lib member the task uses (a new one must be checked first)', () => {
    const used = new Set<string>();
    for (const file of sourceFiles(path.join(REPO_ROOT, 'src'))) {
      const source = fs.readFileSync(file, 'utf8');
      for (const match of source.matchAll(/from '(azure-pipelines-task-lib[^']*)'/g)) {
        assert.match(
          source,
          /import (type )?\* as tl from 'azure-pipelines-task-lib\/task';/,
          `${path.relative(REPO_ROOT, file)} imports ${match[1]} other than as \`import * as tl from 'azure-pipelines-task-lib/task'\``,
        );
      }
      for (const match of source.matchAll(/\btl\.([A-Za-z_$][\w$]*)/g)) used.add(match[1]);
    }
    const unchecked = [...used].filter(
      (member) => !(TASK_LIB_MEMBERS_CHECKED as readonly string[]).includes(member),
    );
    assert.deepEqual(
      unchecked,
      [],
      'check these task-lib members against tools/slim-plugin.ts, then list them',
    );
  });
});

describe('shared TLS context (tools/tls-context-plugin.ts)', () => {
  it('patches the installed typed-rest-client once', () => {
    const source = fs.readFileSync(require.resolve('typed-rest-client/HttpClient.js'), 'utf8');
    const patched = shareSecureContext(source);
    assert.ok(!patched.includes(CERT_AGENT_OPTIONS));
    assert.equal(patched.split(SHARED_CONTEXT_AGENT_OPTIONS).length - 1, 1);
    assert.match(patched, /function __sharedSecureContext\(client\)/);
  });

  it('fails the build when typed-rest-client no longer has the line', () => {
    assert.throws(() => shareSecureContext('module.exports = {};'), /has 0 copies of the line/);
  });

  it('builds one context from the client’s settings, and none when the settings cannot make one', () => {
    const helper = shareSecureContext(CERT_AGENT_OPTIONS).replace(SHARED_CONTEXT_AGENT_OPTIONS, '');
    const sharedSecureContext = new Function('require', `${helper}; return __sharedSecureContext;`)(
      require,
    ) as (client: object) => { secureContext?: unknown };
    const client = {
      _ca: undefined,
      _cert: undefined,
      _key: undefined,
      _certConfig: { passphrase: undefined },
    };
    const first = sharedSecureContext(client);
    assert.ok(first.secureContext);
    assert.equal(sharedSecureContext(client), first);
    const broken = { _key: 'not a key', _cert: 'not a certificate', _certConfig: {} };
    assert.deepEqual(sharedSecureContext(broken), {});
  });

  describe("the agent's CA bundle: Node's roots, then the agent's CA", () => {
    const roots = ['-----BEGIN CERTIFICATE-----\nROOT1\n-----END CERTIFICATE-----', 'ROOT2'];
    const agentCa = '-----BEGIN CERTIFICATE-----\nAGENT\n-----END CERTIFICATE-----\n';
    const bundle = `${roots.join('\n')}\n${agentCa}`;

    function build(ca: string, env: Record<string, string> = {}, execArgv: string[] = []) {
      const calls: { options: Record<string, unknown>; added: string[] }[] = [];
      const tls = {
        rootCertificates: roots,
        createSecureContext(options: Record<string, unknown>) {
          const call = { options, added: [] as string[] };
          calls.push(call);
          return { context: { addCACert: (pem: string) => call.added.push(pem) } };
        },
      };
      const fakeProcess = { env, execArgv, config: { variables: {} } };
      const helper = shareSecureContext(CERT_AGENT_OPTIONS).replace(SHARED_CONTEXT_AGENT_OPTIONS, '');
      const shared = new Function('require', 'process', `${helper}; return __sharedSecureContext;`)(
        (name: string) => (name === 'tls' ? tls : undefined),
        fakeProcess,
      ) as (client: object) => { secureContext?: unknown };
      shared({ _ca: ca, _cert: 'C', _key: 'K', _certConfig: { passphrase: 'P' } });
      return calls;
    }

    it("adds only the agent's CA to Node's default roots", () => {
      assert.deepEqual(build(bundle), [
        { options: { cert: 'C', key: 'K', passphrase: 'P' }, added: [agentCa] },
      ]);
    });

    it('passes the whole bundle as ca when the default store is not exactly the bundled roots', () => {
      const asBefore = [{ options: { ca: bundle, cert: 'C', key: 'K', passphrase: 'P' }, added: [] }];
      assert.deepEqual(build(bundle, { NODE_EXTRA_CA_CERTS: '/etc/extra.pem' }), asBefore);
      assert.deepEqual(build(bundle, { NODE_OPTIONS: '--max-old-space-size=99 --use-openssl-ca' }), asBefore);
      assert.deepEqual(build(bundle, {}, ['--use-system-ca']), asBefore);
    });

    it('passes a bundle that does not start with the bundled roots as ca', () => {
      const other = `${agentCa}${roots.join('\n')}\n`;
      assert.deepEqual(build(other), [
        { options: { ca: other, cert: 'C', key: 'K', passphrase: 'P' }, added: [] },
      ]);
    });
  });
});
