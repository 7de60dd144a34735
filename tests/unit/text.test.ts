import { strict as assert } from 'node:assert';
import { quoteUntrusted, redact } from '../../src/core/text';

const JWT =
  'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2xvZ2luLmV4YW1wbGUiLCJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

describe('quoting untrusted text for the log', () => {
  it('masks a JWT before cutting, so no prefix of it survives the cut', () => {
    // The token straddles the 600-character cut: cutting first would leave its first characters.
    const stderr = `${'x'.repeat(580)} ${JWT} expired`;
    const quoted = quoteUntrusted(stderr, 600);
    assert.ok(!quoted.includes('eyJ'), quoted);
    assert.equal(quoted, `${'x'.repeat(580)} *** expired`);
    assert.equal(quoteUntrusted(`assertion ${JWT} expired`, 600), 'assertion *** expired');
  });

  it('masks every registered secret before cutting, the longest first', () => {
    const secret = 'proxy-password-0123456789';
    const text = `${'y'.repeat(395)} ${secret} and ${secret}-longer`;
    assert.equal(quoteUntrusted(text, 400, [secret]), `${'y'.repeat(395)} *** …`);
    assert.equal(redact(`a ${secret}-longer b`, [secret, `${secret}-longer`]), 'a *** b');
    assert.equal(redact('nothing to hide', ['']), 'nothing to hide');
  });

  it('masks a JWT whose signature is empty (an unsigned token)', () => {
    assert.equal(redact('t=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. end'), 't=*** end');
  });

  it('defuses ##vso[ and ##[ so the agent reads no logging command in quoted text', () => {
    assert.equal(
      quoteUntrusted('a ##vso[task.setvariable variable=X]evil ##VSO[task.complete] ##[error]fake'),
      'a ##vso(task.setvariable variable=X]evil ##vso(task.complete] ##(error]fake',
    );
  });

  it('cannot be tricked into a logging command by a line break before it', () => {
    const quoted = quoteUntrusted('ok\n##vso[task.setsecret]x\r##[warning]y');
    assert.equal(quoted, 'ok ##vso(task.setsecret]x ##(warning]y');
    assert.ok(!/##vso\[|##\[/i.test(quoted));
  });

  it('keeps it to one bounded line', () => {
    assert.equal(quoteUntrusted('a\u0000b\u2028c\u009fd\te', 400), 'a b c d e');
    assert.equal(quoteUntrusted('abcdef', 3), 'abc…');
    assert.equal(quoteUntrusted('abc', 3), 'abc');
  });
});
