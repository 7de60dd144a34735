/**
 * Makes text from a server or a token safe to put in a log line: one line, no control characters, bounded,
 * and no `##vso[` that the agent would read as a logging command.
 */
export function quoteUntrusted(text: string, maxLength = 400): string {
  // eslint-disable-next-line no-control-regex
  let safe = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  safe = safe.replace(/##vso\[/gi, '##vso(').replace(/##\[/g, '##(');
  return safe.length > maxLength ? `${safe.slice(0, maxLength)}…` : safe;
}
