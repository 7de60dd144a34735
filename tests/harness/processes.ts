import * as fs from 'node:fs';

/**
 * Whether the process with this pid is still running. A process that has exited but not been reaped (a zombie,
 * state Z in /proc/<pid>/stat on Linux) still answers signal 0, so it counts as gone.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}
