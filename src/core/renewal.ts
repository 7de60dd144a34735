import { type IdToken } from './idtoken';
import { describeError, JobTokenRefused } from './errors';
import type { IdTokenClaims } from './jwt';

/**
 * The job-wide renewer's decisions, as plain functions and one loop with injected effects: when to renew
 * the federated token file, whether a new token may replace the one in it, when the Azure CLI must sign in
 * again, and the record the post-job step and `azure-wif-token status` report from. src/renewer/process.ts is the
 * process around it.
 */

/**
 * @azure/identity's WorkloadIdentityCredential keeps the file's content for up to 5 minutes before it reads
 * the file again (REFERENCE §4), so a token it read must still be valid 5 minutes later, with 2 minutes
 * left for the request it signs: renew at the latest when the file's token has 5 + 2 minutes left.
 */
export const SDK_REREAD_SECONDS = 300;
export const MIN_LEFT_AFTER_REREAD_SECONDS = 120;
/** For lifetimes under 10 minutes (tests, tightened policies) the same share: renew after 30% of the life. */
export const RENEW_LEAD_SHARE = 0.7;
/** Azure DevOps issues idTokens for 10 minutes (REFERENCE §2); the fallback when a token has no iat. */
export const DEFAULT_LIFETIME_SECONDS = 600;
/**
 * The longest job the renewer serves: longer than any Azure Pipelines job on Microsoft-hosted agents (6 h) and
 * the usual self-hosted timeouts. A backstop only: the post-job step, the end of the agent's worker and Azure
 * DevOps refusing the job token each end it first.
 */
export const MAX_RUN_MS = 48 * 3600_000;
/** Never renew more often than this, whatever a token claims. */
export const MIN_DELAY_MS = 250;
/** After a failed renewal, the wait before the next try doubles up to this. */
export const MAX_FAILURE_DELAY_MS = 60_000;

export function lifetimeSeconds(claims: Pick<IdTokenClaims, 'exp' | 'iat'>): number {
  return claims.iat !== undefined && claims.exp > claims.iat
    ? claims.exp - claims.iat
    : DEFAULT_LIFETIME_SECONDS;
}

/** How long before a token's expiry it is renewed: 7 minutes, or 70% of a shorter life. */
export function renewalLeadSeconds(claims: Pick<IdTokenClaims, 'exp' | 'iat'>): number {
  return Math.min(
    SDK_REREAD_SECONDS + MIN_LEFT_AFTER_REREAD_SECONDS,
    RENEW_LEAD_SHARE * lifetimeSeconds(claims),
  );
}

/**
 * Milliseconds from `nowMs` until a token received at `receivedAtMs` must be renewed. Measured from its
 * arrival on this machine's clock (exp - iat - lead after it), so an agent whose clock is off does not renew
 * late or in a loop.
 */
export function renewalDelayMs(
  claims: Pick<IdTokenClaims, 'exp' | 'iat'>,
  receivedAtMs: number,
  nowMs: number,
): number {
  const dueAfterMs = (lifetimeSeconds(claims) - renewalLeadSeconds(claims)) * 1000;
  return Math.max(MIN_DELAY_MS, Math.round(receivedAtMs + dueAfterMs - nowMs));
}

/** The wait before another try after `failuresInRow` failed renewals: 5% of the life, doubling, capped. */
export function failureDelayMs(failuresInRow: number, claims?: Pick<IdTokenClaims, 'exp' | 'iat'>): number {
  const base = Math.max(MIN_DELAY_MS, (claims ? lifetimeSeconds(claims) : DEFAULT_LIFETIME_SECONDS) * 50);
  return Math.min(MAX_FAILURE_DELAY_MS, base * 2 ** Math.max(0, failuresInRow - 1));
}

/**
 * Whether `candidate` may replace the token in the file: only a token that lasts longer. So the file never
 * goes back to an older token, even when a step's own `azure-wif-token` wrote a newer one meanwhile.
 */
export function isFresher(
  candidate: Pick<IdTokenClaims, 'exp'>,
  current: Pick<IdTokenClaims, 'exp'> | undefined,
): boolean {
  return current === undefined || candidate.exp > current.exp;
}

/** A token as the renewer holds it: its claims and when it arrived (local clock). */
export interface HeldToken {
  claims: Pick<IdTokenClaims, 'exp' | 'iat'>;
  receivedAtMs: number;
}

/**
 * Whether the Azure CLI must sign in again now: `az` keeps the federated token it signed in with and sends
 * it whenever it needs a new access token, so that token must still have its margin (2 minutes, or 20% of a
 * shorter life) left at the next renewal, when the renewer looks again. Microsoft's AzureCLI@2 re-signs
 * every 8 minutes, 2 minutes before the idToken expires (microsoft/azure-pipelines-tasks
 * Tasks/AzureCLIV2/azureclitask.ts, AZ_SESSION_REFRESH_INTERVAL_MS).
 */
export function azureCliSignInDue(signedInWith: HeldToken, nextLookAtMs: number): boolean {
  const lifetime = lifetimeSeconds(signedInWith.claims);
  const expiresAtMs = signedInWith.receivedAtMs + lifetime * 1000;
  const marginMs = Math.min(MIN_LEFT_AFTER_REREAD_SECONDS, 0.2 * lifetime) * 1000;
  return expiresAtMs - nextLookAtMs < marginMs;
}

export type RenewerExitReason = 'stopped' | 'job-token-refused' | 'job-ended' | 'time-limit' | 'error';

/** What the renewer did, as it writes it down after every change (no token in it). */
export interface RenewerState {
  version: 1;
  pid: number;
  startedAt: string;
  renewals: number;
  failures: number;
  lastRenewalAt?: string;
  /** When the idToken in the file expires, as far as the renewer knows. */
  tokenExpiresAt?: string;
  nextRenewalAt?: string;
  lastFailure?: string;
  azureCliSignIns: number;
  azureCliFailures: number;
  exit?: { at: string; reason: RenewerExitReason; message: string };
}

export function initialState(pid: number, startedAtMs: number): RenewerState {
  return {
    version: 1,
    pid,
    startedAt: new Date(startedAtMs).toISOString(),
    renewals: 0,
    failures: 0,
    azureCliSignIns: 0,
    azureCliFailures: 0,
  };
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** One line for the post-job step and `azure-wif-token status`. */
export function summarize(state: RenewerState): string {
  const parts = [`${plural(state.renewals, 'renewal')}, ${plural(state.failures, 'failed attempt')}`];
  if (state.azureCliSignIns > 0 || state.azureCliFailures > 0) {
    parts.push(
      `${plural(state.azureCliSignIns, 'Azure CLI sign-in')}, ${plural(state.azureCliFailures, 'failed Azure CLI sign-in')}`,
    );
  }
  if (state.tokenExpiresAt) parts.push(`the last idToken in the file expires ${state.tokenExpiresAt}`);
  if (state.lastFailure) parts.push(`last failure: ${state.lastFailure}`);
  return parts.join('; ');
}

/** The renewer's effects, injected: the process supplies the real ones, tests fakes. */
export interface RenewerEffects {
  /** A fresh idToken from Azure DevOps, transient failures already retried. */
  fetchIdToken(): Promise<IdToken>;
  /** The token now in the file, or undefined when it is missing or unreadable. */
  readCurrent(): HeldToken | undefined;
  /** Writes the token to the file atomically. */
  write(token: IdToken): void;
  /** Signs the Azure CLI in again from the file; absent when azureCliLogin is off. */
  signInAzureCli?: () => Promise<void>;
  log(message: string): void;
  saveState(state: RenewerState): void;
}

export interface RenewerOptions {
  pid: number;
  startedAtMs: number;
  maxRunMs?: number;
  /** The token the Azure CLI signed in with, when it did. */
  azureCliToken?: HeldToken;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The renewal loop. Timers are the global ones (setTimeout, Date.now), so tests drive it with fake timers.
 * `run()` resolves with the exit it recorded; `stop()` ends it at once from outside (a signal, the watchdog).
 */
export class Renewer {
  readonly state: RenewerState;
  private readonly maxRunMs: number;
  private azureCliToken?: HeldToken;
  private wake?: () => void;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly effects: RenewerEffects,
    private readonly options: RenewerOptions,
  ) {
    this.state = initialState(options.pid, options.startedAtMs);
    this.maxRunMs = options.maxRunMs ?? MAX_RUN_MS;
    this.azureCliToken = options.azureCliToken;
  }

  get stopped(): boolean {
    return this.state.exit !== undefined;
  }

  /** Records why the renewer ends (the first reason wins) and wakes the loop so it returns. */
  stop(reason: RenewerExitReason, message: string): void {
    if (this.stopped) return;
    this.state.exit = { at: iso(Date.now()), reason, message };
    this.state.nextRenewalAt = undefined;
    this.effects.log(`Stopping: ${message}`);
    this.save();
    clearTimeout(this.timer);
    this.wake?.();
  }

  private save(): void {
    try {
      this.effects.saveState(this.state);
    } catch {
      // The directory may be gone (the job ended); the watchdog stops the renewer then.
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  async run(): Promise<NonNullable<RenewerState['exit']>> {
    const current = this.effects.readCurrent();
    this.effects.log(
      current
        ? `Started; the idToken in the file expires ${iso(current.claims.exp * 1000)}.`
        : 'Started; the file holds no readable idToken, so it is renewed at once.',
    );
    if (current) this.state.tokenExpiresAt = iso(current.claims.exp * 1000);
    this.save();
    let failuresInRow = 0;
    while (!this.stopped) {
      const now = Date.now();
      const left = this.options.startedAtMs + this.maxRunMs - now;
      if (left <= 0) {
        this.stop(
          'time-limit',
          `it has run for ${this.maxRunMs / 3600_000} hours, longer than any job it serves.`,
        );
        break;
      }
      const held = this.effects.readCurrent();
      let delay = held ? renewalDelayMs(held.claims, held.receivedAtMs, now) : 0;
      if (failuresInRow > 0) delay = Math.max(delay, failureDelayMs(failuresInRow, held?.claims));
      delay = Math.min(delay, left);
      this.state.nextRenewalAt = iso(now + delay);
      this.save();
      await this.sleep(delay);
      if (this.stopped) break;
      if (Date.now() - this.options.startedAtMs >= this.maxRunMs) continue;
      try {
        const token = await this.effects.fetchIdToken();
        if (this.stopped) break;
        await this.keep(token);
        failuresInRow = 0;
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof JobTokenRefused) {
          this.stop(
            'job-token-refused',
            `Azure DevOps no longer accepts the job access token, so the job has ended. ${error.message}`,
          );
          break;
        }
        failuresInRow++;
        this.state.failures++;
        this.state.lastFailure = describeError(error);
        const held = this.effects.readCurrent();
        this.effects.log(
          `Could not renew the token file: ${describeError(error)} ` +
            `Trying again in ${(failureDelayMs(failuresInRow, held?.claims) / 1000).toFixed(1)} s.`,
        );
        this.save();
      }
    }
    return this.state.exit!;
  }

  /** Puts a fresh token in the file when it lasts longer than the one there, then re-signs az if due. */
  private async keep(token: IdToken): Promise<void> {
    const receivedAtMs = Date.now();
    const current = this.effects.readCurrent();
    const expires = iso(token.claims.exp * 1000);
    let inFile: HeldToken;
    if (isFresher(token.claims, current?.claims)) {
      this.effects.write(token);
      inFile = { claims: token.claims, receivedAtMs };
      this.state.renewals++;
      this.state.lastRenewalAt = iso(receivedAtMs);
      this.state.tokenExpiresAt = expires;
      this.effects.log(
        `Renewed the token file; its idToken expires ${expires}; next renewal ${iso(receivedAtMs + renewalDelayMs(token.claims, receivedAtMs, receivedAtMs))}.`,
      );
    } else {
      inFile = current!;
      this.state.tokenExpiresAt = iso(current!.claims.exp * 1000);
      this.effects.log(
        `Kept the token file: it already holds an idToken that expires later (${this.state.tokenExpiresAt}) than the new one (${expires}).`,
      );
    }
    this.save();
    const signIn = this.effects.signInAzureCli;
    if (!signIn || !this.azureCliToken) return;
    const nextLookAtMs = Date.now() + renewalDelayMs(inFile.claims, inFile.receivedAtMs, Date.now());
    if (!azureCliSignInDue(this.azureCliToken, nextLookAtMs)) return;
    try {
      await signIn();
      if (this.stopped) return;
      this.azureCliToken = inFile;
      this.state.azureCliSignIns++;
      this.effects.log(
        `Signed the Azure CLI in again with the idToken that expires ${iso(inFile.claims.exp * 1000)}.`,
      );
    } catch (error) {
      if (this.stopped) return;
      this.state.azureCliFailures++;
      this.state.lastFailure = describeError(error);
      this.effects.log(
        `Could not sign the Azure CLI in again: ${describeError(error)} Trying again at the next renewal.`,
      );
    }
    this.save();
  }
}
