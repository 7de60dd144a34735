import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  VERSION_FILES,
  bumpVersion,
  nextVersion,
  readManifests,
  rewriteVersions,
  versionDisagreements,
} from '../../tools/version';
import { REPO_ROOT } from '../../tools/repo-root';

function fixture(version = '1.2.3') {
  const [Major, Minor, Patch] = version.split('.').map(Number);
  return {
    packageJson: { name: 'x', version },
    taskJson: { name: 'X', version: { Major, Minor, Patch } },
    extensionJson: { id: 'x', version },
    packageLockJson: { name: 'x', version, packages: { '': { name: 'x', version } } },
  };
}

describe('manifest versions', () => {
  describe('versionDisagreements', () => {
    it('finds none in the real package.json, package-lock.json, task.json and vss-extension.json', () => {
      const m = readManifests(REPO_ROOT);
      assert.deepEqual(
        versionDisagreements(
          m['package.json'],
          m['task.json'],
          m['vss-extension.json'],
          m['package-lock.json'],
        ),
        [],
      );
    });

    it('finds none when all agree', () => {
      const f = fixture();
      assert.deepEqual(
        versionDisagreements(f.packageJson, f.taskJson, f.extensionJson, f.packageLockJson),
        [],
      );
    });

    it('fails on a task.json that was not bumped', () => {
      const f = fixture();
      f.taskJson.version.Patch = 2;
      assert.deepEqual(versionDisagreements(f.packageJson, f.taskJson, f.extensionJson), [
        'task.json: version is 1.2.2, package.json says 1.2.3',
      ]);
    });

    it('fails on a vss-extension.json that was not bumped', () => {
      const f = fixture();
      f.extensionJson.version = '1.3.0';
      assert.deepEqual(versionDisagreements(f.packageJson, f.taskJson, f.extensionJson), [
        'vss-extension.json: version is "1.3.0", package.json says 1.2.3',
      ]);
    });

    it('fails on a vss-extension.json without a version', () => {
      const f = fixture();
      assert.deepEqual(versionDisagreements(f.packageJson, f.taskJson, { id: 'x' }), [
        'vss-extension.json: version is missing, package.json says 1.2.3',
      ]);
    });

    it('fails on task.json version parts that are not integers', () => {
      const f = fixture();
      const taskJson = { version: { Major: 1, Minor: '2', Patch: 3 } };
      assert.deepEqual(versionDisagreements(f.packageJson, taskJson, f.extensionJson), [
        'task.json: version.Minor must be a non-negative integer, not "2"',
      ]);
    });

    it('fails on a package.json version task.json cannot express', () => {
      const f = fixture();
      assert.deepEqual(versionDisagreements({ version: '1.2.3-beta.1' }, f.taskJson, f.extensionJson), [
        'package.json: version "1.2.3-beta.1" is not a plain major.minor.patch version, which task.json could not express',
      ]);
    });

    it('fails on a package-lock.json left behind', () => {
      const f = fixture();
      const lock = { version: '1.2.2', packages: { '': { version: '1.2.2' } } };
      assert.deepEqual(versionDisagreements(f.packageJson, f.taskJson, f.extensionJson, lock), [
        'package-lock.json: version is "1.2.2", package.json says 1.2.3',
        'package-lock.json: packages[""].version is "1.2.2", package.json says 1.2.3',
      ]);
    });
  });

  describe('nextVersion', () => {
    it('bumps major, minor and patch', () => {
      assert.equal(nextVersion('0.1.9', 'patch'), '0.1.10');
      assert.equal(nextVersion('0.1.9', 'minor'), '0.2.0');
      assert.equal(nextVersion('0.1.9', 'major'), '1.0.0');
    });

    it('takes an explicit higher version', () => {
      assert.equal(nextVersion('0.1.9', '0.10.0'), '0.10.0');
    });

    it('refuses a version that is not higher, or not a version', () => {
      assert.throws(() => nextVersion('0.2.0', '0.1.9'), /not higher than the current version 0\.2\.0/);
      assert.throws(() => nextVersion('0.2.0', '0.2.0'), /not higher/);
      assert.throws(() => nextVersion('0.2.0', 'v1'), /Expected major, minor, patch or a version/);
      assert.throws(() => nextVersion('0.2.0', '1.0.0-rc.1'), /Expected major, minor, patch or a version/);
    });
  });

  describe('bumpVersion on a copy of the repository files', () => {
    let dir: string;

    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'version-bump-'));
      for (const file of VERSION_FILES) fs.copyFileSync(path.join(REPO_ROOT, file), path.join(dir, file));
    });

    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('moves all four files together and changes only the version lines', () => {
      const before = Object.fromEntries(
        VERSION_FILES.map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]),
      );
      const { from, to } = bumpVersion(dir, 'minor');
      assert.equal(to, nextVersion(from, 'minor'));
      const m = readManifests(dir);
      assert.deepEqual(
        versionDisagreements(
          m['package.json'],
          m['task.json'],
          m['vss-extension.json'],
          m['package-lock.json'],
        ),
        [],
      );
      assert.equal((m['package.json'] as { version: string }).version, to);
      for (const file of VERSION_FILES) {
        const oldLines = before[file].split('\n');
        const newLines = fs.readFileSync(path.join(dir, file), 'utf8').split('\n');
        assert.equal(newLines.length, oldLines.length, `${file} keeps its layout`);
        const changed = newLines.filter((line, i) => line !== oldLines[i]);
        assert.ok(changed.length > 0, `${file} changed`);
        for (const line of changed) assert.match(line, /"(version|Minor|Patch|Major)"/, `${file}: ${line}`);
      }
    });

    it('sets an explicit version even when the files disagree, and refuses a bump then', () => {
      const taskPath = path.join(dir, 'task.json');
      fs.writeFileSync(taskPath, fs.readFileSync(taskPath, 'utf8').replace(/"Patch": \d+/, '"Patch": 99'));
      assert.throws(() => bumpVersion(dir, 'patch'), /versions disagree/);
      bumpVersion(dir, '7.0.0');
      const m = readManifests(dir);
      assert.deepEqual(
        versionDisagreements(
          m['package.json'],
          m['task.json'],
          m['vss-extension.json'],
          m['package-lock.json'],
        ),
        [],
      );
      assert.deepEqual((m['task.json'] as { version: unknown }).version, { Major: 7, Minor: 0, Patch: 0 });
    });

    it('refuses to rewrite a file whose version it cannot find safely', () => {
      const extensionPath = path.join(dir, 'vss-extension.json');
      const manifest = JSON.parse(fs.readFileSync(extensionPath, 'utf8')) as Record<string, unknown>;
      // A nested "version" first: the top-level one is no longer the first match.
      fs.writeFileSync(extensionPath, JSON.stringify({ nested: { version: 'x' }, ...manifest }, null, 2));
      assert.throws(
        () => rewriteVersions(dir, '9.9.9'),
        /Could not update the version in vss-extension\.json/,
      );
    });
  });
});
