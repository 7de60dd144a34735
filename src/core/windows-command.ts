import * as path from 'node:path';

/**
 * Running a batch file (az.cmd) on Windows without `shell: true`. Node refuses to spawn .cmd/.bat directly
 * since the CVE-2024-27980 fix (EINVAL), and a shell given our arguments unescaped would run anything after
 * a `&`. So either skip the batch file (az.cmd only runs `"%~dp0..\python.exe" -IBm azure.cli %*`), or run
 * cmd.exe ourselves with every argument quoted for the C runtime and then caret-escaped for cmd.
 */

export interface Invocation {
  file: string;
  args: string[];
  /** True when `args` is already a command line cmd.exe must receive as is. */
  windowsVerbatimArguments: boolean;
}

/** Quotes one argument as the Microsoft C runtime (and Python) splits a command line back into argv. */
export function quoteWindowsArgument(arg: string): string {
  let quoted = '"';
  let backslashes = 0;
  for (const char of arg) {
    if (char === '\\') {
      backslashes++;
      continue;
    }
    // Backslashes are literal unless they precede a quote: double them there, and escape the quote.
    quoted += char === '"' ? '\\'.repeat(backslashes * 2 + 1) + '"' : '\\'.repeat(backslashes) + char;
    backslashes = 0;
  }
  // Trailing backslashes precede the closing quote, so they are doubled too.
  return `${quoted}${'\\'.repeat(backslashes * 2)}"`;
}

/** Every character cmd.exe treats specially outside quotes (quotes included, so cmd never enters a quoted run). */
const CMD_METACHARACTERS = /([()[\]%!^"`<>&|;, \t*?=])/g;

/** Prefixes each cmd metacharacter with ^, once per time cmd will parse the text. */
export function escapeForCmd(text: string, times: 1 | 2): string {
  return text.replace(CMD_METACHARACTERS, times === 2 ? '^^^$1' : '^$1');
}

/**
 * The command line for `cmd.exe /d /v:off /s /c "<line>"` that runs a batch file with exactly `args`.
 * Arguments are escaped twice: once for cmd's own parse of the line, once for the batch file's parse of the
 * line in which it expands %*. /d skips AutoRun, /v:off keeps `!` literal whatever the registry says.
 * A CR, LF or NUL cannot be passed through cmd at all, so such an argument is refused.
 */
export function cmdInvocation(comspec: string, batchFile: string, args: string[]): Invocation {
  for (const arg of args) {
    if (/[\r\n\0]/.test(arg)) {
      throw new Error('an argument holds a line break or NUL, which cmd.exe cannot pass to a batch file');
    }
  }
  // The batch file in plain quotes, as Node quotes a .cmd it runs: cmd looks the command name up before it
  // would honour a caret, so `C:\Program^ Files\…` is not found (seen under wine's cmd, tests/e2e/windows.test.ts).
  // Inside quotes only % still expands, and a Windows path cannot hold ".
  if (/[%"]/.test(batchFile)) {
    throw new Error(`the path ${batchFile} holds % or ", which cmd.exe would expand or end the quotes at`);
  }
  const line = [`"${batchFile}"`, ...args.map((arg) => escapeForCmd(quoteWindowsArgument(arg), 2))].join(' ');
  return { file: comspec, args: ['/d', '/v:off', '/s', '/c', `"${line}"`], windowsVerbatimArguments: true };
}

/**
 * How to run az with `args` on Windows: its own python.exe when az.cmd sits in the installer's wbin folder
 * (`<root>\wbin\az.cmd` runs `<root>\python.exe -IBm azure.cli`), else az.cmd through a carefully quoted cmd.
 */
export function azWindowsInvocation(
  az: string,
  args: string[],
  exists: (file: string) => boolean,
  comspec = 'cmd.exe',
): Invocation {
  if (!/\.(cmd|bat)$/i.test(az)) return { file: az, args, windowsVerbatimArguments: false };
  const python = path.win32.join(path.win32.dirname(az), '..', 'python.exe');
  if (exists(python)) {
    return { file: python, args: ['-IBm', 'azure.cli', ...args], windowsVerbatimArguments: false };
  }
  return cmdInvocation(comspec, az, args);
}

/**
 * Finds a command on Path as cmd.exe would (each PATHEXT extension in its order), so a caller can tell a batch
 * file from a program without asking a shell. Undefined when no directory has it.
 */
export function findWindowsCommand(
  command: string,
  env: NodeJS.ProcessEnv,
  exists: (file: string) => boolean,
): string | undefined {
  const extensions = (env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean);
  const pathValue = env.PATH ?? env.Path ?? '';
  for (const directory of pathValue.split(';').filter(Boolean)) {
    for (const extension of extensions) {
      const candidate = path.win32.join(directory, `${command}${extension.toLowerCase()}`);
      if (exists(candidate)) return candidate;
    }
  }
  return undefined;
}

/** A command as `exec` runs it: found on Path; a name with a directory or an extension, or not found, as it is. */
export function resolveWindowsCommand(
  command: string,
  env: NodeJS.ProcessEnv,
  exists: (file: string) => boolean,
): string {
  if (/[\\/]/.test(command) || path.win32.extname(command) !== '') return command;
  return findWindowsCommand(command, env, exists) ?? command;
}

/** How to run any command on Windows without a shell: a batch file through the quoted cmd route, else directly. */
export function windowsInvocation(file: string, args: string[], comspec = 'cmd.exe'): Invocation {
  return /\.(cmd|bat)$/i.test(file)
    ? cmdInvocation(comspec, file, args)
    : { file, args, windowsVerbatimArguments: false };
}
