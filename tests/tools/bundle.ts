import * as path from 'node:path';
import { buildSync } from 'esbuild';

/** Bundles each task entry point into the single file task.json names as its handler target. */
const root = path.resolve(__dirname, '..', '..', '..');
for (const entry of ['main', 'post']) {
  buildSync({
    entryPoints: [path.join(root, 'src', `${entry}.ts`)],
    outfile: path.join(root, 'dist', `${entry}.js`),
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    legalComments: 'linked',
    logLevel: 'warning',
  });
}
