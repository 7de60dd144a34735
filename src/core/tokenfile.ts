import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** A directory only this user can read, under the agent's per-job temp directory. */
export function createPrivateDirectory(tempDirectory: string, prefix: string): string {
  fs.mkdirSync(tempDirectory, { recursive: true });
  const directory = fs.mkdtempSync(path.join(tempDirectory, prefix));
  fs.chmodSync(directory, 0o700);
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
