import { strict as assert } from 'node:assert';
import { Emulator, type EmulatorConnection, type RequestInfo } from '../emulator';

/** The emulator's other clouds refuse what the real ones refuse: a forged signature, a foreign issuer. */

function request(body: string, headers: Record<string, string> = {}): RequestInfo {
  return { method: 'POST', path: '/', query: {}, headers, body };
}

/** The same claims signed by nobody the issuer publishes: the last signature byte flipped. */
function tampered(token: string): string {
  const [header, payload, signature] = token.split('.');
  const bytes = Buffer.from(signature, 'base64url');
  bytes[bytes.length - 1] ^= 1;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

describe('emulator: other clouds check the idToken before their trust', function () {
  this.timeout(20_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;
  const ROLE = 'arn:aws:iam::123456789012:role/r';
  const PROVIDER = 'projects/1/locations/global/workloadIdentityPools/pool/providers/prov';

  before(async () => {
    emulator = await Emulator.start();
    connection = emulator.options.connections[0];
    emulator.aws.trust(ROLE, emulator.issuerFor(connection), emulator.subjectFor(connection));
    emulator.gcp.addProvider(PROVIDER, emulator.issuerFor(connection));
    emulator.vault.addRole('deploy', emulator.issuerFor(connection), emulator.subjectFor(connection));
  });
  after(async () => emulator.stop());

  function assume(token: string) {
    const form = new URLSearchParams({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: ROLE,
      RoleSessionName: 's1',
      WebIdentityToken: token,
    });
    return emulator.aws.handle(request(form.toString()));
  }

  it('AWS accepts a genuine idToken and refuses a forged signature as InvalidIdentityToken', () => {
    const token = emulator.mintIdToken(connection);
    assert.equal(assume(token).status, 200);
    const forged = assume(tampered(token));
    assert.equal(forged.status, 400);
    assert.match(
      forged.body,
      /<Code>InvalidIdentityToken<\/Code>\s*<Message>The web identity token that was passed could not be validated by AWS\./,
    );
  });

  it('Google STS refuses a token of another issuer, and a forged one', () => {
    const exchange = (token: string) =>
      emulator.gcp.handleSts(
        request(
          new URLSearchParams({
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            audience: `//iam.googleapis.com/${PROVIDER}`,
            requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
            subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
            subject_token: token,
          }).toString(),
          { 'content-type': 'application/x-www-form-urlencoded' },
        ),
      );
    const other = emulator.options.connections[1];
    assert.deepEqual(JSON.parse(exchange(emulator.mintIdToken(other)).body), {
      error: 'invalid_grant',
      error_description: `The issuer in ID Token ${emulator.issuerFor(other)} does not match the expected ones.`,
    });
    assert.deepEqual(JSON.parse(exchange(tampered(emulator.mintIdToken(connection))).body), {
      error: 'invalid_grant',
      error_description: 'Invalid ID Token signature.',
    });
  });

  it('Vault refuses a forged token and a lookup without a token it issued', () => {
    const login = emulator.vault.handleLogin(
      request(JSON.stringify({ role: 'deploy', jwt: tampered(emulator.mintIdToken(connection)) })),
      'jwt',
    );
    assert.deepEqual(
      [login.status, JSON.parse(login.body)],
      [400, { errors: ['error validating token: failed to verify id token signature'] }],
    );
    const lookup = emulator.vault.handleLookupSelf({
      ...request(''),
      method: 'GET',
      headers: { 'x-vault-token': 'hvs.nope' },
    });
    assert.deepEqual([lookup.status, JSON.parse(lookup.body)], [403, { errors: ['permission denied'] }]);
  });
});
