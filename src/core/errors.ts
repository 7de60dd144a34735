import { quoteUntrusted } from './text';

/**
 * Every failure the task, the command and the renewer can name. A TaskFailure's `message` is what is
 * printed: one sentence of cause, one of remedy, never a token. Anything else that is thrown is a bug, and
 * `failureMessage` says so.
 */
export class TaskFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskFailure';
  }
}

/** A failure that may go away on its own (network, timeout, 408, 429, 5xx): worth another attempt (retry.ts). */
export class TransientFailure extends TaskFailure {
  constructor(
    message: string,
    /** One phrase for the retry log line, e.g. "HTTP 503 from dev.azure.com". */
    readonly reason: string,
    /** The service's Retry-After, when it sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransientFailure';
  }
}

/**
 * Azure DevOps refused the job access token itself (401, 403, or a sign-in page): after the task's own
 * request succeeded, this means the job has ended, so whoever keeps renewing stops (renewal.ts).
 */
export class JobTokenRefused extends TaskFailure {
  constructor(message: string) {
    super(message);
    this.name = 'JobTokenRefused';
  }
}

/** A mistake in how azure-wif-token was called (its exit code 2), as opposed to a failure to get a token (1). */
export class UsageError extends TaskFailure {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Where a token-command.json departs from what the task writes (command/config.ts), naming the field; the
 * command and the renewer each turn it into their own message.
 */
export class ConfigProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigProblem';
  }
}

/** The message of whatever was thrown, for a line that quotes it. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A failure message longer than this is cut (after masking): a log line, not a dump. */
const MAX_FAILURE_LENGTH = 4000;

/**
 * The last line the step or the command prints when it stops on `error`: a TaskFailure's own message, or
 * `unexpected`'s wording around what a bug threw. Every registered secret and anything shaped like a token
 * is masked, on one line, with no logging command in it, whatever the error carried.
 */
export function failureMessage(
  error: unknown,
  unexpected: (detail: string) => string,
  secrets: readonly string[],
): string {
  const message = error instanceof TaskFailure ? error.message : unexpected(describeError(error));
  return quoteUntrusted(message, MAX_FAILURE_LENGTH, secrets);
}
