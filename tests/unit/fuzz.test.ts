import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { explainEntraError } from '../../src/core/diagnostics';
import { exchangeForAccessToken, tokenResponseProblem } from '../../src/core/entra';
import { TaskFailure } from '../../src/core/errors';
import type { HttpResponse } from '../../src/core/http';
import { requestIdToken, resolveOidcEndpoint } from '../../src/core/idtoken';
import { decodeIdTokenClaims } from '../../src/core/jwt';
import { quoteUntrusted } from '../../src/core/text';
import { RecordingLogger, ScriptedTransport, fakeJwt, idTokenClaims, wifConnection } from './fakes';

const RUNS = { numRuns: 300 };
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Messages the task prints must be one line, free of logging commands. */
function assertPrintable(message: string): void {
  assert.ok(!CONTROL.test(message), `control character in: ${JSON.stringify(message)}`);
  assert.ok(!message.includes('##vso['), `logging command in: ${message}`);
}

const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom(
    '##vso[task.setvariable variable=X]y',
    '\r\n##vso[task.complete result=Succeeded;]',
    '%AZP25%0A',
  ),
  fc
    .tuple(fc.string(), fc.constantFrom('\n##vso[', '##[error]', '\u2028'), fc.string())
    .map((p) => p.join('')),
);

const jsonish = fc.oneof(
  fc.json(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record({
      oidcToken: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
      value: hostileText,
      message: hostileText,
    })
    .map((v) => JSON.stringify(v)),
  hostileText,
);

const response: fc.Arbitrary<HttpResponse> = fc.record({
  status: fc.oneof(
    fc.constantFrom(200, 203, 302, 400, 401, 403, 404, 429, 500, 503),
    fc.integer({ min: 100, max: 599 }),
  ),
  headers: fc.dictionary(
    fc.constantFrom('x-vss-e2eid', 'x-msedge-ref', 'activityid', 'content-type', 'retry-after'),
    hostileText,
  ),
  body: jsonish,
});

const CONNECTION = wifConnection({ id: 'conn' });

describe('property-based fuzzing of the parsers', () => {
  it('quoteUntrusted always yields one bounded line without a logging command', () => {
    fc.assert(
      fc.property(hostileText, fc.integer({ min: 1, max: 500 }), (text, max) => {
        const quoted = quoteUntrusted(text, max);
        assertPrintable(quoted);
        assert.ok(quoted.length <= max + 1);
      }),
      RUNS,
    );
  });

  it('the claim decoder returns claims or a clear TaskFailure for any input', () => {
    const segment = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
      fc.base64String(),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 0, maxLength: 5 }), (parts) => {
        try {
          const claims = decodeIdTokenClaims(parts.join('.'));
          assert.equal(typeof claims.iss, 'string');
          assert.equal(typeof claims.exp, 'number');
        } catch (error) {
          assert.ok(error instanceof TaskFailure, String(error));
          assertPrintable(error.message);
        }
      }),
      RUNS,
    );
  });

  it('the idToken client returns a token or a clear TaskFailure for any response', async () => {
    await fc.assert(
      fc.asyncProperty(response, async (answer) => {
        const options = {
          transport: new ScriptedTransport([answer]),
          endpoint: resolveOidcEndpoint({ oidcRequestUri: 'https://dev.azure.com/o/p/_apis/oidctoken' }),
          jobAccessToken: 'job',
          registerSecret: () => {},
          logger: new RecordingLogger(),
        };
        try {
          await requestIdToken(options, 'conn');
        } catch (error) {
          assert.ok(error instanceof TaskFailure, String(error));
          assertPrintable(error.message);
        }
      }),
      RUNS,
    );
  });

  it('the Entra exchange returns a token or a clear TaskFailure for any response', async () => {
    const entraBody = fc.oneof(
      jsonish,
      fc
        .record({
          error: fc.oneof(hostileText, fc.integer()),
          error_description: fc.oneof(hostileText, fc.constant('AADSTS700213: no match')),
          error_codes: fc.oneof(fc.array(fc.integer()), hostileText),
          trace_id: hostileText,
          correlation_id: hostileText,
          access_token: fc.oneof(fc.string(), fc.integer()),
          expires_in: fc.oneof(fc.integer(), fc.string()),
        })
        .map((v) => JSON.stringify(v)),
    );
    const claims = decodeIdTokenClaims(fakeJwt(idTokenClaims()));
    await fc.assert(
      fc.asyncProperty(response, entraBody, async (answer, body) => {
        const transport = new ScriptedTransport([{ ...answer, body }]);
        try {
          await exchangeForAccessToken(
            {
              transport,
              connection: CONNECTION,
              getAssertion: async () => fakeJwt(idTokenClaims()),
              registerSecret: () => {},
              logger: new RecordingLogger(),
            },
            'https://management.azure.com',
            (error) => explainEntraError(error, CONNECTION, claims),
          );
        } catch (error) {
          assert.ok(
            error instanceof TaskFailure,
            `${String(error)} for ${JSON.stringify(answer.status)} ${body}`,
          );
          assertPrintable(error.message);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('the token response check accepts only a string token and a positive lifetime', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const problem = tokenResponseProblem(body);
        if (problem === undefined) {
          const record = body as Record<string, unknown>;
          assert.equal(typeof record.access_token, 'string');
          assert.ok(Number(record.expires_in) > 0);
        }
      }),
      RUNS,
    );
  });
});
