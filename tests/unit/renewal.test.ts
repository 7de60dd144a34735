import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { JobTokenRefused, TaskFailure } from '../../src/core/errors';
import { type IdToken } from '../../src/core/idtoken';
import {
  MAX_FAILURE_DELAY_MS,
  MIN_DELAY_MS,
  Renewer,
  azureCliSignInDue,
  failureDelayMs,
  isFresher,
  renewalDelayMs,
  renewalLeadSeconds,
  summarize,
  type HeldToken,
  type RenewerEffects,
  type RenewerState,
} from '../../src/core/renewal';

const T0 = Date.UTC(2026, 11, 6, 3, 0, 0);

function token(iatMs: number, lifetimeSeconds: number, serial: number): IdToken {
  const iat = Math.floor(iatMs / 1000);
  return {
    token: `header.payload-${serial}.signature-${serial}`,
    claims: {
      iss: 'https://issuer',
      sub: 'sc://o/p/c',
      aud: ['api://AzureADTokenExchange'],
      iat,
      exp: iat + lifetimeSeconds,
    },
  };
}

/** The token file and the service, in memory; every effect recorded. */
class FakeJob implements RenewerEffects {
  file?: { token: IdToken; writtenAt: number };
  issued: IdToken[] = [];
  lines: string[] = [];
  states: RenewerState[] = [];
  fetches = 0;
  azureCliSignIns = 0;
  /** Scripted outcomes of the next fetches; a fresh token when empty. */
  script: Array<Error> = [];
  azureCliScript: Array<Error> = [];
  signInAzureCli?: () => Promise<void>;

  constructor(
    readonly lifetimeSeconds: number,
    withAzureCli = false,
  ) {
    const first = this.mint();
    this.file = { token: first, writtenAt: Date.now() };
    if (withAzureCli) {
      this.signInAzureCli = async () => {
        const failure = this.azureCliScript.shift();
        if (failure) throw failure;
        this.azureCliSignIns++;
      };
    }
  }

  mint(): IdToken {
    const t = token(Date.now(), this.lifetimeSeconds, this.issued.length);
    this.issued.push(t);
    return t;
  }

  async fetchIdToken(): Promise<IdToken> {
    this.fetches++;
    const failure = this.script.shift();
    if (failure) throw failure;
    return this.mint();
  }
  readCurrent(): HeldToken | undefined {
    return this.file && { claims: this.file.token.claims, receivedAtMs: this.file.writtenAt };
  }
  write(t: IdToken): void {
    this.file = { token: t, writtenAt: Date.now() };
  }
  log(message: string): void {
    this.lines.push(message);
  }
  saveState(state: RenewerState): void {
    this.states.push(JSON.parse(JSON.stringify(state)) as RenewerState);
  }
}

describe('renewal schedule', () => {
  it('renews a 10-minute idToken 3 minutes after it arrived, so an SDK that read it just before still has 2 minutes after its 5-minute cache', () => {
    const claims = { iat: 1000, exp: 1600 };
    assert.equal(renewalLeadSeconds(claims), 420);
    assert.equal(renewalDelayMs(claims, T0, T0), 180_000);
    assert.equal(renewalDelayMs(claims, T0, T0 + 100_000), 80_000);
  });

  it('keeps the same 7-minute lead for longer lifetimes and 70% of the life for shorter ones', () => {
    assert.equal(renewalLeadSeconds({ iat: 0, exp: 3600 }), 420);
    assert.equal(renewalDelayMs({ iat: 0, exp: 3600 }, T0, T0), 3_180_000);
    assert.ok(Math.abs(renewalLeadSeconds({ iat: 0, exp: 6 }) - 4.2) < 1e-9);
    assert.equal(renewalDelayMs({ iat: 0, exp: 6 }, T0, T0), 1800);
  });

  it('takes 10 minutes for a token without iat, and never schedules sooner than the floor', () => {
    assert.equal(renewalDelayMs({ exp: 5000 }, T0, T0), 180_000);
    assert.equal(renewalDelayMs({ iat: 0, exp: 600 }, T0, T0 + 3_600_000), MIN_DELAY_MS);
  });

  it('measures from arrival on the local clock, so a skewed agent clock does not shift it', () => {
    // exp/iat an hour "in the past" by this machine's clock: the schedule is the same.
    const claims = { iat: Math.floor(T0 / 1000) - 3600, exp: Math.floor(T0 / 1000) - 3000 };
    assert.equal(renewalDelayMs(claims, T0, T0), 180_000);
  });

  it('backs off after failed renewals: 5% of the life, doubling, capped at a minute', () => {
    const claims = { iat: 0, exp: 600 };
    assert.deepEqual(
      [1, 2, 3].map((n) => failureDelayMs(n, claims)),
      [30_000, 60_000, MAX_FAILURE_DELAY_MS],
    );
    assert.deepEqual(
      [1, 2, 3].map((n) => failureDelayMs(n, { iat: 0, exp: 6 })),
      [300, 600, 1200],
    );
  });

  it('replaces the file only with a token that lasts longer', () => {
    assert.equal(isFresher({ exp: 10 }, undefined), true);
    assert.equal(isFresher({ exp: 11 }, { exp: 10 }), true);
    assert.equal(isFresher({ exp: 10 }, { exp: 10 }), false);
    assert.equal(isFresher({ exp: 9 }, { exp: 10 }), false);
  });

  it('signs the Azure CLI in again only when its token would have under 2 minutes left at the next look', () => {
    const signedIn = { claims: { iat: 0, exp: 600 }, receivedAtMs: T0 };
    assert.equal(azureCliSignInDue(signedIn, T0 + 360_000), false);
    assert.equal(azureCliSignInDue(signedIn, T0 + 480_000), false);
    assert.equal(azureCliSignInDue(signedIn, T0 + 480_001), true);
    // Short lifetimes: 20% of the life.
    assert.equal(azureCliSignInDue({ claims: { iat: 0, exp: 10 }, receivedAtMs: T0 }, T0 + 7_900), false);
    assert.equal(azureCliSignInDue({ claims: { iat: 0, exp: 10 }, receivedAtMs: T0 }, T0 + 8_100), true);
  });

  it('summarizes the record in one line', () => {
    const state: RenewerState = {
      version: 1,
      pid: 42,
      startedAt: '2026-12-06T03:00:00.000Z',
      renewals: 1,
      failures: 2,
      azureCliSignIns: 0,
      azureCliFailures: 0,
      tokenExpiresAt: '2026-12-06T03:13:00.000Z',
    };
    assert.equal(
      summarize(state),
      '1 renewal, 2 failed attempts; the last idToken in the file expires 2026-12-06T03:13:00.000Z',
    );
    assert.equal(
      summarize({
        ...state,
        renewals: 3,
        failures: 1,
        azureCliSignIns: 1,
        azureCliFailures: 0,
        lastFailure: 'HTTP 500.',
      }),
      '3 renewals, 1 failed attempt; 1 Azure CLI sign-in, 0 failed Azure CLI sign-ins; the last idToken in the file expires 2026-12-06T03:13:00.000Z; last failure: HTTP 500.',
    );
  });
});

describe('renewal loop', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => clock.restore());

  it('renews at the scheduled time, every time, and records each renewal', async () => {
    const job = new FakeJob(600);
    const renewer = new Renewer(job, { pid: 7, startedAtMs: T0 });
    const done = renewer.run();
    await clock.tickAsync(179_999);
    assert.equal(job.fetches, 0);
    await clock.tickAsync(1);
    assert.equal(job.fetches, 1);
    assert.equal(job.file!.token, job.issued[1]);
    await clock.tickAsync(180_000 * 4);
    assert.equal(job.fetches, 5);
    assert.equal(renewer.state.renewals, 5);
    assert.equal(renewer.state.tokenExpiresAt, new Date(T0 + 900_000 + 600_000).toISOString());
    assert.equal(renewer.state.nextRenewalAt, new Date(T0 + 1_080_000).toISOString());
    renewer.stop('stopped', 'it received SIGTERM.');
    assert.deepEqual((await done).reason, 'stopped');
    assert.equal(
      job.lines[0],
      `Started; the idToken in the file expires ${new Date(T0 + 600_000).toISOString()}.`,
    );
    assert.equal(
      job.lines[1],
      `Renewed the token file; its idToken expires ${new Date(T0 + 780_000).toISOString()}; next renewal ${new Date(T0 + 360_000).toISOString()}.`,
    );
  });

  it('never writes a token older than the one in the file', async () => {
    const job = new FakeJob(600);
    const renewer = new Renewer(job, { pid: 7, startedAtMs: T0 });
    void renewer.run();
    // A step's own azure-wif-token wrote a longer-lived token meanwhile.
    const longer = token(T0 + 170_000, 3600, 99);
    job.file = { token: longer, writtenAt: T0 };
    await clock.tickAsync(180_000);
    assert.equal(job.fetches, 1);
    assert.equal(job.file.token, longer);
    assert.equal(renewer.state.renewals, 0);
    assert.match(job.lines.at(-1)!, /^Kept the token file: it already holds an idToken that expires later/);
    renewer.stop('stopped', 'done.');
  });

  it('after a failed renewal keeps the old token, logs why, and tries again after the back-off', async () => {
    const job = new FakeJob(600);
    job.script.push(
      new TaskFailure('Azure DevOps failed the idToken request with HTTP 500. (gave up after 10 attempts)'),
    );
    const renewer = new Renewer(job, { pid: 7, startedAtMs: T0 });
    void renewer.run();
    await clock.tickAsync(180_000);
    assert.equal(job.fetches, 1);
    assert.equal(job.file!.token, job.issued[0]);
    assert.equal(renewer.state.failures, 1);
    assert.equal(
      job.lines.at(-1),
      'Could not renew the token file: Azure DevOps failed the idToken request with HTTP 500. (gave up after 10 attempts) Trying again in 30.0 s.',
    );
    await clock.tickAsync(29_999);
    assert.equal(job.fetches, 1);
    await clock.tickAsync(1);
    assert.equal(job.fetches, 2);
    assert.equal(renewer.state.renewals, 1);
    assert.equal(job.file!.token, job.issued[1]);
    renewer.stop('stopped', 'done.');
  });

  it('exits when Azure DevOps refuses the job access token, and renews no more', async () => {
    const job = new FakeJob(600);
    job.script.push(new JobTokenRefused('Azure DevOps did not accept the job access token (HTTP 401).'));
    const renewer = new Renewer(job, { pid: 7, startedAtMs: T0 });
    const done = renewer.run();
    await clock.tickAsync(180_000);
    const exit = await done;
    assert.equal(exit.reason, 'job-token-refused');
    assert.equal(
      exit.message,
      'Azure DevOps no longer accepts the job access token, so the job has ended. Azure DevOps did not accept the job access token (HTTP 401).',
    );
    await clock.tickAsync(3_600_000);
    assert.equal(job.fetches, 1);
    assert.equal(job.states.at(-1)!.exit?.reason, 'job-token-refused');
  });

  it('exits after its maximum run time', async () => {
    const job = new FakeJob(600);
    const renewer = new Renewer(job, { pid: 7, startedAtMs: T0, maxRunMs: 3_600_000 });
    const done = renewer.run();
    await clock.tickAsync(3_600_000);
    const exit = await done;
    assert.equal(exit.reason, 'time-limit');
    assert.equal(exit.message, 'it has run for 1 hours, longer than any job it serves.');
    assert.equal(job.fetches, 19);
  });

  it('stops at once while it waits', async () => {
    const job = new FakeJob(600);
    const renewer = new Renewer(job, { pid: 7, startedAtMs: T0 });
    const done = renewer.run();
    await clock.tickAsync(1000);
    renewer.stop('stopped', 'it received SIGTERM (the post-job step stops it).');
    const exit = await done;
    assert.deepEqual(exit, {
      at: new Date(T0 + 1000).toISOString(),
      reason: 'stopped',
      message: 'it received SIGTERM (the post-job step stops it).',
    });
    assert.equal(job.fetches, 0);
    assert.equal(job.lines.at(-1), 'Stopping: it received SIGTERM (the post-job step stops it).');
  });

  it('signs the Azure CLI in again every other renewal, before its token gets short, and retries a failed sign-in', async () => {
    const job = new FakeJob(600, true);
    const renewer = new Renewer(job, {
      pid: 7,
      startedAtMs: T0,
      azureCliToken: { claims: job.file!.token.claims, receivedAtMs: T0 },
    });
    void renewer.run();
    await clock.tickAsync(180_000);
    assert.equal(job.azureCliSignIns, 0, 'az still has 4 minutes at the next look');
    await clock.tickAsync(180_000);
    assert.equal(job.azureCliSignIns, 1, 'az would have 1 minute at the next look');
    job.azureCliScript.push(new Error('az exited with 1.'));
    await clock.tickAsync(360_000);
    assert.equal(renewer.state.azureCliFailures, 1);
    assert.match(
      job.lines.at(-1)!,
      /^Could not sign the Azure CLI in again: az exited with 1\. Trying again at the next renewal\.$/,
    );
    await clock.tickAsync(180_000);
    assert.equal(job.azureCliSignIns, 2);
    renewer.stop('stopped', 'done.');
  });

  it('writes no token into its log or its record', async () => {
    const job = new FakeJob(600, true);
    const renewer = new Renewer(job, { pid: 7, startedAtMs: T0, azureCliToken: job.readCurrent() });
    void renewer.run();
    await clock.tickAsync(180_000 * 6);
    renewer.stop('stopped', 'done.');
    const written = [...job.lines, ...job.states.map((s) => JSON.stringify(s))].join('\n');
    for (const t of job.issued) assert.ok(!written.includes(t.token.split('.')[1]));
    assert.ok(job.issued.length >= 7);
  });
});
