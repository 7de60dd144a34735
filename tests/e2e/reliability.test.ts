import { strict as assert } from 'node:assert';
import type { Emulator, EmulatorConnection } from '../emulator';
import { leaks, type StepResult } from '../harness/agent';
import { ConnectProxy } from '../harness/proxy';
import { EmulatedJob, leakReport, startEmulator } from '../harness/scenario';
import { seeded } from '../harness/seeded';

describe('reliability: faults, timeouts, proxies and private CAs', function () {
  this.timeout(180_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;
  const allSteps: StepResult[] = [];

  before(async () => {
    emulator = await startEmulator();
    connection = emulator.connection();
  });
  after(async () => emulator?.stop());
  afterEach(() => {
    emulator.clearTransientFaults();
    emulator.clearScripts();
    emulator.clearRequests();
  });

  async function run(job: EmulatedJob): Promise<StepResult> {
    const step = await job.runTask();
    allSteps.push(step);
    return step;
  }

  function job(inputs: Record<string, string> = {}, extra: Record<string, string> = {}): EmulatedJob {
    return EmulatedJob.forConnection(emulator, connection, { inputs, extra });
  }

  it('succeeds 100 times out of 100 with a 30% transient fault rate on each endpoint', async () => {
    emulator.setTransientFaults(['oidctoken', 'token'], 0.3, seeded(20261123));
    const results: StepResult[] = [];
    // Four agents at a time, as a busy pool would run them.
    for (let batch = 0; batch < 25; batch++) {
      results.push(...(await Promise.all([0, 1, 2, 3].map(() => run(job())))));
    }
    const failed = results.filter((r) => r.result?.result !== 'Succeeded');
    assert.deepEqual(
      failed.map((r) => r.result?.message),
      [],
    );
    const faulted = emulator.requests.filter((r) => r.scripted || r.status >= 400 || r.status === 0).length;
    assert.ok(faulted > 30, `only ${faulted} faults were injected`);
    assert.ok(
      results.some((r) => r.plainLines.some((line) => /attempt 1 failed \(.*\); retrying in/.test(line))),
    );
  });

  it('fails within the overall timeout, naming the cause, when Azure DevOps keeps answering 503', async () => {
    emulator.failNext('oidctoken', 'serverError', 1000);
    const started = Date.now();
    const step = await run(job({ overallTimeoutSeconds: '4' }));
    const elapsed = Date.now() - started;
    assert.equal(step.result?.result, 'Failed');
    assert.match(
      step.result?.message ?? '',
      new RegExp(
        `^Azure DevOps failed the idToken request for service connection ${connection.id} with HTTP 500: .*\\. Re-run the job; if it persists, check the Azure DevOps status page and report the ids above to support\\. \\(gave up after \\d+ attempt\\(s\\) in \\d\\.\\d s\\)$`,
      ),
    );
    assert.ok(elapsed < 6000, `took ${elapsed} ms`);
  });

  it('fails at once, without retrying, on a definitive answer', async () => {
    emulator.failNext('oidctoken', 'notFound');
    const step = await run(job());
    assert.equal(step.result?.result, 'Failed');
    assert.equal(emulator.count('oidctoken'), 1);
    assert.ok(!step.plainLines.some((line) => line.includes('retrying')));
  });

  it('cuts a hung endpoint at the request timeout and fails within the overall timeout', async () => {
    emulator.failNext('token', 'hang', 100);
    const started = Date.now();
    const step = await run(job({ requestTimeoutSeconds: '1', overallTimeoutSeconds: '3' }));
    const elapsed = Date.now() - started;
    assert.equal(step.result?.result, 'Failed');
    const host = new URL(emulator.url).host;
    assert.match(
      step.result?.message ?? '',
      new RegExp(
        `^${host.replace(/\./g, '\\.')} did not answer within 1 s\\. Check that the service is reachable from the agent, or raise the task's request timeout \\(requestTimeoutSeconds\\)\\. \\(gave up after`,
      ),
    );
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  });

  it('retries a truncated body and a dropped connection', async () => {
    emulator.script('oidctoken', [{ truncate: true }, { drop: true }]);
    const step = await run(job());
    assert.equal(step.result?.result, 'Succeeded', step.stdout);
    assert.equal(emulator.count('oidctoken'), 3);
  });

  for (const preset of ['missingOidcToken', 'pendingJob'] as const) {
    it(`asks Azure DevOps again 2 s after ${preset === 'pendingJob' ? 'a job still pending' : 'an answer without an oidcToken'}, as Microsoft's tasks do`, async () => {
      emulator.failNext('oidctoken', preset);
      const step = await run(job());
      assert.equal(step.result?.result, 'Succeeded', step.stdout);
      assert.equal(emulator.count('oidctoken'), 2);
      const reason =
        preset === 'pendingJob' ? 'the job is still pending (HTTP 400)' : 'an answer without an oidcToken';
      assert.ok(
        step.plainLines.includes(
          `Requesting the idToken from Azure DevOps: attempt 1 failed (${reason}); retrying in 2.0 s.`,
        ),
        step.plainLines.join('\n'),
      );
    });
  }

  it('fetches a fresh idToken when Entra is retried after the first one expired', async () => {
    emulator.setOptions({ idTokenLifetimeSeconds: 30 });
    try {
      emulator.failNext('token', 'serverError');
      const step = await run(job());
      assert.equal(step.result?.result, 'Succeeded', step.stdout);
      // 30 s of life is under the 60 s margin: the retry exchanged a new idToken, not the first.
      assert.equal(emulator.count('oidctoken'), 2);
      const assertions = emulator.requests
        .filter((r) => r.kind === 'token')
        .map((r) => new URLSearchParams(r.body).get('client_assertion'));
      assert.notEqual(assertions[0], assertions[1]);
    } finally {
      emulator.setOptions({ idTokenLifetimeSeconds: 600 });
    }
  });

  it('refuses an oversized response with a clear error', async () => {
    emulator.script('oidctoken', [{ status: 200, body: { oidcToken: 'x'.repeat(1_100_000) } }]);
    const step = await run(job());
    assert.equal(step.result?.result, 'Failed');
    assert.match(
      step.result?.message ?? '',
      /^The response from https:\/\/.* was larger than 1048576 bytes, which no token response is\. Check that no proxy or gateway between the agent and the service rewrites the response\.$/,
    );
  });

  it('fails with a TLS message that says how to configure the CA when the agent lacks it', async () => {
    const step = await run(EmulatedJob.forConnection(emulator, connection, { caFile: undefined }));
    assert.equal(step.result?.result, 'Failed');
    assert.equal(
      step.result?.message,
      `The agent does not trust the TLS certificate of ${new URL(emulator.url).host} (UNABLE_TO_VERIFY_LEAF_SIGNATURE). ` +
        'If the agent reaches it through a TLS-inspecting proxy or it is an Azure DevOps Server with a private CA, configure the agent with that CA ' +
        "(config.sh/config.cmd --sslcacert <file>, which sets Agent.CAInfo) or add the CA to the machine's trust store.",
    );
  });

  describe('behind an HTTP CONNECT proxy', () => {
    it('sends both calls through the agent proxy', async () => {
      const proxy = await ConnectProxy.start();
      try {
        const step = await run(job({}, { AGENT_PROXYURL: proxy.url }));
        assert.equal(step.result?.result, 'Succeeded', step.stdout);
        const target = new URL(emulator.url).host;
        assert.deepEqual(proxy.log, [
          { target, status: 200, authorized: true },
          { target, status: 200, authorized: true },
        ]);
      } finally {
        await proxy.stop();
      }
    });

    it('authenticates to a proxy with the agent proxy credentials', async () => {
      const proxy = await ConnectProxy.start({ username: 'builder', password: 'proxy-pass-0123456789' });
      try {
        const step = await run(
          job(
            {},
            {
              AGENT_PROXYURL: proxy.url,
              AGENT_PROXYUSERNAME: 'builder',
              SECRET_AGENT_PROXYPASSWORD: 'proxy-pass-0123456789',
            },
          ),
        );
        assert.equal(step.result?.result, 'Succeeded', step.stdout);
        assert.equal(proxy.log.filter((e) => e.status === 200 && e.authorized).length, 2);
        // Registered with the agent's masker, and nowhere else in the log.
        assert.ok(step.secrets.includes('proxy-pass-0123456789'));
        assert.deepEqual(leaks(step, ['proxy-pass-0123456789']), []);
      } finally {
        await proxy.stop();
      }
    });

    it('fails clearly when the proxy wants credentials the agent does not have', async () => {
      const proxy = await ConnectProxy.start({ username: 'builder', password: 'proxy-pass-0123456789' });
      try {
        const step = await run(job({}, { AGENT_PROXYURL: proxy.url }));
        assert.equal(step.result?.result, 'Failed');
        assert.equal(
          step.result?.message,
          `The agent's proxy refused to connect to ${new URL(emulator.url).host} because it wants credentials (HTTP 407). ` +
            'Configure the proxy user name and password on the agent (config.sh/config.cmd --proxyusername/--proxypassword).',
        );
      } finally {
        await proxy.stop();
      }
    });

    it('bypasses the proxy for hosts on the agent bypass list', async () => {
      const proxy = await ConnectProxy.start();
      try {
        // Azure DevOps through "localhost" (bypassed), Entra through 127.0.0.1 (proxied).
        const viaLocalhost = emulator.oidcRequestUri.replace('127.0.0.1', 'localhost');
        const step = await run(
          EmulatedJob.forConnection(emulator, connection, {
            oidcRequestUri: viaLocalhost,
            // The job token goes only to the job's own collection, so the agent names it by the same host.
            collectionUri: emulator.collectionUri.replace('127.0.0.1', 'localhost'),
            extra: { AGENT_PROXYURL: proxy.url, AGENT_PROXYBYPASSLIST: JSON.stringify(['localhost']) },
          }),
        );
        assert.equal(step.result?.result, 'Succeeded', step.stdout);
        assert.deepEqual(
          proxy.log.map((e) => e.target),
          [new URL(emulator.url).host],
        );
        assert.equal(emulator.count('oidctoken'), 1);
        assert.equal(emulator.count('token'), 1);
      } finally {
        await proxy.stop();
      }
    });
  });

  it('printed no secret in any run of this suite', () => {
    assert.deepEqual(leakReport(emulator, allSteps), []);
  });
});
