import { strict as assert } from 'node:assert';
import { decodeIdTokenClaims } from '../../src/core/jwt';
import { TaskFailure } from '../../src/core/errors';

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const header = b64({ alg: 'RS256', typ: 'JWT' });
const claims = {
  iss: 'https://issuer',
  sub: 'sc://o/p/c',
  aud: 'api://AzureADTokenExchange',
  exp: 2000000000,
  iat: 1999999400,
};

function reason(token: string): string {
  try {
    decodeIdTokenClaims(token);
  } catch (error) {
    assert.ok(error instanceof TaskFailure);
    const match =
      /^Azure DevOps returned an idToken that is not a valid JWT: (.*)\. Retry the job; if it persists, check that no proxy rewrites responses from Azure DevOps\.$/.exec(
        error.message,
      );
    assert.ok(match, error.message);
    return match[1];
  }
  assert.fail('expected a failure');
}

describe('idToken claim decoder', () => {
  it('decodes issuer, subject, audience and expiry', () => {
    assert.deepEqual(decodeIdTokenClaims(`${header}.${b64(claims)}.sig`), { ...claims, aud: [claims.aud] });
  });

  it('accepts an audience array', () => {
    assert.deepEqual(decodeIdTokenClaims(`${header}.${b64({ ...claims, aud: ['a', 'b'] })}.sig`).aud, [
      'a',
      'b',
    ]);
  });

  it('rejects a token without three parts', () => {
    assert.equal(reason('abc.def'), 'it has 2 part(s) instead of 3');
    assert.equal(reason(''), 'it has 1 part(s) instead of 3');
  });

  it('rejects a payload that is not base64url', () => {
    assert.equal(reason(`${header}.a+b/c=.sig`), 'its payload is not base64url');
  });

  it('rejects a payload that is not JSON', () => {
    assert.equal(
      reason(`${header}.${Buffer.from('not json').toString('base64url')}.sig`),
      'its payload is not JSON',
    );
  });

  it('rejects a payload that is JSON but not an object', () => {
    assert.equal(reason(`${header}.${b64([1, 2])}.sig`), 'its payload is not a JSON object');
    assert.equal(reason(`${header}.${b64(null)}.sig`), 'its payload is not a JSON object');
  });

  it('rejects a header that is not JSON', () => {
    assert.equal(
      reason(`${Buffer.from('{').toString('base64url')}.${b64(claims)}.sig`),
      'its header is not JSON',
    );
  });

  for (const [claim, replacement, expected] of [
    ['iss', undefined, 'it has no iss claim'],
    ['sub', '', 'it has no sub claim'],
    ['aud', [], 'it has no aud claim'],
    ['aud', [1], 'it has no aud claim'],
    ['exp', '2000000000', 'it has no numeric exp claim'],
  ] as const) {
    it(`rejects ${claim}=${JSON.stringify(replacement)}`, () => {
      assert.equal(reason(`${header}.${b64({ ...claims, [claim]: replacement })}.sig`), expected);
    });
  }
});
