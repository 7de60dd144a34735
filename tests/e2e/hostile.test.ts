import { strict as assert } from 'node:assert';
import type { Emulator } from '../emulator';
import type { StepResult } from '../harness/agent';
import { EmulatedJob, leakReport, startEmulator } from '../harness/scenario';

const FORGE = '##vso[task.setvariable variable=FORGED;]pwned';
const HOSTILE = `evil%AZP25 %0A\r\n${FORGE}\u0007\u001b[31m`;

/** Commands the task may legitimately write; anything else, or a command not at a line's start, is forged. */
const ALLOWED = new Set([
  'task.debug',
  'task.setsecret',
  'task.setvariable',
  'task.settaskvariable',
  'task.issue',
  'task.complete',
]);

function forgedCommands(step: StepResult): string[] {
  return step.commands
    .filter(
      (c) =>
        !c.line.startsWith('##vso[') ||
        !ALLOWED.has(`${c.area}.${c.event}`) ||
        (c.area === 'task' && c.event === 'setvariable' && c.properties.variable === 'FORGED'),
    )
    .map((c) => c.line);
}

describe('hostile input never becomes a logging command', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  const steps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator();
  });
  after(async () => emulator?.stop());
  afterEach(() => {
    emulator.clearScripts();
    emulator.clearRequests();
  });

  async function run(debug = false, inputs: Record<string, string> = {}): Promise<StepResult> {
    const step = await EmulatedJob.forConnection(emulator, emulator.connection(), {
      debug,
      inputs,
    }).runTask();
    steps.push(step);
    return step;
  }

  for (const debug of [false, true]) {
    const mode = debug ? ' (system.debug=true)' : '';

    it(`quotes claims that carry commands, CR/LF, % and control characters${mode}`, async () => {
      const connection = emulator.connection();
      const token = emulator.mintIdToken(connection, { claims: { sub: `sc://org/proj/${HOSTILE}` } });
      emulator.script('oidctoken', [{ status: 200, body: { oidcToken: token } }]);
      emulator.failNext('token', 700213);
      const step = await run(debug);
      assert.equal(step.result?.result, 'Failed');
      assert.deepEqual(forgedCommands(step), []);
      assert.ok(
        step.plainLines.some((line) =>
          line.startsWith('idToken subject:  sc://org/proj/evil%AZP25 %0A ##vso('),
        ),
      );
    });

    it(`quotes an Azure DevOps error message that carries a command${mode}`, async () => {
      emulator.script('oidctoken', [{ status: 404, body: { message: `No service connection. ${HOSTILE}` } }]);
      const step = await run(debug);
      assert.equal(step.result?.result, 'Failed');
      assert.deepEqual(forgedCommands(step), []);
      assert.match(
        step.result?.message ?? '',
        /No service connection\. evil%AZP25 %0A ##vso\(task\.setvariable/,
      );
    });

    it(`quotes an Entra error description that carries a command${mode}`, async () => {
      emulator.script('token', [
        {
          status: 401,
          body: {
            error: `invalid_client${HOSTILE}`,
            error_description: `AADSTS700213: ${HOSTILE}`,
            error_codes: [700213],
            trace_id: HOSTILE,
          },
        },
      ]);
      const step = await run(debug);
      assert.equal(step.result?.result, 'Failed');
      assert.deepEqual(forgedCommands(step), []);
      assert.ok(!step.result?.message.includes('##vso['));
    });

    it(`quotes a response header that carries a command${mode}`, async () => {
      emulator.script('oidctoken', [
        { status: 403, headers: { 'x-vss-e2eid': FORGE }, body: { message: 'denied' } },
      ]);
      const step = await run(debug);
      assert.equal(step.result?.result, 'Failed');
      assert.deepEqual(forgedCommands(step), []);
    });
  }

  it('fails clearly on a body that is JSON of the wrong shape, once retrying it has not helped', async () => {
    emulator.script('oidctoken', Array(5).fill({ status: 200, body: { oidcToken: 42 } }));
    const step = await run(false, { overallTimeoutSeconds: '3' });
    assert.equal(step.result?.result, 'Failed');
    assert.match(
      step.result?.message ?? '',
      /answered the idToken request for service connection .* without an oidcToken.*\(gave up after 2 attempt\(s\) in 2\.\d s\)$/,
    );
  });

  it('fails clearly on an access token response of the wrong shape', async () => {
    emulator.script('token', [
      { status: 200, body: { token_type: 'Bearer', access_token: 42, expires_in: 'soon' } },
    ]);
    const step = await run();
    assert.equal(step.result?.result, 'Failed');
    assert.equal(
      step.result?.message,
      `Entra ID answered ${emulator.tokenEndpoint(emulator.connection().tenantId)} with a token response whose access_token is not a string. ` +
        'Check that no proxy or gateway between the agent and Entra ID rewrites responses.',
    );
  });

  it('forged no command and printed no secret in any run above', () => {
    assert.deepEqual(steps.flatMap(forgedCommands), []);
    assert.deepEqual(leakReport(emulator, steps), []);
  });
});
