import type { HttpTransport } from './http';
import type { IdTokenClaims } from './jwt';
import { quoteUntrusted } from './text';

/** The audience every Azure DevOps idToken carries, which each cloud's trust must accept. */
export const AZURE_DEVOPS_AUDIENCE = 'api://AzureADTokenExchange';

/** Quotes a value for a POSIX shell command line the author copies. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  // "…" reads better around a CEL condition with '…' inside; only when nothing in it is special to the shell.
  if (value.includes("'") && !/["$`\\!]/.test(value)) return `"${value}"`;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The issuer without its scheme: the IAM provider URL and the prefix of AWS's condition keys. */
export function issuerHostPath(issuer: string): string {
  return issuer.replace(/^https:\/\//i, '').replace(/\/+$/, '');
}

/** The claims as safe to print in a remedy (server- or token-provided text is untrusted). */
export function printableClaims(claims: IdTokenClaims): { iss: string; sub: string } {
  return { iss: quoteUntrusted(claims.iss, 300), sub: quoteUntrusted(claims.sub, 300) };
}

/**
 * A trust set up for the Azure DevOps issuer stops working when Microsoft retires it; the other cloud's trust
 * has to be moved to the Entra issuer together with the connection.
 */
export function retiringIssuerNote(claims: IdTokenClaims, target: string): string | undefined {
  if (!/^https:\/\/vstoken\.dev\.azure\.com\//i.test(claims.iss)) return undefined;
  return (
    `The ${target} trust names the Azure DevOps issuer (${quoteUntrusted(claims.iss)}), which Microsoft retires on 2027-07-01. ` +
    `When you convert the service connection to the Microsoft Entra issuer, change the ${target} trust to the new issuer and subject the task then logs, in the same change.`
  );
}

/** What each other-cloud proof (AWS, Google Cloud, Vault) needs from its caller. */
export interface ProofDependencies {
  transport: HttpTransport;
  registerSecret: (secret: string) => void;
  now?: () => number;
}
