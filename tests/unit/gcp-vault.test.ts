import { strict as assert } from 'node:assert';
import { TaskFailure, TransientFailure } from '../../src/core/errors';
import { exchangeAtGoogleSts, externalAccountCredential, resolveGcpTarget } from '../../src/core/gcp';
import { decodeIdTokenClaims } from '../../src/core/jwt';
import { resolveOtherClouds } from '../../src/core/other-clouds';
import { planOtherCloudExports } from '../../src/core/plan';
import { resolveVaultTarget, vaultLogin, vaultLoginUrl } from '../../src/core/vault';
import { ScriptedTransport, fakeJwt, idTokenClaims, json } from './fakes';

const PROVIDER = 'projects/123/locations/global/workloadIdentityPools/azure-devops/providers/contoso';
const TOKEN = fakeJwt(idTokenClaims());
const CLAIMS = decodeIdTokenClaims(TOKEN);

describe('Google Cloud core', () => {
  it("accepts the provider's audience form and builds Google's default endpoints", () => {
    const target = resolveGcpTarget({
      workloadIdentityProvider: `//iam.googleapis.com/${PROVIDER}`,
      serviceAccount: 'deployer@p.iam.gserviceaccount.com',
    });
    assert.equal(target.provider, PROVIDER);
    assert.deepEqual(externalAccountCredential(target, '/w/federated-token.jwt'), {
      universe_domain: 'googleapis.com',
      type: 'external_account',
      audience: `//iam.googleapis.com/${PROVIDER}`,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: 'https://sts.googleapis.com/v1/token',
      credential_source: { file: '/w/federated-token.jwt' },
      service_account_impersonation_url:
        'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/deployer@p.iam.gserviceaccount.com:generateAccessToken',
    });
  });

  it('honours the Private Service Connect endpoints and refuses http ones', () => {
    const target = resolveGcpTarget({
      workloadIdentityProvider: PROVIDER,
      serviceAccount: 'a@p.iam.gserviceaccount.com',
      tokenUrl: 'https://sts-corp.p.googleapis.com/v1/token',
      iamCredentialsUrl: 'https://iamcredentials-corp.p.googleapis.com/',
    });
    assert.equal(target.tokenUrl, 'https://sts-corp.p.googleapis.com/v1/token');
    assert.equal(
      target.impersonationUrl,
      'https://iamcredentials-corp.p.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken',
    );
    assert.throws(
      () => resolveGcpTarget({ workloadIdentityProvider: PROVIDER, tokenUrl: 'http://sts.local/v1/token' }),
      {
        message:
          "The input 'gcpTokenUrl' is 'http://sts.local/v1/token', which is not an https URL. Set it to one, e.g. https://sts.googleapis.com/v1/token, or remove it to use Google's.",
      },
    );
  });

  it('refuses a malformed provider, pool id and service account before any request', () => {
    assert.throws(
      () => resolveGcpTarget({ workloadIdentityProvider: 'contoso' }),
      (e: unknown) =>
        e instanceof TaskFailure &&
        e.message.startsWith(
          "The input 'gcpWorkloadIdentityProvider' is 'contoso', which is not a workload identity provider name.",
        ),
    );
    assert.throws(
      () => resolveGcpTarget({ workloadIdentityProvider: PROVIDER.replace('azure-devops', 'AZ') }),
      (e: unknown) =>
        e instanceof TaskFailure && e.message.includes("has the pool 'AZ' and provider 'contoso'"),
    );
    assert.throws(
      () => resolveGcpTarget({ workloadIdentityProvider: PROVIDER, serviceAccount: 'deployer' }),
      {
        message:
          "The input 'gcpServiceAccount' is 'deployer', which is not a service account e-mail address. Set it to one, e.g. deployer@my-project.iam.gserviceaccount.com, or remove it to use the federated identity directly.",
      },
    );
  });

  it('sends the RFC 8693 exchange as form fields, registers the token, and retries a 503', async () => {
    const registered: string[] = [];
    const transport = new ScriptedTransport([
      json(200, { access_token: 'ya29.x', expires_in: 3599, token_type: 'Bearer' }),
    ]);
    const target = resolveGcpTarget({ workloadIdentityProvider: PROVIDER });
    const result = await exchangeAtGoogleSts(target, TOKEN, CLAIMS, {
      transport,
      registerSecret: (s) => registered.push(s),
      now: () => 0,
    });
    assert.deepEqual(result, { accessToken: 'ya29.x', expiresOn: new Date(3_599_000) });
    assert.deepEqual(registered, ['ya29.x']);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(transport.requests[0].body)), {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: `//iam.googleapis.com/${PROVIDER}`,
      scope: 'https://www.googleapis.com/auth/cloud-platform',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      subject_token: TOKEN,
    });
    await assert.rejects(
      exchangeAtGoogleSts(target, TOKEN, CLAIMS, {
        transport: new ScriptedTransport([json(503, { error: 'unavailable' })]),
        registerSecret: () => {},
      }),
      (e: unknown) => e instanceof TransientFailure,
    );
  });
});

describe('Vault core', () => {
  it('normalises the address, auth path and namespace', () => {
    const target = resolveVaultTarget({
      address: 'https://vault.example.com:8200/',
      role: 'deploy',
      authPath: '/auth/jwt-ado/',
      namespace: '/admin/',
    });
    assert.deepEqual(target, {
      address: 'https://vault.example.com:8200',
      role: 'deploy',
      authPath: 'jwt-ado',
      namespace: 'admin',
    });
    assert.equal(vaultLoginUrl(target), 'https://vault.example.com:8200/v1/auth/jwt-ado/login');
    assert.equal(resolveVaultTarget({ address: 'http://127.0.0.1:8200', role: 'r' }).authPath, 'jwt');
  });

  it('needs a role', () => {
    assert.throws(() => resolveVaultTarget({ address: 'https://vault.example.com' }), {
      message:
        "The input 'vaultRole' is empty, but Vault's JWT login needs the role to log in as. Set it to the role's name (vault list auth/jwt/role).",
    });
  });

  it('sends {role, jwt} with the namespace header and registers the token', async () => {
    const registered: string[] = [];
    const transport = new ScriptedTransport([
      json(200, { auth: { client_token: 'hvs.abc', lease_duration: 60, policies: ['deploy'] } }),
    ]);
    const target = resolveVaultTarget({
      address: 'https://vault.example.com',
      role: 'deploy',
      namespace: 'ns1',
    });
    const login = await vaultLogin(target, TOKEN, CLAIMS, {
      transport,
      registerSecret: (s) => registered.push(s),
      now: () => 0,
    });
    assert.deepEqual(login, { token: 'hvs.abc', expiresOn: new Date(60_000), policies: ['deploy'] });
    assert.deepEqual(registered, ['hvs.abc']);
    assert.equal(transport.requests[0].headers['X-Vault-Namespace'], 'ns1');
    assert.deepEqual(JSON.parse(transport.requests[0].body), { role: 'deploy', jwt: TOKEN });
  });

  it('retries a sealed or standby Vault (503) and refuses a body that is not Vault', async () => {
    const target = resolveVaultTarget({ address: 'https://vault.example.com', role: 'deploy' });
    await assert.rejects(
      vaultLogin(target, TOKEN, CLAIMS, {
        transport: new ScriptedTransport([json(503, { errors: ['Vault is sealed'] })]),
        registerSecret: () => {},
      }),
      (e: unknown) => e instanceof TransientFailure,
    );
    await assert.rejects(
      vaultLogin(target, TOKEN, CLAIMS, {
        transport: new ScriptedTransport([{ status: 404, headers: {}, body: '<html>' }]),
        registerSecret: () => {},
      }),
      {
        message:
          "https://vault.example.com/v1/auth/jwt/login answered HTTP 404 without Vault's {\"errors\": […]}. Check the input 'vaultAddress' (VAULT_ADDR) and that no proxy rewrites the response.",
      },
    );
  });
});

describe('Other clouds together', () => {
  it('resolves only the targets whose main input is set', () => {
    assert.deepEqual(resolveOtherClouds({}), { aws: undefined, gcp: undefined, vault: undefined });
  });

  it('plans the Google and Vault exports: the Vault token secret, the rest plain', () => {
    assert.deepEqual(
      planOtherCloudExports({
        gcp: { credentialFile: '/w/gcp-credentials.json', projectId: 'p-1' },
        vault: { address: 'https://v', namespace: 'ns', token: 'hvs.t', expiresOn: new Date(0) },
        federatedTokenFile: '/w/federated-token.jwt',
        prefix: '',
      }).map((v) => `${v.name}=${v.value}${v.secret ? ' (secret)' : ''}`),
      [
        'GOOGLE_APPLICATION_CREDENTIALS=/w/gcp-credentials.json',
        'CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE=/w/gcp-credentials.json',
        'GOOGLE_CLOUD_PROJECT=p-1',
        'CLOUDSDK_CORE_PROJECT=p-1',
        'VAULT_ADDR=https://v',
        'VAULT_NAMESPACE=ns',
        'VAULT_TOKEN=hvs.t (secret)',
        'VAULT_TOKEN_EXPIRES_ON=1970-01-01T00:00:00.000Z',
      ],
    );
  });
});
