import { TaskFailure, TransientFailure } from './errors';
import type { Logger } from './logger';

export interface RetryPolicy {
  /** Attempts at most, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Overall time budget for the operation, retries included. */
  deadlineMs: number;
}

export interface RetryClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const systemClock: RetryClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 10,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  deadlineMs: 120_000,
};

/** Exponential backoff with full jitter: a random wait in [0, min(max, base·2^(attempt-1))). */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Statuses that say "not now" rather than "no". */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/** Parses Retry-After: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/**
 * Runs `operation`, retrying TransientFailures within the policy's attempts and deadline. Anything else,
 * a definitive answer, is thrown at once. The last transient failure is reported with the attempts made.
 */
export async function withRetry<T>(
  what: string,
  operation: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  logger: Logger,
  clock: RetryClock = systemClock,
): Promise<T> {
  const started = clock.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!(error instanceof TransientFailure)) throw error;
      const elapsed = clock.now() - started;
      const remaining = policy.deadlineMs - elapsed;
      const wait = error.retryAfterMs ?? backoffDelay(policy, attempt, clock.random);
      if (attempt >= policy.maxAttempts || wait >= remaining) {
        const why =
          attempt >= policy.maxAttempts
            ? `${attempt} attempts`
            : `${attempt} attempt(s) in ${seconds(elapsed)}`;
        throw new TaskFailure(`${error.message} (gave up after ${why})`);
      }
      logger.info(`${what}: attempt ${attempt} failed (${error.reason}); retrying in ${seconds(wait)}.`);
      await clock.sleep(wait);
    }
  }
}
