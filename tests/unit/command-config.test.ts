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

  for (const [why, file] of [
    ['outside the private directory', path.resolve('/home/user/.bashrc')],
    ['naming another file beside the configuration', CONFIG_FILE],
    ['in a folder below it', path.join(DIRECTORY, 'bin', 'federated-token.jwt')],
  ]) {
    it(`refuses a token file ${why}`, () => {
      assert.equal(
        problem((c) => (c.federatedTokenFile = file)),
        "config.federatedTokenFile is not the task's federated-token.jwt beside the configuration",
      );
    });
  }

  it('reads a Windows configuration whose paths differ from the token file only in case', () => {
    const config = written();
    config.federatedTokenFile = 'C:\\agent\\_work\\_temp\\azure-wif-abc\\federated-token.jwt';
    const windowsConfigFile = 'c:\\Agent\\_work\\_temp\\azure-wif-abc\\token-command.json';
    const parsed = parseTokenCommandConfig(JSON.stringify(config), windowsConfigFile, path.win32);
    assert.equal(parsed.federatedTokenFile, config.federatedTokenFile);
    assert.throws(
      () =>
        parseTokenCommandConfig(
          JSON.stringify(config),
          'c:\\Agent\\_work\\_temp\\azure-wif-xyz\\token-command.json',
          path.win32,
        ),
      { message: "config.federatedTokenFile is not the task's federated-token.jwt beside the configuration" },
    );
  });

  it('reads settings the agent leaves empty as absent', () => {
    const config = written();
    config.caFile = '';
    (config.proxy as Record<string, unknown>).proxyUsername = '';
    const parsed = parseTokenCommandConfig(JSON.stringify(config), CONFIG_FILE);
    assert.equal(parsed.caFile, undefined);
    assert.equal(parsed.proxy?.proxyUsername, undefined);
  });

  for (const [kind, fields] of [
    [
      'an Azure Stack Hub connection',
      { url: 'https://management.local.azurestack.external/', data: { environment: 'AzureStack' } },
    ],
    [
      'a Machine Learning workspace connection',
      {
        data: {
          environment: 'AzureCloud',
          scopeLevel: 'AzureMLWorkspace',
          subscriptionId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
          resourceGroupName: 'ml-rg',
          mlWorkspaceName: 'ws1',
          mlWorkspaceLocation: 'westeurope',
        },
      },
    ],
    ['a management group connection', { data: { scopeLevel: 'ManagementGroup', managementGroupId: 'mg-1' } }],
  ] as const) {
    it(`reads back ${kind}, and a proxy without a user name, as written`, () => {
      const connection = wifConnection(fields);
      if (connection.cloud.metadataUrl) {
        // The step writes the cloud as the Azure Stack Hub's metadata named it (core/acquire.ts, resolveCloud).
        connection.cloud = {
          ...connection.cloud,
          authorityHost: 'https://login.microsoftonline.com/',
          resourceManager: 'https://management.azurestackhub.example/71fe2a27-eeee-4a3c-b0a4-1d2d5e0f4c11',
        };
      }
      const config = {
        ...commandConfig(
          connection,
          { baseUrl: 'https://tfs.example/tfs/c/p/_apis/oidctoken', apiVersion: '7.1-preview.1', body: '{}' },
          path.join(DIRECTORY, 'federated-token.jwt'),
          { proxy: { proxyUrl: 'http://proxy:3128' }, requestTimeoutMs: 1000, deadlineMs: 2000 },
        ),
      };
      const json = JSON.stringify(config);
      assert.equal(JSON.stringify(parseTokenCommandConfig(json, CONFIG_FILE)), json);
    });
  }
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
