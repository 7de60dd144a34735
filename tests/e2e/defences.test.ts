import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Emulator, EmulatorConnection } from '../emulator';
import { makeTempDirectory, type StepResult } from '../harness/agent';
import { EmulatedJob, leakReport, startEmulator } from '../harness/scenario';

/** Defences that each had a planted bug go unnoticed once: every one is pinned by a run of the bundle here. */
describe('defences the task keeps, seen from the agent', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;
  const steps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator();
    connection = emulator.options.connections[0];
  });
  after(async () => emulator?.stop());

  async function run(job: EmulatedJob): Promise<StepResult> {
    const step = await job.runTask();
    steps.push(step);
    return step;
  }

  describe('the post-job step deletes only inside Agent.TempDirectory', () => {
    it('leaves a recorded path outside it, or the temp directory itself, and warns', async () => {
      const job = EmulatedJob.forConnection(emulator, connection);
      const main = await run(job);
      assert.equal(main.result?.result, 'Succeeded', main.stdout);
      const outside = makeTempDirectory('azure-wif-victim-');
      fs.writeFileSync(path.join(outside, 'keep.txt'), 'precious');
      const temp = job.job.tempDirectory;
      const sneaky = path.join(temp, '..', path.basename(outside));
      const forged: StepResult = {
        ...main,
        taskVariables: {
          ...main.taskVariables,
          AZUREWIF_CREATED_PATHS: JSON.stringify([outside, sneaky, temp]),
        },
      };
      const post = await job.runPostJob(forged);
      steps.push(post);
      assert.deepEqual(post.warnings, [
        `Did not remove ${outside}: it is not inside Agent.TempDirectory.`,
        `Did not remove ${sneaky}: it is not inside Agent.TempDirectory.`,
        `Did not remove ${temp}: it is not inside Agent.TempDirectory.`,
      ]);
      assert.equal(fs.readFileSync(path.join(outside, 'keep.txt'), 'utf8'), 'precious');
      assert.ok(fs.existsSync(temp));
      fs.rmSync(outside, { recursive: true, force: true });
    });

    it('removes what it recorded inside it', async () => {
      const job = EmulatedJob.forConnection(emulator, connection);
      const main = await run(job);
      const [created] = JSON.parse(main.taskVariables.AZUREWIF_CREATED_PATHS) as string[];
      const post = await job.runPostJob(main);
      steps.push(post);
      assert.deepEqual(post.warnings, []);
      assert.equal(fs.existsSync(created), false);
    });
  });

  describe('timeout inputs are bounded at both ends', () => {
    const message = (name: string, raw: string, max: number, fallback: number) =>
      `The input '${name}' is '${raw}', which is not a whole number of seconds from 1 to ${max}. ` +
      `Set it to such a number, or remove it to use the default of ${fallback}.`;
    const refused: Array<[string, string, number, number]> = [
      ['requestTimeoutSeconds', '0', 600, 30],
      ['requestTimeoutSeconds', '601', 600, 30],
      ['requestTimeoutSeconds', '1.5', 600, 30],
      ['overallTimeoutSeconds', '0', 3600, 120],
      ['overallTimeoutSeconds', '3601', 3600, 120],
    ];
    for (const [name, raw, max, fallback] of refused) {
      it(`refuses ${name}=${raw} before any request`, async () => {
        emulator.clearRequests();
        const step = await run(EmulatedJob.forConnection(emulator, connection, { inputs: { [name]: raw } }));
        assert.equal(step.result?.result, 'Failed');
        assert.equal(step.result?.message, message(name, raw, max, fallback));
        assert.equal(emulator.requests.length, 0);
      });
    }
    it('accepts the edges 1 and 600, and 3600', async () => {
      for (const inputs of [
        { requestTimeoutSeconds: '1', overallTimeoutSeconds: '3600' },
        { requestTimeoutSeconds: '600', overallTimeoutSeconds: '1' },
      ]) {
        const step = await run(EmulatedJob.forConnection(emulator, connection, { inputs }));
        assert.equal(step.result?.result, 'Succeeded', step.stdout);
      }
    });
  });

  describe('logging-command escaping', () => {
    it('round-trips a temp directory holding %, ;, ], CR, LF and a literal %AZP25 in every path it reports', async () => {
      const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'azure-wif-%AZP25 a%b;c]d\re\nf%0A-'));
      const job = EmulatedJob.forConnection(emulator, connection, { tempDirectory: temp });
      const step = await run(job);
      assert.equal(step.result?.result, 'Succeeded', step.stdout);
      const tokenFile = step.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')!.value;
      assert.equal(path.dirname(path.dirname(tokenFile)), temp);
      assert.equal(fs.readFileSync(tokenFile, 'utf8'), emulator.issuedIdTokens.at(-1));
      const [created] = JSON.parse(step.taskVariables.AZUREWIF_CREATED_PATHS) as string[];
      assert.equal(created, path.dirname(tokenFile));
      assert.deepEqual(step.prependedPaths, [path.join(created, 'bin')]);
      assert.ok(fs.existsSync(path.join(created, 'bin', 'azure-wif-token')));
      const post = await job.runPostJob(step);
      steps.push(post);
      assert.deepEqual(post.warnings, []);
      assert.equal(fs.existsSync(created), false);
      fs.rmSync(temp, { recursive: true, force: true });
    });
  });

  describe("the job access token goes only to the job's collection", () => {
    it('refuses a System.OidcRequestUri on another host before any request', async () => {
      emulator.clearRequests();
      const elsewhere = emulator.oidcRequestUri.replace('127.0.0.1', 'localhost');
      const step = await run(EmulatedJob.forConnection(emulator, connection, { oidcRequestUri: elsewhere }));
      assert.equal(step.result?.result, 'Failed');
      assert.equal(
        step.result?.message,
        `The task will not send the job access token to '${elsewhere}': it is not under the job's collection '${emulator.collectionUri}'. ` +
          'Run the task on an agent of the Azure DevOps organization or collection the job belongs to, and do not override System.OidcRequestUri or System.CollectionUri.',
      );
      assert.equal(emulator.requests.length, 0);
    });
  });

  describe('the Azure CLI sign-in', () => {
    /** A stand-in az, first on PATH: records each call's argv, what an @file argument holds, and its proxy env. */
    function azStub(): { directory: string; log: string } {
      const directory = makeTempDirectory('azure-wif-az-stub-');
      const log = path.join(directory, 'calls.log');
      fs.writeFileSync(
        path.join(directory, 'az'),
        [
          '#!/bin/sh',
          `log='${log}'`,
          'printf "call" >> "$log"',
          'for arg in "$@"; do',
          '  printf " [%s]" "$arg" >> "$log"',
          '  case "$arg" in @*) printf " {%s}" "$(cat "${arg#@}")" >> "$log" ;; esac',
          'done',
          'printf " HTTPS_PROXY=%s NO_PROXY=%s\\n" "$HTTPS_PROXY" "$NO_PROXY" >> "$log"',
          `env >> '${log}.env'`,
          '',
        ].join('\n'),
        { mode: 0o700 },
      );
      return { directory, log };
    }

    it('hands az the agent proxy with its credentials encoded, and the bypass list as NO_PROXY', async function () {
      if (process.platform === 'win32') this.skip();
      const { directory, log } = azStub();
      const job = EmulatedJob.forConnection(emulator, connection, {
        inputs: { azureCliLogin: 'true' },
        extra: {
          PATH: `${directory}${path.delimiter}${process.env.PATH ?? ''}`,
          AGENT_PROXYURL: 'http://proxy.corp.example:3128',
          AGENT_PROXYUSERNAME: 'builder',
          SECRET_AGENT_PROXYPASSWORD: 'p@ss/w#rd',
          // The task's own requests bypass the (unreachable) proxy; az is only recorded.
          AGENT_PROXYBYPASSLIST: JSON.stringify([
            '127\\.0\\.0\\.1',
            '.*\\.corp\\.example',
            '(a|b)\\.example',
          ]),
        },
      });
      const step = await run(job);
      assert.equal(step.result?.result, 'Succeeded', step.stdout);
      const calls = fs.readFileSync(log, 'utf8').trim().split('\n');
      assert.ok(calls.length >= 3);
      for (const call of calls) {
        assert.ok(
          call.endsWith(
            ' HTTPS_PROXY=http://builder:p%40ss%2Fw%23rd@proxy.corp.example:3128/ NO_PROXY=127.0.0.1,.corp.example',
          ),
          call,
        );
      }
      assert.ok(
        step.plainLines.includes(
          "The Azure CLI goes through the agent's proxy even for (a|b)\\.example: those bypass-list entries are expressions no NO_PROXY host name can express.",
        ),
        step.stdout,
      );
      assert.ok(step.secrets.includes('p@ss/w#rd'));
      fs.rmSync(directory, { recursive: true, force: true });
    });

    it('never puts the idToken in any az argv, nor a token in its environment: az reads the token file', async function () {
      if (process.platform === 'win32') this.skip();
      const { directory: stub, log } = azStub();
      const job = EmulatedJob.forConnection(emulator, connection, {
        inputs: { azureCliLogin: 'true' },
        extra: { PATH: `${stub}${path.delimiter}${process.env.PATH ?? ''}` },
      });
      const step = await run(job);
      assert.equal(step.result?.result, 'Succeeded', step.stdout);
      const tokenFile = step.variables.find((v) => v.name === 'AZURE_FEDERATED_TOKEN_FILE')!.value;
      const idToken = emulator.issuedIdTokens.at(-1)!;
      const calls = fs.readFileSync(log, 'utf8').trim().split('\n');
      const login = calls.find((call) => call.startsWith('call [login]'))!;
      assert.ok(login.includes(` [--federated-token] [@${tokenFile}] {${idToken}} `), login);
      // The token appears only as what the file holds ({…}), never as an argument ([…]).
      for (const call of calls) {
        for (const token of emulator.issuedIdTokens) assert.ok(!call.includes(`[${token}]`), call);
        assert.ok(!call.replace(/\{[^}]*\}/g, '').includes('eyJ'), call);
      }
      const env = fs.readFileSync(`${log}.env`, 'utf8');
      for (const secret of [...emulator.issuedIdTokens, emulator.options.jobAccessToken!]) {
        assert.ok(!env.includes(secret), 'a token reached az through its environment');
      }
      fs.rmSync(stub, { recursive: true, force: true });
    });
  });

  it('printed no secret in any run above', () => {
    assert.deepEqual(leakReport(emulator, steps), []);
  });
});
