import * as fs from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';
import { redactTaskLibSecrets } from './redact-plugin';
import { slimBundle } from './slim-plugin';
import { shareTlsContext } from './tls-context-plugin';
import { REPO_ROOT } from './repo-root';

/** Bundles each task entry point into the single file task.json names as its handler target. */
const root = REPO_ROOT;
/** esbuild's metafile of each bundle (which input contributes how many bytes), for `npm run bench`. */
export const METAFILE_DIRECTORY = path.join(root, 'build', 'bundle-meta');

async function bundle(): Promise<void> {
  fs.mkdirSync(METAFILE_DIRECTORY, { recursive: true });
  for (const entry of ['main', 'post']) {
    const result = await build({
      entryPoints: [path.join(root, 'src', `${entry}.ts`)],
      outfile: path.join(root, 'dist', `${entry}.js`),
      bundle: true,
      minify: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      legalComments: 'linked',
      logLevel: 'warning',
      metafile: true,
      plugins: [redactTaskLibSecrets, slimBundle, shareTlsContext],
    });
    fs.writeFileSync(path.join(METAFILE_DIRECTORY, `${entry}.json`), JSON.stringify(result.metafile));
  }
}

if (require.main === module) {
  bundle().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
