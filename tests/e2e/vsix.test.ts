import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import AdmZip from 'adm-zip';
import { Emulator, type EmulatorConnection } from '../emulator';
import {
  leaks,
  postJobEnvironment,
  runProcess,
  secretsOf,
  taskEnvironment,
  type AgentJob,
  type StepResult,
} from '../harness/agent';
import { EmulatedJob, SUBSCRIPTION_ID } from '../harness/scenario';
import { pngSize } from '../../tools/icons';
import { MAX_VSIX_BYTES, TASK_FOLDER, packageExtension, type PackageResult } from '../../tools/package';
import { REPO_ROOT } from '../../tools/repo-root';

/**
 * The .vsix as the Marketplace receives it: built by the packaging script (the build has already run in
 * `npm test`), unpacked, checked file by file, and its task run from the unpacked folder against the
 * emulator, as an agent runs a task it downloaded.
 */

interface TaskJson {
  execution: Record<string, { target: string }>;
  postjobexecution: Record<string, { target: string }>;
}

function readRepo(file: string): Buffer {
  return fs.readFileSync(path.join(REPO_ROOT, file));
}

/** The handler an agent picks: the highest one it supports (the harness plays agent 4.266.2, which has Node24). */
function pickHandler(section: Record<string, { target: string }>): string {
  for (const handler of ['Node24', 'Node20_1']) if (section[handler]) return section[handler].target;
  throw new Error(`no Node24 or Node20_1 handler in ${JSON.stringify(section)}`);
}

describe('the Marketplace package (.vsix)', function () {
  this.timeout(60_000);
  let workDir: string;
  let result: PackageResult;
  let zip: AdmZip;
  let entries: Map<string, Buffer>;

  before(() => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vsix-test-'));
    result = packageExtension({ outDir: path.join(workDir, 'out') });
    zip = new AdmZip(result.vsixPath);
    entries = new Map(
      zip
        .getEntries()
        .filter((entry) => !entry.isDirectory)
        .map((entry) => [entry.entryName, entry.getData()]),
    );
  });

  after(() => {
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  function text(name: string): string {
    const data = entries.get(name);
    assert.ok(data, `${name} is in the package`);
    return data.toString('utf8');
  }

  it(`is smaller than ${MAX_VSIX_BYTES / 1024} KB`, () => {
    assert.equal(result.bytes, fs.statSync(result.vsixPath).size);
    assert.ok(result.bytes < MAX_VSIX_BYTES, `${result.bytes} bytes`);
  });

  it('holds exactly the task folder, the extension icon, the overview and the manifests', () => {
    const expected = [
      '[Content_Types].xml',
      'extension.vsixmanifest',
      'extension.vsomanifest',
      'overview.md',
      'images/extension-icon.png',
      `${TASK_FOLDER}/task.json`,
      `${TASK_FOLDER}/icon.png`,
      `${TASK_FOLDER}/dist/main.js`,
      `${TASK_FOLDER}/dist/post.js`,
    ];
    // esbuild's licence notices for the bundled packages ship beside the bundles when it writes them.
    for (const bundle of ['main.js', 'post.js']) {
      if (fs.existsSync(path.join(REPO_ROOT, 'dist', `${bundle}.LEGAL.txt`))) {
        expected.push(`${TASK_FOLDER}/dist/${bundle}.LEGAL.txt`);
      }
    }
    assert.deepEqual([...entries.keys()].sort(), expected.sort());
  });

  it('ships the repository task.json, icon and bundles byte for byte', () => {
    for (const file of ['task.json', 'icon.png', 'dist/main.js', 'dist/post.js']) {
      assert.ok(
        entries.get(`${TASK_FOLDER}/${file}`)?.equals(readRepo(file)),
        `${file} differs from the repository's`,
      );
    }
    assert.ok(entries.get('images/extension-icon.png')?.equals(readRepo('images/extension-icon.png')));
    assert.ok(entries.get('overview.md')?.equals(readRepo('overview.md')));
  });

  it('has a 32x32 task icon and a 128x128 extension icon', () => {
    assert.deepEqual(pngSize(entries.get(`${TASK_FOLDER}/icon.png`)!), { width: 32, height: 32 });
    assert.deepEqual(pngSize(entries.get('images/extension-icon.png')!), { width: 128, height: 128 });
  });

  it('contributes one pipeline task whose folder holds task.json', () => {
    const manifest = JSON.parse(text('extension.vsomanifest')) as {
      manifestVersion: number;
      contributions: { type: string; targets: string[]; properties: { name: string } }[];
    };
    assert.equal(manifest.manifestVersion, 1);
    assert.equal(manifest.contributions.length, 1);
    const [task] = manifest.contributions;
    assert.equal(task.type, 'ms.vss-distributed-task.task');
    assert.deepEqual(task.targets, ['ms.vss-distributed-task.tasks']);
    assert.equal(task.properties.name, TASK_FOLDER);
    assert.ok(entries.has(`${task.properties.name}/task.json`));
  });

  it('declares the identity, version, target, icon and overview in extension.vsixmanifest', () => {
    const xml = text('extension.vsixmanifest');
    const { version } = JSON.parse(readRepo('package.json').toString('utf8')) as { version: string };
    const extension = JSON.parse(readRepo('vss-extension.json').toString('utf8')) as {
      id: string;
      publisher: string;
    };
    assert.match(
      xml,
      new RegExp(
        `<Identity [^>]*Id="${extension.id}" Version="${version}" Publisher="${extension.publisher}"`,
      ),
    );
    assert.equal(result.version, version);
    assert.match(xml, /<InstallationTarget Id="Microsoft\.VisualStudio\.Services"\s*\/>/);
    assert.match(xml, /<Categories>Azure Pipelines<\/Categories>/);
    assert.match(xml, /<Icon>images\/extension-icon\.png<\/Icon>/);
    assert.match(xml, /Type="Microsoft\.VisualStudio\.Services\.Content\.Details" [^>]*Path="overview\.md"/);
    assert.doesNotMatch(xml, /<GalleryFlags>[^<]*Public/, 'private unless PUBLIC=true');
  });

  describe('the packaged task, run from the unpacked folder against the emulator', () => {
    let emulator: Emulator;
    let connection: EmulatorConnection;
    let taskDir: string;
    let job: AgentJob;

    before(async () => {
      const extractDir = path.join(workDir, 'extracted');
      zip.extractAllTo(extractDir, true);
      taskDir = path.join(extractDir, TASK_FOLDER);
      emulator = await Emulator.start();
      connection = emulator.options.connections[0];
      const tempDirectory = fs.mkdtempSync(path.join(workDir, 'agent-temp-'));
      job = EmulatedJob.forConnection(emulator, connection, { tempDirectory }).job;
    });

    after(async () => {
      await emulator?.stop();
    });

    it('signs in and exports the identity, then its post-job step removes the token file', async () => {
      const task = JSON.parse(fs.readFileSync(path.join(taskDir, 'task.json'), 'utf8')) as TaskJson;
      const main: StepResult = await runProcess(
        path.join(taskDir, pickHandler(task.execution)),
        taskEnvironment(job),
      );
      assert.equal(main.exitCode, 0, main.stderr);
      assert.equal(main.result?.result, 'Succeeded', main.stdout);
      const variable = (name: string) => main.variables.find((v) => v.name === name && !v.output)?.value;
      assert.equal(variable('ARM_CLIENT_ID'), connection.clientId);
      assert.equal(variable('AZURE_TENANT_ID'), connection.tenantId);
      assert.equal(variable('ARM_SUBSCRIPTION_ID'), SUBSCRIPTION_ID);
      const tokenFile = variable('AZURE_FEDERATED_TOKEN_FILE');
      assert.ok(tokenFile && fs.existsSync(tokenFile), 'the federated token file exists');
      assert.equal(emulator.count('oidctoken'), 1);
      assert.equal(emulator.count('token'), 1);
      const secrets = [
        ...emulator.issuedIdTokens,
        ...emulator.issuedAccessTokens,
        emulator.options.jobAccessToken,
      ];
      assert.deepEqual(leaks(main, [...secrets, ...secretsOf(main)]), []);

      const post = await runProcess(
        path.join(taskDir, pickHandler(task.postjobexecution)),
        postJobEnvironment(job, main),
      );
      assert.equal(post.exitCode, 0, post.stderr);
      assert.equal(fs.existsSync(tokenFile), false, 'the post-job step removed the token file');
    });
  });
});
