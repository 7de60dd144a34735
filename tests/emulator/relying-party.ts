/**
 * What AWS STS, Google STS and Vault's JWT auth have in common when they accept an Azure DevOps idToken: they
 * check its signature against the issuer's published keys, then its expiry, then their own trust (issuer,
 * subject, audience). Each of tests/emulator/{aws-sts,gcp,vault}.ts words the outcome the way its service does.
 */
import { checkJwtSignature, tryDecodeJwt, type JwtClaims, type SigningKey } from './jwt';

/** What a relying party needs from the emulator: the issuer's keys (its JWKS) and the clock. */
export interface IssuerKeys {
  /** The keys the issuer publishes, or undefined for an issuer nobody publishes (unknown org or tenant). */
  keysFor(issuer: unknown): SigningKey[] | undefined;
  nowSeconds(): number;
}

export type IdTokenCheck =
  | { ok: true; claims: JwtClaims & { iss: string; sub: string; aud: string[]; exp: number } }
  | { ok: false; problem: 'malformed' | 'unknown-issuer' | 'signature' | 'expired'; claims?: JwtClaims };

/** Format, signature (against the issuer's keys) and expiry, in the order the services check them. */
export function checkIdToken(token: string, issuers: IssuerKeys): IdTokenCheck {
  const jwt = tryDecodeJwt(token);
  const claims = jwt?.payload;
  if (
    !jwt ||
    typeof claims?.iss !== 'string' ||
    typeof claims.sub !== 'string' ||
    typeof claims.exp !== 'number'
  ) {
    return { ok: false, problem: 'malformed' };
  }
  const keys = issuers.keysFor(claims.iss);
  if (!keys) return { ok: false, problem: 'unknown-issuer', claims };
  if (checkJwtSignature(jwt, keys) !== 'valid') return { ok: false, problem: 'signature', claims };
  if (issuers.nowSeconds() >= claims.exp) return { ok: false, problem: 'expired', claims };
  const aud = Array.isArray(claims.aud) ? claims.aud.map(String) : [String(claims.aud)];
  return { ok: true, claims: { ...claims, iss: claims.iss, sub: claims.sub, exp: claims.exp, aud } };
}

export function formFields(body: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body));
}
