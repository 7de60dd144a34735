import { strict as assert } from 'node:assert';
import { TaskFailure, TransientFailure } from '../../src/core/errors';
import {
  backoffDelay,
  isTransientStatus,
  parseRetryAfter,
  withRetry,
  type RetryClock,
  type RetryPolicy,
} from '../../src/core/retry';
import { RecordingLogger } from './fakes';

const POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000, deadlineMs: 10_000 };

/** A clock that sleeps instantly and records the waits. */
function fakeClock(random = 0.5): RetryClock & { waits: number[]; time: number } {
  const clock = {
    time: 0,
    waits: [] as number[],
    now: () => clock.time,
    sleep: async (ms: number) => {
      clock.waits.push(ms);
      clock.time += ms;
    },
    random: () => random,
  };
  return clock;
}

const transient = (reason: string, retryAfterMs?: number) =>
  new TransientFailure(`Something failed (${reason}). Try again.`, reason, retryAfterMs);

describe('retry policy', () => {
  it('retries transient failures with full-jitter exponential backoff and logs one line per retry', async () => {
    const clock = fakeClock(0.5);
    const logger = new RecordingLogger();
    let calls = 0;
    const result = await withRetry(
      'Requesting the idToken',
      async () => {
        calls++;
        if (calls < 3) throw transient('HTTP 503 from Azure DevOps');
        return 'ok';
      },
      POLICY,
      logger,
      clock,
    );
    assert.equal(result, 'ok');
    assert.deepEqual(clock.waits, [50, 100]);
    assert.deepEqual(logger.at('info'), [
      'Requesting the idToken: attempt 1 failed (HTTP 503 from Azure DevOps); retrying in 0.1 s.',
      'Requesting the idToken: attempt 2 failed (HTTP 503 from Azure DevOps); retrying in 0.1 s.',
    ]);
  });

  it('honours Retry-After instead of its own backoff', async () => {
    const clock = fakeClock();
    let calls = 0;
    await withRetry(
      'x',
      async () => {
        if (calls++ === 0) throw transient('HTTP 429', 3000);
        return 1;
      },
      POLICY,
      new RecordingLogger(),
      clock,
    );
    assert.deepEqual(clock.waits, [3000]);
  });

  it('never retries a definitive failure', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        'x',
        async () => {
          calls++;
          throw new TaskFailure('No. Fix it.');
        },
        POLICY,
        new RecordingLogger(),
        fakeClock(),
      ),
      new TaskFailure('No. Fix it.'),
    );
    assert.equal(calls, 1);
  });

  it('gives up after the last attempt, naming the cause and the attempts', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        'x',
        async () => {
          calls++;
          throw transient('ECONNRESET from dev.azure.com');
        },
        POLICY,
        new RecordingLogger(),
        fakeClock(),
      ),
      new TaskFailure(
        'Something failed (ECONNRESET from dev.azure.com). Try again. (gave up after 4 attempts)',
      ),
    );
    assert.equal(calls, 4);
  });

  it('gives up before a wait that would pass the deadline', async () => {
    const clock = fakeClock();
    await assert.rejects(
      withRetry(
        'x',
        async () => {
          clock.time += 4000;
          throw transient('HTTP 503', 5000);
        },
        { ...POLICY, deadlineMs: 6000 },
        new RecordingLogger(),
        clock,
      ),
      new TaskFailure('Something failed (HTTP 503). Try again. (gave up after 1 attempt(s) in 4.0 s)'),
    );
  });

  it('caps the backoff at the maximum delay', () => {
    assert.equal(
      backoffDelay(POLICY, 10, () => 0.999),
      999,
    );
    assert.equal(
      backoffDelay(POLICY, 1, () => 0),
      0,
    );
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-11-23T12:00:00Z');
    assert.equal(parseRetryAfter('2', now), 2000);
    assert.equal(parseRetryAfter('Mon, 23 Nov 2026 12:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Mon, 23 Nov 2026 11:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('treats 408, 429 and 5xx as transient and nothing else', () => {
    assert.deepEqual(
      [200, 203, 302, 400, 401, 403, 404, 408, 429, 500, 503, 599].filter(isTransientStatus),
      [408, 429, 500, 503, 599],
    );
  });
});
