import * as path from 'node:path';
import { TaskFailure, TransientFailure } from './errors';
import {
  AZURE_DEVOPS_AUDIENCE,
  printableClaims,
  retiringIssuerNote,
  shellQuote,
  type ProofDependencies,
} from './federation';
import type { HttpResponse } from './http';
import type { IdTokenClaims } from './jwt';
import { isTransientStatus, parseRetryAfter } from './retry';
import { parseUrl, quoteUntrusted } from './text';
import { writeSecretFileAtomic } from './tokenfile';

/** The Google Cloud inputs as the author wrote them. */
export interface GcpSettings {
  workloadIdentityProvider: string;
  serviceAccount?: string;
  projectId?: string;
  /**
   * The credential file's `token_url` (google-auth-library, gcloud and Terraform's google provider read it from
   * there): a Private Service Connect endpoint, for example. Default https://sts.googleapis.com/v1/token.
   */
  tokenUrl?: string;
  /** The IAM Credentials API the impersonation URL is built on. Default https://iamcredentials.googleapis.com. */
  iamCredentialsUrl?: string;
}

export interface GcpTarget {
  /** projects/N/locations/global/workloadIdentityPools/P/providers/X */
  provider: string;
  projectNumber: string;
  pool: string;
  providerId: string;
  /** //iam.googleapis.com/<provider>: the STS audience and the credential file's `audience`. */
  audience: string;
  serviceAccount?: string;
  projectId?: string;
  tokenUrl: string;
  /** The credential file's `service_account_impersonation_url`, when impersonating. */
  impersonationUrl?: string;
}

export interface GcpProof {
  /** When the token later steps would get first expires (the impersonated one when impersonating). */
  expiresOn: Date;
  credentialFile: string;
}

export const DEFAULT_GCP_TOKEN_URL = 'https://sts.googleapis.com/v1/token';
export const DEFAULT_IAM_CREDENTIALS_URL = 'https://iamcredentials.googleapis.com';
export const GCP_CREDENTIAL_FILE_NAME = 'gcp-credentials.json';
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const PROVIDER = /^projects\/([^/]+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/providers\/([^/]+)$/;

function httpsUrl(input: string, value: string, example: string): string {
  const url = parseUrl(value);
  if (url?.protocol !== 'https:') {
    throw new TaskFailure(
      `The input '${input}' is '${quoteUntrusted(value, 120)}', which is not an https URL. Set it to one, e.g. ${example}, or remove it to use Google's.`,
    );
  }
  return url.toString();
}

/** Checks the Google Cloud inputs before any request, so a typo costs no round trip. */
export function resolveGcpTarget(settings: GcpSettings): GcpTarget {
  // The audience form (//iam.googleapis.com/projects/…) is what the console shows next to the provider: accept it.
  const provider = settings.workloadIdentityProvider
    .trim()
    .replace(/^(https:)?\/\/iam\.googleapis\.com\//, '');
  const match = PROVIDER.exec(provider);
  if (!match) {
    throw new TaskFailure(
      `The input 'gcpWorkloadIdentityProvider' is '${quoteUntrusted(provider, 160)}', which is not a workload identity provider name. ` +
        'Set it to projects/<project number>/locations/global/workloadIdentityPools/<pool>/providers/<provider> ' +
        '(gcloud iam workload-identity-pools providers describe <provider> --workload-identity-pool <pool> --location global --format "value(name)").',
    );
  }
  const [, projectNumber, pool, providerId] = match;
  if (!/^\d+$/.test(projectNumber)) {
    throw new TaskFailure(
      `The input 'gcpWorkloadIdentityProvider' names the project '${quoteUntrusted(projectNumber, 40)}' by its id, but the provider name needs the project number. ` +
        `Replace it with the number that gcloud projects describe ${shellQuote(quoteUntrusted(projectNumber, 40))} --format "value(projectNumber)" prints.`,
    );
  }
  const idPattern = /^[a-z0-9-]{4,32}$/;
  if (!idPattern.test(pool) || !idPattern.test(providerId)) {
    throw new TaskFailure(
      `The input 'gcpWorkloadIdentityProvider' has the pool '${quoteUntrusted(pool, 40)}' and provider '${quoteUntrusted(providerId, 40)}', but their ids are 4 to 32 lower-case letters, digits and hyphens. ` +
        'Copy the provider name from gcloud iam workload-identity-pools providers list --workload-identity-pool <pool> --location global.',
    );
  }
  const serviceAccount = settings.serviceAccount?.trim() || undefined;
  if (serviceAccount && !/^[^@\s/]+@[a-z0-9.-]+\.gserviceaccount\.com$/.test(serviceAccount)) {
    throw new TaskFailure(
      `The input 'gcpServiceAccount' is '${quoteUntrusted(serviceAccount, 120)}', which is not a service account e-mail address. ` +
        'Set it to one, e.g. deployer@my-project.iam.gserviceaccount.com, or remove it to use the federated identity directly.',
    );
  }
  const projectId = settings.projectId?.trim() || undefined;
  if (
    projectId &&
    !/^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(projectId)
  ) {
    throw new TaskFailure(
      `The input 'gcpProjectId' is '${quoteUntrusted(projectId, 60)}', which is not a Google Cloud project id. Set it to the project id (e.g. my-project-123), or remove it.`,
    );
  }
  const tokenUrl = settings.tokenUrl?.trim()
    ? httpsUrl('gcpTokenUrl', settings.tokenUrl.trim(), DEFAULT_GCP_TOKEN_URL)
    : DEFAULT_GCP_TOKEN_URL;
  const iamBase = settings.iamCredentialsUrl?.trim()
    ? httpsUrl('gcpIamCredentialsUrl', settings.iamCredentialsUrl.trim(), DEFAULT_IAM_CREDENTIALS_URL)
    : DEFAULT_IAM_CREDENTIALS_URL;
  return {
    provider,
    projectNumber,
    pool,
    providerId,
    audience: `//iam.googleapis.com/${provider}`,
    serviceAccount,
    projectId,
    tokenUrl,
    impersonationUrl: serviceAccount
      ? `${iamBase.replace(/\/+$/, '')}/v1/projects/-/serviceAccounts/${serviceAccount}:generateAccessToken`
      : undefined,
  };
}

/**
 * The external_account credential file google-auth-library (every Google Cloud client library), gcloud and
 * Terraform read: it names the token file, which they re-read for every exchange, so it never goes stale.
 */
export function externalAccountCredential(target: GcpTarget, tokenFile: string): Record<string, unknown> {
  return {
    universe_domain: 'googleapis.com',
    type: 'external_account',
    audience: target.audience,
    subject_token_type: JWT_TOKEN_TYPE,
    token_url: target.tokenUrl,
    credential_source: { file: tokenFile },
    ...(target.impersonationUrl ? { service_account_impersonation_url: target.impersonationUrl } : {}),
  };
}

function providerFlags(target: GcpTarget): string {
  return `${target.providerId} --project ${target.projectNumber} --location global --workload-identity-pool ${target.pool}`;
}

function principal(target: GcpTarget, claims: IdTokenClaims): string {
  return `principal://iam.googleapis.com/projects/${target.projectNumber}/locations/global/workloadIdentityPools/${target.pool}/subject/${printableClaims(claims).sub}`;
}

function subjectCondition(claims: IdTokenClaims): string {
  return `assertion.sub == '${printableClaims(claims).sub.replace(/'/g, "\\'")}'`;
}

/** The one-time set-up commands, filled in with the idToken's issuer and subject. */
export function gcpProviderFix(target: GcpTarget, claims: IdTokenClaims, verb: 'create' | 'update'): string {
  const { iss } = printableClaims(claims);
  return (
    `gcloud iam workload-identity-pools providers ${verb}-oidc ${providerFlags(target)} --issuer-uri ${shellQuote(iss)} ` +
    `--allowed-audiences ${AZURE_DEVOPS_AUDIENCE} --attribute-mapping google.subject=assertion.sub --attribute-condition ${shellQuote(subjectCondition(claims))}`
  );
}

function bindingFix(target: GcpTarget, claims: IdTokenClaims): string {
  return `gcloud iam service-accounts add-iam-policy-binding ${target.serviceAccount ?? '<service account>'} --role roles/iam.workloadIdentityUser --member ${shellQuote(principal(target, claims))}`;
}

function withNote(message: string, claims: IdTokenClaims): string {
  const note = retiringIssuerNote(claims, 'Google Cloud');
  return note ? `${message} ${note}` : message;
}

/** One sentence of cause and one of remedy for a refused STS exchange, with Google's own words. */
export function explainGcpStsError(
  error: string,
  description: string,
  target: GcpTarget,
  claims: IdTokenClaims,
): string {
  const refused = `Google Cloud STS refused the idToken for the workload identity provider ${target.provider}`;
  const said = `Google said: ${quoteUntrusted(error, 60)}: ${quoteUntrusted(description, 300)}`;
  let explanation: string;
  if (error === 'invalid_target') {
    explanation = `${refused}: the pool or provider does not exist or is disabled. Create it with: ${gcpProviderFix(target, claims, 'create')}.`;
  } else if (/attribute condition/i.test(description)) {
    explanation = `${refused}: the provider's attribute condition rejects this connection's subject. Allow exactly this connection with: ${gcpProviderFix(target, claims, 'update')}.`;
  } else if (/audience/i.test(description)) {
    explanation = `${refused}: the provider does not allow the audience ${AZURE_DEVOPS_AUDIENCE}. Allow it with: ${gcpProviderFix(target, claims, 'update')}.`;
  } else if (/issuer/i.test(description)) {
    explanation = `${refused}: the provider trusts another issuer. Point it at this connection's issuer with: ${gcpProviderFix(target, claims, 'update')}.`;
  } else if (/expired|stale|exp\b/i.test(description)) {
    explanation =
      `${refused}: the idToken had expired when Google checked it. ` +
      "Check that the agent machine's clock is right and re-run the job; later steps read the refreshed token file rather than a saved token.";
  } else {
    explanation = `${refused} (${quoteUntrusted(error, 60)}). Check the provider against this connection with: ${gcpProviderFix(target, claims, 'update')}.`;
  }
  return withNote(`${explanation} ${said}`, claims);
}

function parseJson(response: HttpResponse): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(response.body) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function transientOrUnexpected(response: HttpResponse, url: string, now: number, what: string): TaskFailure {
  const host = new URL(url).host;
  if (isTransientStatus(response.status)) {
    return new TransientFailure(
      `${what} at ${host} answered HTTP ${response.status}. Re-run the job if it persists.`,
      `HTTP ${response.status} from ${host}`,
      parseRetryAfter(response.headers['retry-after'], now),
    );
  }
  return new TaskFailure(
    `${what} at ${host} answered HTTP ${response.status} with a body that is not Google's. ` +
      'Check the inputs gcpTokenUrl / gcpIamCredentialsUrl and that no proxy rewrites the response.',
  );
}

/** The STS token exchange, as google-auth-library makes it from the credential file. */
export async function exchangeAtGoogleSts(
  target: GcpTarget,
  idToken: string,
  claims: IdTokenClaims,
  deps: ProofDependencies,
): Promise<{ accessToken: string; expiresOn: Date }> {
  const now = deps.now?.() ?? Date.now();
  const response = await deps.transport.send({
    method: 'POST',
    url: target.tokenUrl,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: target.audience,
      scope: CLOUD_PLATFORM_SCOPE,
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token_type: JWT_TOKEN_TYPE,
      subject_token: idToken,
    }).toString(),
  });
  const body = parseJson(response);
  if (response.status === 200 && typeof body?.access_token === 'string') {
    deps.registerSecret(body.access_token);
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 3600;
    return { accessToken: body.access_token, expiresOn: new Date(now + expiresIn * 1000) };
  }
  if (!isTransientStatus(response.status) && typeof body?.error === 'string') {
    throw new TaskFailure(
      explainGcpStsError(body.error, String(body.error_description ?? ''), target, claims),
    );
  }
  throw transientOrUnexpected(response, target.tokenUrl, now, 'Google Cloud STS');
}

/** generateAccessToken on the service account, with the federated token, as google-auth-library does next. */
export async function impersonateServiceAccount(
  target: GcpTarget & { impersonationUrl: string; serviceAccount: string },
  federatedToken: string,
  claims: IdTokenClaims,
  deps: ProofDependencies,
): Promise<Date> {
  const now = deps.now?.() ?? Date.now();
  const response = await deps.transport.send({
    method: 'POST',
    url: target.impersonationUrl,
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      Authorization: `Bearer ${federatedToken}`,
    },
    body: JSON.stringify({ scope: [CLOUD_PLATFORM_SCOPE] }),
  });
  const body = parseJson(response);
  if (response.status === 200 && typeof body?.accessToken === 'string') {
    deps.registerSecret(body.accessToken);
    const expires = typeof body.expireTime === 'string' ? new Date(body.expireTime) : new Date(NaN);
    return Number.isNaN(expires.getTime()) ? new Date(now + 3600_000) : expires;
  }
  const error = body?.error as { code?: unknown; message?: unknown; status?: unknown } | undefined;
  if (isTransientStatus(response.status) || typeof error?.message !== 'string') {
    throw transientOrUnexpected(response, target.impersonationUrl, now, 'Google Cloud IAM Credentials');
  }
  const said = `Google said: ${quoteUntrusted(String(error.status ?? response.status), 40)}: ${quoteUntrusted(error.message, 300)}`;
  const refused = `Google Cloud refused to let the federated identity impersonate the service account ${target.serviceAccount}`;
  let explanation: string;
  if (response.status === 403) {
    explanation = `${refused}: the service account does not grant this connection's principal the Workload Identity User role. Grant it with: ${bindingFix(target, claims)}.`;
  } else if (response.status === 404) {
    explanation = `${refused}: the service account does not exist. Check the input 'gcpServiceAccount', or create the account and grant it with: ${bindingFix(target, claims)}.`;
  } else {
    explanation = `${refused} (HTTP ${response.status}). Check the service account and grant the principal with: ${bindingFix(target, claims)}.`;
  }
  throw new TaskFailure(withNote(`${explanation} ${said}`, claims));
}

/**
 * Proves the trust the way Google's clients will use it (STS exchange, then impersonation when configured), then
 * writes the credential file they read. The tokens are registered as secrets and dropped: clients make their own.
 */
export async function proveGcp(
  target: GcpTarget,
  idToken: string,
  claims: IdTokenClaims,
  workDirectory: string,
  tokenFile: string,
  deps: ProofDependencies,
): Promise<GcpProof> {
  const federated = await exchangeAtGoogleSts(target, idToken, claims, deps);
  let expiresOn = federated.expiresOn;
  if (target.impersonationUrl && target.serviceAccount) {
    expiresOn = await impersonateServiceAccount(
      { ...target, impersonationUrl: target.impersonationUrl, serviceAccount: target.serviceAccount },
      federated.accessToken,
      claims,
      deps,
    );
  }
  const credentialFile = path.join(workDirectory, GCP_CREDENTIAL_FILE_NAME);
  writeSecretFileAtomic(
    credentialFile,
    `${JSON.stringify(externalAccountCredential(target, tokenFile), null, 2)}\n`,
  );
  return { expiresOn, credentialFile };
}
