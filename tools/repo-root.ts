import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The repository's root, found from this file whether it runs from its source or from build/: the nearest
 * folder above with the project's package.json and task.json. Every script and test takes paths from here.
 */
export const REPO_ROOT = findRepoRoot(__dirname);

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'task.json')))
      return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json with a task.json above ${start}`);
  }
}
