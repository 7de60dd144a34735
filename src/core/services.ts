import type { HttpTransport } from './http';
import type { Logger } from './logger';
import type { RetryClock, RetryPolicy } from './retry';

/**
 * What every caller of a remote service shares (the step's stages, the other-cloud proofs, the command and
 * the renewer): one transport with one TLS context, one logger, the masker, one retry policy.
 */
export interface ServiceDependencies {
  transport: HttpTransport;
  logger: Logger;
  /** Registers a value with the agent's masker; called before the value could appear anywhere. */
  registerSecret: (secret: string) => void;
  retryPolicy: RetryPolicy;
  clock?: RetryClock;
}
