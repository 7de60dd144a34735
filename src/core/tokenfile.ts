import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { restrictDirectoryToOwner, runProgram, type RunProgram } from './acl';

/**
 * Whether `child` lies strictly below `parent` (both resolved first): the post-job step only ever removes or
 * appends to what is under Agent.TempDirectory, whatever a task variable names.
 */
export function isInside(child: string, parent: string): boolean {
  const relative = path.relative(path.resolve(parent), path.resolve(child));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

export interface PrivateDirectoryOptions {
  platform?: NodeJS.Platform;
  /** Runs icacls/whoami on Windows; injectable so the exact calls are tested on any platform. */
  run?: RunProgram;
  env?: NodeJS.ProcessEnv;
}

/**
 * A directory only this user can read, under the agent's per-job temp directory: mode 0700, and on Windows
 * (where modes do nothing) an ACL naming only this user, which everything made in it inherits.
 */
export function createPrivateDirectory(
  tempDirectory: string,
  prefix: string,
  options: PrivateDirectoryOptions = {},
): string {
  fs.mkdirSync(tempDirectory, { recursive: true });
  const directory = fs.mkdtempSync(path.join(tempDirectory, prefix));
  fs.chmodSync(directory, 0o700);
  if ((options.platform ?? process.platform) === 'win32') {
    try {
      restrictDirectoryToOwner(directory, options.run ?? runProgram, options.env ?? process.env);
    } catch (error) {
      fs.rmSync(directory, { recursive: true, force: true });
      throw error;
    }
  }
  return directory;
}

/**
 * Writes `content` to `file` with mode 0600, atomically: a reader (an SDK re-reading its token file)
 * sees the old token or the new one, never a partial file. The rename alone gives readers that; no fsync,
 * which would only matter after the machine crashed, when the job and its temp directory are gone anyway,
 * and costs milliseconds on a busy disk (`npm run bench`).
 */
export function writeSecretFileAtomic(file: string, content: string): void {
  const staging = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = fs.openSync(staging, 'wx', 0o600);
  try {
    fs.writeSync(fd, content);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(staging, file);
  } catch (error) {
    fs.rmSync(staging, { force: true });
    throw error;
  }
}
