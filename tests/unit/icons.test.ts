import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ICONS, REPO_ROOT, pngSize, renderIcon } from '../../tools/icons';

describe('icons', () => {
  for (const icon of ICONS) {
    describe(icon.output, () => {
      const committed = () => fs.readFileSync(path.join(REPO_ROOT, icon.output));

      it(`is a ${icon.size}x${icon.size} PNG`, () => {
        assert.deepEqual(pngSize(committed()), { width: icon.size, height: icon.size });
      });

      it(`is up to date with ${icon.source} (run \`npm run icons\` after editing it)`, () => {
        const rendered = renderIcon(fs.readFileSync(path.join(REPO_ROOT, icon.source)), icon.size);
        assert.ok(
          rendered.equals(committed()),
          `${icon.output} differs from a fresh render of ${icon.source}`,
        );
      });
    });
  }

  it('pngSize refuses what is not a PNG', () => {
    assert.throws(() => pngSize(Buffer.from('<svg/>')), /not a PNG file/);
  });
});
