import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import {
  REDACTED_SECRET_VARIABLE_DEBUG,
  SECRET_VARIABLE_DEBUG,
  redactSecretVariableDebug,
} from '../../tools/redact-plugin';

describe('bundle redaction of task-lib secret variables', () => {
  it('finds the line that prints variable values in the installed task-lib', () => {
    const source = fs.readFileSync(require.resolve('azure-pipelines-task-lib/internal.js'), 'utf8');
    assert.ok(redactSecretVariableDebug(source).includes(REDACTED_SECRET_VARIABLE_DEBUG));
    assert.ok(!redactSecretVariableDebug(source).includes(SECRET_VARIABLE_DEBUG));
  });

  it('fails the build when task-lib no longer has that line', () => {
    assert.throws(
      () => redactSecretVariableDebug('function _getVariable(name) { return 1; }'),
      /no longer contains the debug line that prints variable values/,
    );
  });
});
