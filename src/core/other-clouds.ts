import {
  assumeRoleWithWebIdentity,
  resolveAwsTarget,
  type AwsSession,
  type AwsSettings,
  type AwsTarget,
} from './aws';
import { proveGcp, resolveGcpTarget, type GcpProof, type GcpSettings, type GcpTarget } from './gcp';
import { retiringIssuerNote } from './federation';
import type { IdTokenClaims } from './jwt';
import { systemClock, withRetry } from './retry';
import type { ServiceDependencies } from './services';
import {
  resolveVaultTarget,
  vaultLogin,
  type VaultLogin,
  type VaultSettings,
  type VaultTarget,
} from './vault';

/** The other clouds the author asked for; each is absent when its main input is empty. */
export interface OtherCloudSettings {
  aws?: AwsSettings;
  gcp?: GcpSettings;
  vault?: VaultSettings;
}

export interface OtherCloudTargets {
  aws?: AwsTarget;
  gcp?: GcpTarget;
  vault?: VaultTarget;
}

/** What each target proved, for the exports. */
export interface OtherCloudsResult {
  aws?: { target: AwsTarget; session: AwsSession };
  gcp?: { target: GcpTarget; proof: GcpProof };
  vault?: { target: VaultTarget; login: VaultLogin };
}

/** Checks every other-cloud input before any request, so a typo costs no round trip. */
export function resolveOtherClouds(settings: OtherCloudSettings): OtherCloudTargets {
  return {
    aws: settings.aws && resolveAwsTarget(settings.aws),
    gcp: settings.gcp && resolveGcpTarget(settings.gcp),
    vault: settings.vault && resolveVaultTarget(settings.vault),
  };
}

export interface OtherCloudContext {
  idToken: string;
  claims: IdTokenClaims;
  /** The task's private directory, for the Google credential file. */
  workDirectory: string;
  /** The federated token file the credential file and AWS_WEB_IDENTITY_TOKEN_FILE point at. */
  federatedTokenFile: string;
}

/**
 * Proves each configured trust once with the idToken the Entra exchange just accepted, the way each cloud's own
 * tools will use it later: a refused trust fails the task here, with the fix, instead of in a later step.
 */
export async function proveOtherClouds(
  targets: OtherCloudTargets,
  context: OtherCloudContext,
  deps: ServiceDependencies,
): Promise<OtherCloudsResult> {
  const clock = deps.clock ?? systemClock;
  const { idToken, claims } = context;
  const retry = <T>(what: string, operation: () => Promise<T>) =>
    withRetry(what, operation, deps.retryPolicy, deps.logger, clock);
  const common = { transport: deps.transport, registerSecret: deps.registerSecret, now: clock.now };
  const result: OtherCloudsResult = {};
  if (targets.aws) {
    const target = targets.aws;
    deps.logger.info(
      `Assuming the AWS role ${target.roleArn} with the idToken at ${new URL(target.stsUrl).host} (session ${target.sessionName}).`,
    );
    const session = await retry('Assuming the AWS role', () =>
      assumeRoleWithWebIdentity(target, idToken, claims, common),
    );
    deps.logger.info(
      `AWS STS accepted the idToken as ${session.assumedRoleArn}; later steps' AWS SDKs and CLI assume the role themselves from the token file.`,
    );
    result.aws = { target, session };
  }
  if (targets.gcp) {
    const target = targets.gcp;
    deps.logger.info(
      `Exchanging the idToken at ${new URL(target.tokenUrl).host} for the workload identity provider ${target.provider}` +
        (target.serviceAccount ? `, then impersonating ${target.serviceAccount}.` : '.'),
    );
    const proof = await retry('Exchanging the idToken at Google Cloud STS', () =>
      proveGcp(target, idToken, claims, context.workDirectory, context.federatedTokenFile, common),
    );
    deps.logger.info(
      `Google Cloud accepted the idToken${target.serviceAccount ? ` as ${target.serviceAccount}` : ''}; later steps' Google Cloud clients and gcloud read the credential file ${proof.credentialFile}.`,
    );
    result.gcp = { target, proof };
  }
  if (targets.vault) {
    const target = targets.vault;
    deps.logger.info(
      `Logging in to Vault at ${target.address} with the idToken (auth/${target.authPath}, role ${target.role}${target.namespace ? `, namespace ${target.namespace}` : ''}).`,
    );
    const login = await retry('Logging in to Vault', () => vaultLogin(target, idToken, claims, common));
    deps.logger.info(
      `Vault accepted the idToken; its token has the policies ${login.policies.join(', ') || '(none)'}` +
        (login.expiresOn ? ` and expires ${login.expiresOn.toISOString()}.` : ' and does not expire.'),
    );
    result.vault = { target, login };
  }
  // Proven today, broken on 2027-07-01 if the trust still names the Azure DevOps issuer: say so while it works.
  const proven = [result.aws && 'AWS', result.gcp && 'Google Cloud', result.vault && 'Vault'];
  for (const target of proven) {
    const note = target && retiringIssuerNote(claims, target);
    if (note) deps.logger.warn(note);
  }
  return result;
}
