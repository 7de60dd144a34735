import { TaskFailure } from './errors';

/** The claims of an idToken that are safe to show and that federation matches on. */
export interface IdTokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  /** Seconds since the epoch. */
  exp: number;
  iat?: number;
}

function invalid(reason: string): TaskFailure {
  return new TaskFailure(
    `Azure DevOps returned an idToken that is not a valid JWT: ${reason}. ` +
      'Retry the job; if it persists, check that no proxy rewrites responses from Azure DevOps.',
  );
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) throw invalid(`its ${what} is not base64url`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw invalid(`its ${what} is not JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid(`its ${what} is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** Decodes (does not verify: Entra does that) the claims the task reports and plans with. */
export function decodeIdTokenClaims(token: string): IdTokenClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw invalid(`it has ${parts.length} part(s) instead of 3`);
  decodeSegment(parts[0], 'header');
  const payload = decodeSegment(parts[1], 'payload');
  const { iss, sub, aud, exp, iat } = payload;
  if (typeof iss !== 'string' || iss === '') throw invalid('it has no iss claim');
  if (typeof sub !== 'string' || sub === '') throw invalid('it has no sub claim');
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
  if (!audiences || audiences.length === 0 || !audiences.every((a) => typeof a === 'string')) {
    throw invalid('it has no aud claim');
  }
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalid('it has no numeric exp claim');
  return {
    iss,
    sub,
    aud: audiences as string[],
    exp,
    iat: typeof iat === 'number' && Number.isFinite(iat) ? iat : undefined,
  };
}
