import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { TaskFailure } from './errors';

/**
 * Owner-only files on Windows, where modes 0600/0700 do nothing: the private directory gets an ACL that
 * names only the current user (inherited by everything made in it), and the on-demand command checks that
 * nobody else can reach its configuration. Programs run by absolute path, without a shell.
 */

export interface ProgramResult {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}
export type RunProgram = (file: string, args: string[]) => ProgramResult;

export const runProgram: RunProgram = (file, args) => {
  const result = spawnSync(file, args, { encoding: 'utf8', windowsHide: true, timeout: 30_000 });
  return {
    status: result.status,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    error: result.error,
  };
};

/** Windows system programs by absolute path, so a planted icacls.exe earlier on PATH is never run. */
export function systemProgram(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const root = env.SystemRoot ?? env.SYSTEMROOT ?? env.windir;
  return root ? path.win32.join(root, 'System32', name) : name;
}

export interface WindowsUser {
  /** DOMAIN\user as whoami prints it. */
  name: string;
  sid: string;
}

function outcome(result: ProgramResult): string {
  if (result.error) return result.error.message;
  const said = `${result.stderr} ${result.stdout}`.replace(/\s+/g, ' ').trim().slice(0, 300);
  return `exited with ${result.status}${said ? `: ${said}` : ''}`;
}

/** The current user's name and SID, from `whoami /user /fo csv /nh` ("domain\user","S-1-5-21-…"). */
export function currentWindowsUser(
  run: RunProgram = runProgram,
  env: NodeJS.ProcessEnv = process.env,
): WindowsUser {
  const result = run(systemProgram('whoami.exe', env), ['/user', '/fo', 'csv', '/nh']);
  const match = /"([^"]*)","(S-1-[0-9-]+)"/.exec(result.stdout);
  if (result.status !== 0 || !match) {
    throw new TaskFailure(
      `Could not find the current Windows user's SID to restrict the task's files to it (whoami ${outcome(result)}). ` +
        "Check that C:\\Windows\\System32\\whoami.exe runs for the agent's user.",
    );
  }
  return { name: match[1], sid: match[2] };
}

/** Replaces the directory's ACL with full control for the current user alone, inherited by its contents. */
export function restrictDirectoryToOwner(
  directory: string,
  run: RunProgram = runProgram,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const user = currentWindowsUser(run, env);
  const result = run(systemProgram('icacls.exe', env), [
    directory,
    '/inheritance:r',
    '/grant:r',
    `*${user.sid}:(OI)(CI)F`,
  ]);
  if (result.status !== 0 || result.error) {
    throw new TaskFailure(
      `Could not make ${directory} private to ${user.name} (icacls ${outcome(result)}), so the token file would be readable by others. ` +
        "Give the agent's user full control of Agent.TempDirectory, where the task keeps its token file.",
    );
  }
}

export interface AclEntry {
  principal: string;
  /** The parenthesised flags and rights, e.g. (I)(OI)(CI)(F). */
  rights: string;
  deny: boolean;
}

/** Parses `icacls <file>` output: the file name, then one `PRINCIPAL:(flags)(rights)` per line. */
export function parseIcacls(output: string, file: string): AclEntry[] {
  const entries: AclEntry[] = [];
  const lines = output.split(/\r?\n/);
  if (lines.length > 0 && lines[0].toLowerCase().startsWith(file.toLowerCase())) {
    lines[0] = lines[0].slice(file.length);
  }
  for (const line of lines) {
    const match = /^(.+?):((?:\([^()]*\))+)$/.exec(line.trim());
    if (!match) continue;
    entries.push({ principal: match[1], rights: match[2], deny: /\(DENY\)/i.test(match[2]) });
  }
  return entries;
}

const TRUSTED_PRINCIPALS = ['nt authority\\system', 's-1-5-18', 'builtin\\administrators', 's-1-5-32-544'];

/** Who besides the owner, SYSTEM and Administrators is allowed in (deny entries only take access away). */
export function othersWithAccess(entries: AclEntry[], owner: WindowsUser): string[] {
  const trusted = [...TRUSTED_PRINCIPALS, owner.name.toLowerCase(), owner.sid.toLowerCase()];
  return entries
    .filter((entry) => !entry.deny && !trusted.includes(entry.principal.toLowerCase()))
    .map((entry) => entry.principal);
}

/** Why a POSIX file is not owner-only, or undefined when it is. */
export function posixOwnerOnlyProblem(
  stat: { mode: number; uid: number },
  processUid: number,
): string | undefined {
  if (stat.uid !== processUid)
    return `it belongs to user id ${stat.uid}, not to this step's user id ${processUid}`;
  if ((stat.mode & 0o077) !== 0) {
    return `its mode is ${(stat.mode & 0o777).toString(8).padStart(4, '0')}, so other users can read or change it`;
  }
  return undefined;
}
