import { strict as assert } from 'node:assert';
import {
  describeError,
  failureMessage,
  JobTokenRefused,
  TaskFailure,
  TransientFailure,
  UsageError,
} from '../../src/core/errors';

const unexpected = (detail: string) => `It failed unexpectedly: ${detail}. Report it.`;
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

describe('failureMessage, the last line of the step and of azure-wif-token', () => {
  it("prints a TaskFailure's own message, whatever its subclass", () => {
    for (const error of [
      new TaskFailure('Cause. Remedy.'),
      new TransientFailure('Cause. Remedy.', 'HTTP 503'),
      new JobTokenRefused('Cause. Remedy.'),
      new UsageError('Cause. Remedy.'),
    ]) {
      assert.equal(failureMessage(error, unexpected, []), 'Cause. Remedy.');
    }
  });

  it('says a bug is a bug, quoting what was thrown', () => {
    assert.equal(
      failureMessage(new TypeError("Cannot read properties of undefined (reading 'exp')"), unexpected, []),
      "It failed unexpectedly: Cannot read properties of undefined (reading 'exp'). Report it.",
    );
    assert.equal(failureMessage('a string', unexpected, []), 'It failed unexpectedly: a string. Report it.');
  });

  it('masks registered secrets and token-shaped text from any error', () => {
    const secret = 'job-access-token-value';
    assert.equal(
      failureMessage(new Error(`sent ${secret} and got ${JWT} back`), unexpected, [secret]),
      'It failed unexpectedly: sent *** and got *** back. Report it.',
    );
    assert.equal(failureMessage(new TaskFailure(`Bad ${secret}.`), unexpected, [secret]), 'Bad ***.');
  });

  it('keeps the message to one line with no logging command in it', () => {
    assert.equal(
      failureMessage(new Error('line one\n##vso[task.setvariable variable=x]y'), unexpected, []),
      'It failed unexpectedly: line one ##vso(task.setvariable variable=x]y. Report it.',
    );
  });

  it('cuts a runaway message after masking, so no token prefix survives the cut', () => {
    const message = failureMessage(new TaskFailure(`${'x'.repeat(3990)}${JWT}`), unexpected, []);
    assert.equal(message, `${'x'.repeat(3990)}***`);
    const long = failureMessage(new TaskFailure('y'.repeat(5000)), unexpected, []);
    assert.equal(long, `${'y'.repeat(4000)}…`);
  });
});

describe('describeError', () => {
  it("gives an Error's message and anything else as text", () => {
    assert.equal(describeError(new RangeError('out of range')), 'out of range');
    assert.equal(describeError(42), '42');
    assert.equal(describeError(undefined), 'undefined');
  });
});
