import { strict as assert } from 'node:assert';
import {
  azWindowsInvocation,
  cmdInvocation,
  escapeForCmd,
  quoteWindowsArgument,
  resolveWindowsCommand,
  windowsInvocation,
} from '../../src/core/windows-command';

/**
 * The Microsoft C runtime's (and Python's) split of a command line into argv, as documented for
 * CommandLineToArgvW / "Parsing C command-line arguments": 2n backslashes + quote → n backslashes and a
 * quote toggle; 2n+1 backslashes + quote → n backslashes and a literal quote; other backslashes literal.
 */
function splitLikeMsvcrt(line: string): string[] {
  const args: string[] = [];
  let current = '';
  let inQuotes = false;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (char === '\\') {
      let count = 0;
      while (line[i] === '\\') {
        count++;
        i++;
      }
      if (line[i] === '"') {
        current += '\\'.repeat(Math.floor(count / 2));
        if (count % 2 === 1) current += '"';
        else inQuotes = !inQuotes;
      } else {
        current += '\\'.repeat(count);
        i--;
      }
      started = true;
    } else if (char === '"') {
      if (inQuotes && line[i + 1] === '"') {
        current += '"';
        i++;
      } else inQuotes = !inQuotes;
      started = true;
    } else if ((char === ' ' || char === '\t') && !inQuotes) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else {
      current += char;
      started = true;
    }
  }
  if (started) args.push(current);
  return args;
}

/**
 * One cmd.exe parse of a line in which every special character is caret-escaped: no quoted run ever starts
 * (every `"` is escaped), so each `^x` becomes x, and an unescaped metacharacter would be a command
 * separator, a redirection or an expansion: the test fails on one.
 */
function cmdParse(line: string): string {
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (char === '^') {
      out += line[++i];
      continue;
    }
    assert.ok(!/[&|<>()"%!]/.test(char), `unescaped ${char} at ${i} in ${line}`);
    out += char;
  }
  return out;
}

const NASTY = [
  'plain',
  'with space',
  'a&calc',
  'a|b',
  '<in',
  'out>',
  'x^y',
  '(paren)',
  '%PATH%',
  '%%',
  '!PATH!',
  'say "hi"',
  '"',
  '""',
  'trailing\\',
  'trailing space and backslash \\',
  'C:\\Program Files\\az\\',
  '\\\\server\\share\\',
  'back\\"quote',
  'a\\\\"b',
  'mix "&|<>^()%!" all',
  '',
  'tab\there',
  'semi;colon,comma=equals',
  '@C:\\Users\\me\\AppData\\Local\\Temp\\azure-wif-1\\federated-token.jwt',
  'ünïcödé',
];

describe('Windows command lines for az without a shell', () => {
  describe('quoteWindowsArgument (C runtime quoting)', () => {
    const exact: Array<[string, string]> = [
      ['plain', '"plain"'],
      ['with space', '"with space"'],
      ['', '""'],
      ['say "hi"', '"say \\"hi\\""'],
      ['trailing\\', '"trailing\\\\"'],
      ['C:\\dir\\file', '"C:\\dir\\file"'],
      ['back\\"quote', '"back\\\\\\"quote"'],
      ['a&b', '"a&b"'],
      ['%PATH%', '"%PATH%"'],
    ];
    for (const [arg, quoted] of exact) {
      it(`quotes ${JSON.stringify(arg)} as ${quoted}`, () => assert.equal(quoteWindowsArgument(arg), quoted));
    }

    it('round-trips every argument through the C runtime split', () => {
      for (const arg of NASTY) assert.deepEqual(splitLikeMsvcrt(quoteWindowsArgument(arg)), [arg], arg);
      assert.deepEqual(splitLikeMsvcrt(NASTY.map(quoteWindowsArgument).join(' ')), NASTY);
    });
  });

  describe('escapeForCmd', () => {
    it('carets every metacharacter once, or three times for a text cmd parses twice', () => {
      assert.equal(escapeForCmd('a&b|c<d>e^f(g)h%i!j"k', 1), 'a^&b^|c^<d^>e^^f^(g^)h^%i^!j^"k');
      assert.equal(escapeForCmd('"a b"', 2), '^^^"a^^^ b^^^"');
      assert.equal(escapeForCmd('plain-text_1.2/3\\4', 1), 'plain-text_1.2/3\\4');
    });
  });

  describe('cmdInvocation (az.cmd through cmd.exe)', () => {
    it('runs cmd.exe /d /v:off /s /c with one verbatim, quoted command line', () => {
      const invocation = cmdInvocation('C:\\Windows\\system32\\cmd.exe', 'C:\\az\\wbin\\az.cmd', [
        'login',
        'a&calc',
      ]);
      assert.deepEqual(invocation, {
        file: 'C:\\Windows\\system32\\cmd.exe',
        args: ['/d', '/v:off', '/s', '/c', '""C:\\az\\wbin\\az.cmd" ^^^"login^^^" ^^^"a^^^&calc^^^""'],
        windowsVerbatimArguments: true,
      });
    });

    it("quotes the batch file's own path for cmd, spaces and parentheses included", () => {
      const { args } = cmdInvocation('cmd.exe', 'C:\\Program Files (x86)\\CLI2\\wbin\\az.cmd', []);
      assert.equal(args[4], '""C:\\Program Files (x86)\\CLI2\\wbin\\az.cmd""');
    });

    it('refuses a batch file path that cmd would expand (%) or end the quotes in (")', () => {
      assert.throws(() => cmdInvocation('cmd.exe', 'C:\\%TEMP%\\az.cmd', []), {
        message: 'the path C:\\%TEMP%\\az.cmd holds % or ", which cmd.exe would expand or end the quotes at',
      });
    });

    it('hands python exactly the arguments after cmd and the batch file each parse the line once', () => {
      const { args } = cmdInvocation('cmd.exe', 'C:\\az\\wbin\\az.cmd', NASTY);
      // /s: cmd drops the outer quotes and parses the rest; az.cmd expands %* and cmd parses that again.
      const line = args[4].slice(1, -1);
      // The quoted batch file name is taken as it is; the arguments after it are what cmd parses.
      const batch = '"C:\\az\\wbin\\az.cmd" ';
      assert.ok(line.startsWith(batch), line);
      const afterCmd = cmdParse(line.slice(batch.length));
      // cmd expands %* once (a %NAME^% it left alone stays undefined), then parses the line's specials again.
      const afterBatch = cmdParse(afterCmd);
      assert.deepEqual(splitLikeMsvcrt(afterBatch), NASTY);
    });

    for (const bad of ['line\nbreak', 'carriage\rreturn', 'nul\0byte']) {
      it(`refuses an argument holding ${JSON.stringify(bad)}`, () => {
        assert.throws(() => cmdInvocation('cmd.exe', 'az.cmd', ['ok', bad]), {
          message: 'an argument holds a line break or NUL, which cmd.exe cannot pass to a batch file',
        });
      });
    }
  });

  describe('azWindowsInvocation', () => {
    const az = 'C:\\Program Files\\Microsoft SDKs\\Azure\\CLI2\\wbin\\az.cmd';
    const python = 'C:\\Program Files\\Microsoft SDKs\\Azure\\CLI2\\python.exe';

    it("runs az's own python.exe directly when it sits next to wbin, as az.cmd itself would", () => {
      const seen: string[] = [];
      const invocation = azWindowsInvocation(az, ['login', '--federated-token', '@C:\\t\\f.jwt'], (file) => {
        seen.push(file);
        return file === python;
      });
      assert.deepEqual(seen, [python]);
      assert.deepEqual(invocation, {
        file: python,
        args: ['-IBm', 'azure.cli', 'login', '--federated-token', '@C:\\t\\f.jwt'],
        windowsVerbatimArguments: false,
      });
    });

    it('falls back to the quoted cmd.exe route when there is no python.exe beside it', () => {
      const invocation = azWindowsInvocation(
        az,
        ['account', 'show'],
        () => false,
        'C:\\Windows\\system32\\cmd.exe',
      );
      assert.equal(invocation.file, 'C:\\Windows\\system32\\cmd.exe');
      assert.equal(invocation.windowsVerbatimArguments, true);
      assert.deepEqual(invocation.args.slice(0, 4), ['/d', '/v:off', '/s', '/c']);
    });

    it('runs an az.exe directly', () => {
      assert.deepEqual(
        azWindowsInvocation('C:\\tools\\az.exe', ['version'], () => true),
        {
          file: 'C:\\tools\\az.exe',
          args: ['version'],
          windowsVerbatimArguments: false,
        },
      );
    });
  });

  describe('azure-wif-token exec on Windows', () => {
    const files = new Set(['C:\\tools\\terraform.exe', 'C:\\npm\\tfx.cmd', 'C:\\npm\\tfx.ps1']);
    const env = { PATH: 'C:\\npm;C:\\tools', PATHEXT: '.COM;.EXE;.BAT;.CMD' };

    it('finds a command by PATH and PATHEXT, in PATH order, as cmd.exe would', () => {
      assert.equal(
        resolveWindowsCommand('terraform', env, (f) => files.has(f)),
        'C:\\tools\\terraform.exe',
      );
      assert.equal(
        resolveWindowsCommand('tfx', env, (f) => files.has(f)),
        'C:\\npm\\tfx.cmd',
      );
      assert.equal(
        resolveWindowsCommand('python.exe', env, () => false),
        'python.exe',
      );
      assert.equal(
        resolveWindowsCommand('.\\deploy', env, () => true),
        '.\\deploy',
      );
      assert.equal(
        resolveWindowsCommand('missing', env, () => false),
        'missing',
      );
    });

    it('runs a program directly and a batch file through the quoted cmd route, never a shell', () => {
      assert.deepEqual(windowsInvocation('C:\\tools\\terraform.exe', ['apply', 'a&b']), {
        file: 'C:\\tools\\terraform.exe',
        args: ['apply', 'a&b'],
        windowsVerbatimArguments: false,
      });
      assert.deepEqual(windowsInvocation('C:\\npm\\tfx.cmd', ['a&b'], 'cmd.exe'), {
        file: 'cmd.exe',
        args: ['/d', '/v:off', '/s', '/c', '""C:\\npm\\tfx.cmd" ^^^"a^^^&b^^^""'],
        windowsVerbatimArguments: true,
      });
    });
  });
});
