import * as path from 'node:path';
import { build } from 'esbuild';
import { redactTaskLibSecrets } from './redact-plugin';

/** Bundles each task entry point into the single file task.json names as its handler target. */
const root = path.resolve(__dirname, '..', '..', '..');

async function bundle(): Promise<void> {
  for (const entry of ['main', 'post']) {
    await build({
      entryPoints: [path.join(root, 'src', `${entry}.ts`)],
      outfile: path.join(root, 'dist', `${entry}.js`),
      bundle: true,
      minify: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      legalComments: 'linked',
      logLevel: 'warning',
      plugins: [redactTaskLibSecrets],
    });
  }
}

bundle().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
