import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { commandConfig, parseTokenCommandConfig } from '../../src/command/config';
import { ConfigProblem } from '../../src/core/errors';
import { parseRenewerSecrets } from '../../src/renewer/control';
import { wifConnection } from './fakes';

const DIRECTORY = path.resolve('/agent/_temp/azure-wif-abc');
const CONFIG_FILE = path.join(DIRECTORY, 'token-command.json');

/** The configuration as the step writes it (src/pipeline/step.ts), as JSON. */
function written(): Record<string, unknown> {
  const connection = wifConnection({
    data: { environment: 'AzureCloud', subscriptionId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' },
  });
  const config = {
    vault: { address: 'http://vault.internal:8200', role: 'ci', authPath: 'jwt' },
    ...commandConfig(
      connection,
      { baseUrl: 'https://dev.azure.com/org/p/_apis/oidctoken', apiVersion: '7.1', body: '' },
      path.join(DIRECTORY, 'federated-token.jwt'),
      {
        caFile: '/agent/ca.pem',
        proxy: { proxyUrl: 'http://proxy:3128', proxyUsername: 'u', proxyBypassHosts: ['localhost'] },
        requestTimeoutMs: 30_000,
        deadlineMs: 120_000,
      },
    ),
  };
  return JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
}

// The edits reach into nested JSON, which is untyped by nature.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function problem(edit: (config: Record<string, any>) => void): string {
  const config = written();
  edit(config);
  try {
    parseTokenCommandConfig(JSON.stringify(config), CONFIG_FILE);
  } catch (error) {
    assert.ok(error instanceof ConfigProblem, String(error));
    return error.message;
  }
  assert.fail('expected the configuration to be refused');
}

describe('token-command.json, read by azure-wif-token and the renewer', () => {
  it('reads back exactly what the task writes', () => {
    const config = written();
    assert.deepEqual(
      JSON.parse(JSON.stringify(parseTokenCommandConfig(JSON.stringify(config), CONFIG_FILE))),
      config,
    );
  });

  it('refuses text that is not JSON, or not this version', () => {
    assert.throws(() => parseTokenCommandConfig('{"version": 1', CONFIG_FILE), {
      name: 'ConfigProblem',
      message: 'it is not JSON',
    });
    assert.equal(
      problem((c) => (c.version = 2)),
      'its version is not 1',
    );
  });

  it('names the field that is missing or of the wrong type', () => {
    assert.equal(
      problem((c) => delete c.connection),
      'connection is not an object',
    );
    assert.equal(
      problem((c) => (c.connection.clientId = 'not-a-guid')),
      'connection.clientId is not a valid value',
    );
    assert.equal(
      problem((c) => (c.connection.scopeLevel = 'Tenant')),
      'connection.scopeLevel is not a valid value',
    );
    assert.equal(
      problem((c) => (c.connection.cloud.authorityHost = 'http://login.example/')),
      'connection.cloud.authorityHost is not a valid value',
    );
    assert.equal(
      problem((c) => (c.oidcEndpoint.baseUrl = 42)),
      'oidcEndpoint.baseUrl is not a string',
    );
    assert.equal(
      problem((c) => delete c.oidcEndpoint.body),
      'oidcEndpoint.body is not a string',
    );
    assert.equal(
      problem((c) => (c.deadlineMs = '120000')),
      'config.deadlineMs is not a positive whole number',
    );
    assert.equal(
      problem((c) => (c.proxy.proxyBypassHosts = 'localhost')),
      'proxy.proxyBypassHosts is not a list of strings',
    );
    assert.equal(
      problem((c) => (c.vault.address = 'file:///etc/passwd')),
      'vault.address is not a valid value',
    );
  });

  it('refuses a proxy password, which the task never writes to disk', () => {
    assert.equal(
      problem((c) => (c.proxy.proxyPassword = 'p')),
      'proxy holds a password, which the task never writes',
    );
  });

  it("refuses a token file outside the configuration's own directory", () => {
    assert.equal(
      problem((c) => (c.federatedTokenFile = path.resolve('/home/user/.bashrc'))),
      "config.federatedTokenFile is not in the configuration's own directory",
    );
  });
});

describe("the renewer's stdin", () => {
  it('reads the job access token and the proxy password', () => {
    assert.deepEqual(parseRenewerSecrets('{"jobAccessToken":"t","proxyPassword":"p"}'), {
      jobAccessToken: 't',
      proxyPassword: 'p',
    });
  });

  for (const [input, message] of [
    ['', 'stdin is not JSON'],
    ['{}', 'no job access token'],
    ['{"jobAccessToken":""}', 'no job access token'],
    ['{"jobAccessToken":"t","proxyPassword":7}', 'the proxy password is not a string'],
  ]) {
    it(`refuses ${JSON.stringify(input)}: ${message}`, () => {
      assert.throws(() => parseRenewerSecrets(input), { message });
    });
  }
});
