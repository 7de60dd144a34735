/**
 * A failure the pipeline author can act on. `message` is what the task prints: one sentence of cause,
 * one of remedy. It never carries a token.
 */
export class TaskFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskFailure';
  }
}
