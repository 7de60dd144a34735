/**
 * How the later-step programs in this folder end: with the exit code their main returns (the tests read it: 0 done,
 * 2 a variable is missing, 3 the service refused), or with 1 and the message when main throws.
 */
export function runStep(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}

/** A cloud SDK's refusal, as aws-step and gcp-step report it: the SDK's own error name and message, exit 3. */
export function sdkRefusal(error: unknown): number {
  const e = error as Error;
  console.error(`${e.name}: ${e.message}`);
  return 3;
}
