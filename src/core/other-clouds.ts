import {
  assumeRoleWithWebIdentity,
  resolveAwsTarget,
  type AwsSession,
  type AwsSettings,
  type AwsTarget,
} from './aws';
import type { HttpTransport } from './http';
import type { IdTokenClaims } from './jwt';
import type { Logger } from './logger';
import { systemClock, withRetry, type RetryClock, type RetryPolicy } from './retry';

/** The other clouds the author asked for; each is absent when its main input is empty. */
export interface OtherCloudSettings {
  aws?: AwsSettings;
}

/** What each target proved, for the exports. */
export interface OtherCloudsResult {
  aws?: { target: AwsTarget; session: AwsSession };
}

export interface OtherCloudDependencies {
  transport: HttpTransport;
  logger: Logger;
  registerSecret: (secret: string) => void;
  retryPolicy: RetryPolicy;
  clock?: RetryClock;
}

/** Checks every other-cloud input before any request, so a typo costs no round trip. */
export function resolveOtherClouds(settings: OtherCloudSettings): { aws?: AwsTarget } {
  return { aws: settings.aws && resolveAwsTarget(settings.aws) };
}

/**
 * Proves each configured trust once with the idToken the Entra exchange just accepted, the way each cloud's own
 * tools will use it later: a refused trust fails the task here, with the fix, instead of in a later step.
 */
export async function proveOtherClouds(
  targets: ReturnType<typeof resolveOtherClouds>,
  idToken: string,
  claims: IdTokenClaims,
  deps: OtherCloudDependencies,
): Promise<OtherCloudsResult> {
  const clock = deps.clock ?? systemClock;
  const result: OtherCloudsResult = {};
  if (targets.aws) {
    const target = targets.aws;
    deps.logger.info(
      `Assuming the AWS role ${target.roleArn} with the idToken at ${new URL(target.stsUrl).host} (session ${target.sessionName}).`,
    );
    const session = await withRetry(
      'Assuming the AWS role',
      () =>
        assumeRoleWithWebIdentity(target, idToken, claims, {
          transport: deps.transport,
          registerSecret: deps.registerSecret,
          now: clock.now,
        }),
      deps.retryPolicy,
      deps.logger,
      clock,
    );
    deps.logger.info(
      `AWS STS accepted the idToken as ${session.assumedRoleArn}; later steps' AWS SDKs and CLI assume the role themselves from the token file.`,
    );
    result.aws = { target, session };
  }
  return result;
}
