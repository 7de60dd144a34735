import * as path from 'node:path';

/**
 * The bundle's own entry script, which the command's launchers and the renewer run. It lives beside this
 * file both in the bundle (dist/, where every module shares one __dirname) and in the unbundled build
 * (build/src/), so it is resolved here rather than from a module in a subfolder.
 */
export const ENTRY_SCRIPT = path.join(__dirname, 'main.js');
