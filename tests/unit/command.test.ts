import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArguments } from '../../src/command/cli';
import { posixLauncher, windowsLauncher } from '../../src/command/launchers';
import { TaskFailure } from '../../src/core/errors';

describe('azure-wif-token', () => {
  it('defaults to printing an idToken', () => {
    assert.deepEqual(parseArguments(['--config', '/c.json']), {
      action: 'id-token',
      configFile: '/c.json',
      resource: undefined,
      command: [],
    });
  });

  it('takes a resource for an access token', () => {
    assert.deepEqual(
      parseArguments(['--config', '/c.json', 'access-token', '--resource', 'https://vault.azure.net']),
      {
        action: 'access-token',
        configFile: '/c.json',
        resource: 'https://vault.azure.net',
        command: [],
      },
    );
  });

  it('passes everything after -- to exec untouched', () => {
    assert.deepEqual(
      parseArguments(['--config', '/c.json', 'exec', '--', 'terraform', 'apply', '--resource', 'x']).command,
      ['terraform', 'apply', '--resource', 'x'],
    );
  });

  for (const [args, message] of [
    [['--config', '/c.json', 'bogus'], /^azure-wif-token: unknown argument 'bogus'\. usage: /],
    [
      ['id-token'],
      /^azure-wif-token: --config is missing; run it through the launcher the task put on PATH\.$/,
    ],
    [['--config', '/c.json', 'exec'], /^azure-wif-token exec: no command given\. usage: /],
    [
      ['--config', '/c.json', '--resource', 'x'],
      /^azure-wif-token: --resource goes with access-token\. usage: /,
    ],
  ] as const) {
    it(`refuses ${JSON.stringify(args)}`, () => {
      assert.throws(
        () => parseArguments([...args]),
        (error: unknown) => error instanceof TaskFailure && message.test(error.message),
      );
    });
  }

  it('writes a POSIX launcher that survives quotes and spaces in paths', () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "wif launcher's "));
    const script = path.join(directory, 'echo args.js');
    fs.writeFileSync(script, 'console.log(JSON.stringify(process.argv.slice(2)))');
    const launcher = path.join(directory, 'azure-wif-token');
    fs.writeFileSync(
      launcher,
      posixLauncher(process.execPath, script, path.join(directory, "con'fig.json")),
      {
        mode: 0o700,
      },
    );
    const output = execFileSync(launcher, ['exec', '--', 'a b', "c'd"], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(output), [
      'azure-wif-token',
      '--config',
      path.join(directory, "con'fig.json"),
      'exec',
      '--',
      'a b',
      "c'd",
    ]);
  });

  it('writes a Windows launcher whose paths are relative to its own folder, so cmd reads them in any code page', () => {
    assert.equal(
      windowsLauncher(
        'C:\\agent ü\\externals\\node20_1\\bin\\node.exe',
        'C:\\agent ü\\_work\\_tasks\\T_1\\0.1.0\\dist\\main.js',
        'C:\\agent ü\\_work\\_temp\\azure-wif-x\\token-command.json',
        'C:\\agent ü\\_work\\_temp\\azure-wif-x\\bin',
      ),
      '@echo off\r\n"%~dp0..\\..\\..\\..\\externals\\node20_1\\bin\\node.exe" ' +
        '"%~dp0..\\..\\..\\_tasks\\T_1\\0.1.0\\dist\\main.js" azure-wif-token --config "%~dp0..\\token-command.json" %*\r\n',
    );
  });

  it('keeps a path on another drive absolute in the Windows launcher, with % doubled so cmd does not expand it', () => {
    assert.equal(
      windowsLauncher(
        'C:\\agent\\node.exe',
        'C:\\tasks\\main.js',
        'D:\\temp 100%\\token-command.json',
        'D:\\temp 100%\\bin',
      ),
      '@echo off\r\n"C:\\agent\\node.exe" "C:\\tasks\\main.js" azure-wif-token --config "%~dp0..\\token-command.json" %*\r\n',
    );
    assert.equal(
      windowsLauncher('C:\\a%PATH%\\node.exe', 'C:\\t\\main.js', 'D:\\t\\c.json', 'D:\\t\\bin'),
      '@echo off\r\n"C:\\a%%PATH%%\\node.exe" "C:\\t\\main.js" azure-wif-token --config "%~dp0..\\c.json" %*\r\n',
    );
  });
});

describe("azure-wif-token's own setsecret command", () => {
  it('escapes like task-lib, so the agent reads back exactly the secret', async () => {
    const { setSecretCommand } = await import('../../src/command/cli');
    const { parseCommand } = await import('../harness/agent');
    for (const secret of [
      'plain',
      'a%b',
      '%AZP25',
      '%0A%0D',
      'semi;colon]bracket',
      'cr\rlf\nboth\r\n',
      '100%',
    ]) {
      const line = setSecretCommand(secret);
      assert.ok(!/[\r\n]/.test(line), JSON.stringify(line));
      assert.equal(parseCommand(line)?.data, secret, JSON.stringify(secret));
    }
  });
});
