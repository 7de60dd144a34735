/** A JWT (header.payload.signature, base64url): what an idToken or an access token looks like. */
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]*/g;

/** Masks every given secret and every JWT-looking string in `text`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let masked = text;
  // Longest first, so a secret that contains another is masked whole.
  for (const secret of [...secrets].filter((s) => s !== '').sort((a, b) => b.length - a.length)) {
    masked = masked.split(secret).join('***');
  }
  return masked.replace(JWT, '***');
}

/**
 * Makes text from a server or a token safe to put in a log line: secrets and JWTs masked, one line, no
 * control characters, no `##vso[` that the agent would read as a logging command, and bounded. Masking
 * comes before cutting, so a cut can never leave a token's prefix behind.
 */
export function quoteUntrusted(text: string, maxLength = 400, secrets: readonly string[] = []): string {
  let safe = redact(text, secrets)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .trim();
  safe = safe.replace(/##vso\[/gi, '##vso(').replace(/##\[/g, '##(');
  return safe.length > maxLength ? `${safe.slice(0, maxLength)}…` : safe;
}

/** `value` as a URL, or undefined when it is not one (URL.parse arrives only in Node 22; the task runs on Node 20). */
export function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
