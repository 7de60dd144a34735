import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { ESLint } from 'eslint';
import { REPO_ROOT } from '../../tools/repo-root';

/**
 * The folders' boundaries (eslint.config.mjs, docs/design.md), shown to hold: each probe is linted as if it
 * were a file in that folder, and the rule that guards the boundary must name it.
 */
const eslint = new ESLint({ cwd: REPO_ROOT });

async function restrictedImports(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport {};\n`, { filePath: path.join(REPO_ROOT, file) });
  return result.messages
    .filter((message) => message.ruleId === 'no-restricted-imports')
    .map((message) => message.message);
}

const TASK_LIB = "import * as tl from 'azure-pipelines-task-lib/task';\nvoid tl;";
const TYPED_REST_CLIENT = "import { HttpClient } from 'typed-rest-client/HttpClient';\nvoid HttpClient;";

describe('architecture boundaries', () => {
  it('lets only the pipeline glue load task-lib', async () => {
    assert.deepEqual(await restrictedImports('src/pipeline/probe.ts', TASK_LIB), []);
    for (const file of [
      'src/core/probe.ts',
      'src/command/probe.ts',
      'src/renewer/probe.ts',
      'src/probe.ts',
    ]) {
      const messages = await restrictedImports(file, TASK_LIB);
      assert.equal(messages.length, 1, file);
      assert.match(
        messages[0],
        /Only the pipeline glue \(src\/pipeline\) reads the agent through task-lib\.$/,
      );
    }
  });

  it('keeps the command and the renewer from loading the pipeline glue', async () => {
    for (const file of ['src/command/probe.ts', 'src/renewer/probe.ts']) {
      const messages = await restrictedImports(file, "import { run } from '../pipeline/step';\nvoid run;");
      assert.equal(messages.length, 1, file);
      assert.match(
        messages[0],
        /The command and the renewer do not load the pipeline glue \(it loads task-lib\)\.$/,
      );
    }
    assert.deepEqual(
      await restrictedImports(
        'src/command/probe.ts',
        "import { readState } from '../renewer/control';\nvoid readState;",
      ),
      [],
    );
  });

  it('keeps the core from importing anything outside src/core but task.json', async () => {
    for (const file of ['src/core/probe.ts', 'src/core/http.ts']) {
      const messages = await restrictedImports(
        file,
        "import { readState } from '../renewer/control';\nvoid readState;",
      );
      assert.equal(messages.length, 1, file);
      assert.match(
        messages[0],
        /The core imports nothing outside src\/core: it takes plain values and injected clients\.$/,
      );
    }
    assert.deepEqual(
      await restrictedImports(
        'src/core/probe.ts',
        "import { version } from '../../task.json';\nvoid version;",
      ),
      [],
    );
  });

  it('keeps typed-rest-client inside src/core/http.ts', async () => {
    assert.deepEqual(await restrictedImports('src/core/http.ts', TYPED_REST_CLIENT), []);
    for (const file of [
      'src/core/probe.ts',
      'src/pipeline/probe.ts',
      'src/command/probe.ts',
      'src/main.ts',
    ]) {
      const messages = await restrictedImports(file, TYPED_REST_CLIENT);
      assert.equal(messages.length, 1, file);
      assert.match(messages[0], /Only src\/core\/http\.ts talks to typed-rest-client\.$/);
    }
  });
});
