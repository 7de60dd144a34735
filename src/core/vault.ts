import { TaskFailure, TransientFailure } from './errors';
import {
  AZURE_DEVOPS_AUDIENCE,
  printableClaims,
  retiringIssuerNote,
  shellQuote,
  type ProofDependencies,
} from './federation';
import type { IdTokenClaims } from './jwt';
import { isTransientStatus, parseRetryAfter } from './retry';
import { parseUrl, quoteUntrusted } from './text';

/** The Vault inputs as the author wrote them. */
export interface VaultSettings {
  address: string;
  role?: string;
  authPath?: string;
  namespace?: string;
}

export interface VaultTarget {
  /** Without a trailing slash, as VAULT_ADDR. */
  address: string;
  role: string;
  /** The JWT auth method's mount path, without auth/ and slashes (default jwt). */
  authPath: string;
  namespace?: string;
}

export interface VaultLogin {
  token: string;
  /** Undefined for a token without expiry (lease_duration 0). */
  expiresOn?: Date;
  policies: string[];
}

export const DEFAULT_VAULT_AUTH_PATH = 'jwt';

/** Checks the Vault inputs before any request, so a typo costs no round trip. */
export function resolveVaultTarget(settings: VaultSettings): VaultTarget {
  const raw = settings.address.trim();
  const url = parseUrl(raw);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash) {
    throw new TaskFailure(
      `The input 'vaultAddress' is '${quoteUntrusted(raw, 120)}', which is not a Vault address. Set it to the URL VAULT_ADDR would hold, e.g. https://vault.example.com:8200.`,
    );
  }
  const role = settings.role?.trim();
  if (!role) {
    throw new TaskFailure(
      "The input 'vaultRole' is empty, but Vault's JWT login needs the role to log in as. Set it to the role's name (vault list auth/jwt/role).",
    );
  }
  const authPath = (settings.authPath?.trim() || DEFAULT_VAULT_AUTH_PATH)
    .replace(/^\/+|\/+$/g, '')
    .replace(/^auth\//, '');
  if (!/^[\w.-]+(\/[\w.-]+)*$/.test(authPath)) {
    throw new TaskFailure(
      `The input 'vaultAuthPath' is '${quoteUntrusted(authPath, 80)}', which is not an auth method path. Set it to the path the JWT auth method is enabled at (vault auth list), e.g. jwt.`,
    );
  }
  const namespace = settings.namespace?.trim().replace(/^\/+|\/+$/g, '') || undefined;
  return { address: url.toString().replace(/\/+$/, ''), role, authPath, namespace };
}

export function vaultLoginUrl(target: VaultTarget): string {
  return `${target.address}/v1/auth/${target.authPath}/login`;
}

function namespaceFlag(target: VaultTarget): string {
  return target.namespace ? ` -namespace=${shellQuote(target.namespace)}` : '';
}

/** The one-time set-up: the auth method's issuer and the role bound to this connection's subject. */
export function vaultRoleFix(target: VaultTarget, claims: IdTokenClaims): string {
  return (
    `vault write${namespaceFlag(target)} auth/${target.authPath}/role/${shellQuote(target.role)} role_type=jwt bound_audiences=${AZURE_DEVOPS_AUDIENCE} ` +
    `bound_subject=${shellQuote(printableClaims(claims).sub)} user_claim=sub token_policies=<policies>`
  );
}

export function vaultConfigFix(target: VaultTarget, claims: IdTokenClaims): string {
  const { iss } = printableClaims(claims);
  return `vault write${namespaceFlag(target)} auth/${target.authPath}/config oidc_discovery_url=${shellQuote(iss)} bound_issuer=${shellQuote(iss)}`;
}

/** One sentence of cause and one of remedy for a refused login, with Vault's own words. */
export function explainVaultError(
  status: number,
  errors: string[],
  target: VaultTarget,
  claims: IdTokenClaims,
): string {
  const text = errors.join('; ');
  const refused = `Vault at ${target.address} refused the idToken for the role ${target.role} at auth/${target.authPath}${target.namespace ? ` in namespace ${target.namespace}` : ''}`;
  let explanation: string;
  if (/could not be found/i.test(text)) {
    explanation = `${refused}: the role does not exist. Create it with: ${vaultRoleFix(target, claims)}.`;
  } else if (/audience|\baud\b/i.test(text)) {
    explanation = `${refused}: the role does not allow the audience ${AZURE_DEVOPS_AUDIENCE}. Set it with: ${vaultRoleFix(target, claims)}.`;
  } else if (/subject|\bsub\b/i.test(text)) {
    explanation = `${refused}: the role is bound to another subject. Bind it to this connection with: ${vaultRoleFix(target, claims)}.`;
  } else if (/expired/i.test(text)) {
    explanation =
      `${refused}: the idToken had expired when Vault checked it. ` +
      "Check that the agent machine's and Vault's clocks are right and re-run the job; later steps use azure-wif-token vault-login for a new token.";
  } else if (/issuer|signature|verif/i.test(text)) {
    explanation = `${refused}: the auth method does not trust this connection's issuer. Point it at the issuer with: ${vaultConfigFix(target, claims)}.`;
  } else if (status === 403 || status === 404) {
    explanation =
      `${refused}: no JWT auth method answers at auth/${target.authPath}${target.namespace ? ` in that namespace` : ''}. ` +
      `Enable it with: vault auth enable${namespaceFlag(target)} -path=${shellQuote(target.authPath)} jwt, then ${vaultConfigFix(target, claims)}, or correct the inputs vaultAuthPath and vaultNamespace.`;
  } else {
    explanation = `${refused} (HTTP ${status}). Check the role and the auth method's configuration with: ${vaultRoleFix(target, claims)}.`;
  }
  const note = retiringIssuerNote(claims, 'Vault');
  return `${explanation} Vault said: ${quoteUntrusted(text || `HTTP ${status}`, 300)}${note ? ` ${note}` : ''}`;
}

/** POST auth/<path>/login {role, jwt}: Vault's JWT login, as `vault write auth/jwt/login role=… jwt=…` makes it. */
export async function vaultLogin(
  target: VaultTarget,
  idToken: string,
  claims: IdTokenClaims,
  deps: ProofDependencies,
): Promise<VaultLogin> {
  const url = vaultLoginUrl(target);
  const now = deps.now?.() ?? Date.now();
  const response = await deps.transport.send({
    method: 'POST',
    url,
    headers: {
      'Content-Type': 'application/json',
      'X-Vault-Request': 'true',
      ...(target.namespace ? { 'X-Vault-Namespace': target.namespace } : {}),
    },
    body: JSON.stringify({ role: target.role, jwt: idToken }),
  });
  let body: { auth?: Record<string, unknown>; errors?: unknown } | undefined;
  try {
    body = JSON.parse(response.body) as typeof body;
  } catch {
    body = undefined;
  }
  const auth = body?.auth;
  if (response.status === 200 && typeof auth?.client_token === 'string') {
    deps.registerSecret(auth.client_token);
    const lease = typeof auth.lease_duration === 'number' ? auth.lease_duration : 0;
    const policies = Array.isArray(auth.policies)
      ? auth.policies.map((p) => quoteUntrusted(String(p), 80))
      : [];
    return {
      token: auth.client_token,
      expiresOn: lease > 0 ? new Date(now + lease * 1000) : undefined,
      policies,
    };
  }
  const host = new URL(url).host;
  if (isTransientStatus(response.status)) {
    throw new TransientFailure(
      `Vault at ${host} answered HTTP ${response.status} (sealed, in standby or overloaded). Re-run the job if it persists.`,
      `HTTP ${response.status} from ${host}`,
      parseRetryAfter(response.headers['retry-after'], now),
    );
  }
  if (!Array.isArray(body?.errors)) {
    throw new TaskFailure(
      `${url} answered HTTP ${response.status} without Vault's {"errors": […]}. Check the input 'vaultAddress' (VAULT_ADDR) and that no proxy rewrites the response.`,
    );
  }
  throw new TaskFailure(explainVaultError(response.status, body.errors.map(String), target, claims));
}
