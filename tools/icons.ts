import * as fs from 'node:fs';
import * as path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { REPO_ROOT } from './repo-root';

export { REPO_ROOT };

/**
 * Renders the icons from their SVG sources. The PNGs are committed, so packaging never needs this step;
 * run `npm run icons` after editing an SVG. System fonts are not loaded (the icons hold no text), so the
 * output depends only on the SVG and the resvg version.
 */

export interface IconSpec {
  /** SVG source, relative to the repository root. */
  source: string;
  /** PNG output, relative to the repository root. */
  output: string;
  /** Width and height in pixels. */
  size: number;
}

export const ICONS: readonly IconSpec[] = [
  // The Marketplace and the extension manager show this one (vss-extension.json `icons.default`).
  { source: 'images/extension-icon.svg', output: 'images/extension-icon.png', size: 128 },
  // The task picker and the run log show icon.png from beside task.json: 32x32, as Microsoft's tasks use.
  { source: 'images/task-icon.svg', output: 'icon.png', size: 32 },
];

export function renderIcon(svg: Buffer | string, size: number): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'width', value: size },
    font: { loadSystemFonts: false },
    shapeRendering: 2,
    logLevel: 'error',
  });
  return Buffer.from(resvg.render().asPng());
}

/** Width and height from a PNG's IHDR chunk. */
export function pngSize(png: Buffer): { width: number; height: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (png.length < 24 || !png.subarray(0, 8).equals(signature) || png.toString('ascii', 12, 16) !== 'IHDR') {
    throw new Error('not a PNG file');
  }
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

export function renderIcons(root = REPO_ROOT): { output: string; bytes: number }[] {
  return ICONS.map((icon) => {
    const png = renderIcon(fs.readFileSync(path.join(root, icon.source)), icon.size);
    fs.writeFileSync(path.join(root, icon.output), png);
    return { output: icon.output, bytes: png.length };
  });
}

if (require.main === module) {
  for (const { output, bytes } of renderIcons()) console.log(`${output}: ${bytes} bytes`);
}
