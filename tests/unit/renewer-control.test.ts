import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initialState } from '../../src/core/renewal';
import {
  isAlive,
  renewerEnvironment,
  renewerFiles,
  renewerStatus,
  startRenewer,
  stopRenewer,
} from '../../src/renewer/control';

const JOB_TOKEN = 'job-access-token-value-0123456789';

describe('renewer control', function () {
  this.timeout(20_000);
  let directory: string;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'azure-wif-renewer-'));
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    fs.rmSync(directory, { recursive: true, force: true });
  });

  /** A stand-in renewer: a node process whose command line names `renew` and the work directory, as the real one's does. */
  function fakeRenewer(ignoreSigterm: boolean): Promise<number> {
    const code = ignoreSigterm
      ? "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready')"
      : "setInterval(() => {}, 1000); console.log('ready')";
    const child = spawn(process.execPath, ['-e', code, 'renew', '--dir', directory], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    children.push(child);
    fs.writeFileSync(renewerFiles(directory).pid, `${child.pid}\n`);
    fs.writeFileSync(
      renewerFiles(directory).state,
      JSON.stringify({
        ...initialState(child.pid!, Date.UTC(2026, 11, 6)),
        renewals: 3,
        tokenExpiresAt: '2026-12-06T03:10:00.000Z',
      }),
    );
    return new Promise((resolve) => child.stdout!.once('data', () => resolve(child.pid!)));
  }

  it('passes the renewer only an allow-list of variables, and none that holds a secret', () => {
    const env = renewerEnvironment(
      {
        PATH: '/usr/bin',
        HOME: '/home/vsts',
        VSTS_PROCESS_LOOKUP_ID: 'vsts_1234',
        ENDPOINT_AUTH_SYSTEMVSSCONNECTION: `{"parameters":{"AccessToken":"${JOB_TOKEN}"}}`,
        SYSTEM_ACCESSTOKEN: JOB_TOKEN,
        INPUT_CONNECTEDSERVICENAMEARM: 'c',
        HTTPS_PROXY: `http://user:${JOB_TOKEN}@proxy:8080`,
        NO_PROXY: 'localhost',
      },
      [JOB_TOKEN],
    );
    assert.deepEqual(env, {
      PATH: '/usr/bin',
      HOME: '/home/vsts',
      VSTS_PROCESS_LOOKUP_ID: 'vsts_1234',
      NO_PROXY: 'localhost',
    });
  });

  it('stops a running renewer with SIGTERM and reports what it did', async () => {
    const pid = await fakeRenewer(false);
    const report = await stopRenewer(directory);
    assert.equal(
      report,
      `Stopped the token renewer (pid ${pid}). It made 3 renewals, 0 failed attempts; the last idToken in the file expires 2026-12-06T03:10:00.000Z.`,
    );
    assert.equal(isAlive(pid), false);
  });

  it('kills a renewer that does not stop within the grace period', async () => {
    const pid = await fakeRenewer(true);
    const report = await stopRenewer(directory, 300);
    assert.match(
      report ?? '',
      new RegExp(
        `^Killed the token renewer \\(pid ${pid}\\), which did not stop within 0\\.3 s\\. It made 3 renewals`,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(isAlive(pid), false);
  });

  it('records the pid as it starts the renewer, so a post-job step that comes before the renewer is up still stops it', async () => {
    // A script that never gets as far as writing its own pid file.
    const script = path.join(directory, 'slow-renewer.js');
    fs.writeFileSync(script, 'setInterval(() => {}, 1000);');
    const pid = startRenewer(
      {
        workDirectory: directory,
        configFile: path.join(directory, 'none.json'),
        secrets: { jobAccessToken: JOB_TOKEN },
      },
      script,
    );
    assert.ok(pid);
    assert.equal(fs.readFileSync(renewerFiles(directory).pid, 'utf8'), `${pid}\n`);
    assert.equal(fs.statSync(renewerFiles(directory).pid).mode & 0o777, 0o600);
    assert.equal(await stopRenewer(directory), `Stopped the token renewer (pid ${pid}).`);
    assert.equal(isAlive(pid!), false);
  });

  it('never signals a process that reused the pid and is not the renewer', async () => {
    fs.writeFileSync(renewerFiles(directory).pid, `${process.pid}\n`);
    fs.writeFileSync(
      renewerFiles(directory).state,
      JSON.stringify(initialState(process.pid, Date.UTC(2026, 11, 6))),
    );
    const report = await stopRenewer(directory);
    assert.equal(report, 'The token renewer was no longer running. It made 0 renewals, 0 failed attempts.');
    assert.equal(isAlive(process.pid), true);
  });

  it('reports nothing where no renewer ever ran, and says why in status', async () => {
    assert.equal(await stopRenewer(directory), undefined);
    assert.deepEqual(renewerStatus(directory), {
      running: false,
      text: 'The token renewer is not running: it was not started (the task input renewTokens is false) or could not start.\n',
    });
  });
});
