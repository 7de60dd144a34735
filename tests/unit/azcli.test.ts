import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { azInvocation, cloudCommands, signInAzureCli } from '../../src/core/azure-cli';
import { TaskFailure } from '../../src/core/errors';
import type { AzureConnection } from '../../src/core/connection';
import { RecordingLogger, wifConnection } from './fakes';

function connection(data: Record<string, string>, url = 'https://management.azure.com/'): AzureConnection {
  return wifConnection({ id: '0f6a8f4e-2c1b-4a5e-9d3c-7b8a9c0d1e2f', url, data });
}

describe('the Azure CLI sign-in', () => {
  describe("selects the connection's cloud as Microsoft's AzureCLI@2 does, by its environment name", () => {
    const known: Array<[Record<string, string>, string]> = [
      [{ environment: 'AzureCloud' }, 'AzureCloud'],
      [{ environment: 'azurecloud', activeDirectoryAuthority: 'https://login.windows.net/' }, 'AzureCloud'],
      [{ environment: 'AzureChinaCloud' }, 'AzureChinaCloud'],
      [{ environment: 'AzureUSGovernment' }, 'AzureUSGovernment'],
      [
        {
          environment: 'AzureGermanCloud',
          activeDirectoryAuthority: 'https://login.microsoftonline.de/',
          activeDirectoryServiceEndpointResourceId: 'https://management.core.cloudapi.de/',
        },
        'AzureGermanCloud',
      ],
    ];
    for (const [data, name] of known) {
      it(`${JSON.stringify(data)} → az cloud set --name ${name}`, () => {
        assert.deepEqual(cloudCommands(connection(data)), [
          { what: `select the cloud ${name}`, args: ['cloud', 'set', '--name', name] },
        ]);
      });
    }

    it('registers a cloud of its own for Azure Stack Hub and other clouds az does not know', () => {
      const stack = connection(
        {
          environment: 'AzureStack',
          activeDirectoryAuthority: 'https://login.microsoftonline.com/',
          activeDirectoryServiceEndpointResourceId: 'https://management.stack.example/abc',
        },
        'https://management.local.azurestack.external/',
      );
      assert.deepEqual(cloudCommands(stack), [
        {
          what: "register the connection's cloud",
          args: [
            'cloud',
            'register',
            '--name',
            'AzureWorkloadIdentity',
            '--endpoint-active-directory',
            'https://login.microsoftonline.com',
            '--endpoint-resource-manager',
            'https://management.local.azurestack.external',
            '--endpoint-active-directory-resource-id',
            'https://management.stack.example/abc/',
            '--endpoint-management',
            'https://management.stack.example/abc/',
            '--endpoint-active-directory-graph-resource-id',
            'https://graph.windows.net/',
          ],
        },
        { what: "select the connection's cloud", args: ['cloud', 'set', '--name', 'AzureWorkloadIdentity'] },
      ]);
    });

    it('registers a cloud of its own when a named cloud signs in at an authority az would not use', () => {
      const custom = connection({
        environment: 'AzureCloud',
        activeDirectoryAuthority: 'https://127.0.0.1:8443/adfs/',
      });
      assert.deepEqual(
        cloudCommands(custom).map((c) => c.args.slice(0, 2)),
        [
          ['cloud', 'register'],
          ['cloud', 'set'],
        ],
      );
    });
  });

  it('runs az itself, not a shell, on POSIX', () => {
    assert.deepEqual(azInvocation('/usr/bin/az', ['login', 'a&b'], 'linux'), {
      file: '/usr/bin/az',
      args: ['login', 'a&b'],
      windowsVerbatimArguments: false,
    });
  });

  describe('when az cannot be started at all', () => {
    let directory: string;
    beforeEach(() => {
      directory = fs.mkdtempSync(path.join(os.tmpdir(), 'wif-az-'));
      // An az on PATH whose interpreter is gone, as after a half-removed install: spawn fails with ENOENT.
      fs.writeFileSync(path.join(directory, 'az'), '#!/nonexistent/python3\n', { mode: 0o755 });
    });
    afterEach(() => fs.rmSync(directory, { recursive: true, force: true }));

    it('fails the sign-in as a TaskFailure with the remedy, not as a bug to report', async function () {
      if (process.platform === 'win32') this.skip();
      const az = path.join(directory, 'az');
      await assert.rejects(
        signInAzureCli({
          connection: connection({ environment: 'AzureCloud' }),
          federatedTokenFile: path.join(directory, 'token'),
          workDirectory: directory,
          logger: new RecordingLogger(),
          env: { PATH: directory },
        }),
        (error: unknown) => {
          assert.ok(error instanceof TaskFailure, String(error));
          assert.equal(
            error.message,
            `The Azure CLI could not select the cloud AzureCloud: spawn ${az} ENOENT. ` +
              'Check that the agent has a working Azure CLI (az version), or turn azureCliLogin off and sign in in a script step.',
          );
          return true;
        },
      );
    });
  });
});
