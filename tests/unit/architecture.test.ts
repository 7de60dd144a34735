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

/** Each file refuses `code` with exactly one message, which ends with `reason`. */
async function assertRefused(files: string[], code: string, reason: string): Promise<void> {
  for (const file of files) {
    const messages = await restrictedImports(file, code);
    assert.equal(messages.length, 1, `${file}: ${messages.join(' | ')}`);
    assert.ok(messages[0].endsWith(reason), `${file}: ${messages[0]}`);
  }
}

const TASK_LIB = "import * as tl from 'azure-pipelines-task-lib/task';\nvoid tl;";
const TYPED_REST_CLIENT = "import { HttpClient } from 'typed-rest-client/HttpClient';\nvoid HttpClient;";
const RENEWER_CONTROL = "import { readState } from '../renewer/control';\nvoid readState;";

describe('architecture boundaries', () => {
  it('lets only the pipeline glue load task-lib', async () => {
    assert.deepEqual(await restrictedImports('src/pipeline/probe.ts', TASK_LIB), []);
    await assertRefused(
      [
        'src/core/probe.ts',
        'src/command/probe.ts',
        'src/renewer/probe.ts',
        'src/probe.ts',
        'src/new-room/probe.ts',
      ],
      TASK_LIB,
      'Only the pipeline glue (src/pipeline) reads the agent through task-lib.',
    );
  });

  it('keeps the command and the renewer from loading the pipeline glue', async () => {
    for (const spelling of ['../pipeline/step', './../pipeline/step', '../pipeline', '../post', '../main']) {
      await assertRefused(
        ['src/command/probe.ts', 'src/renewer/probe.ts'],
        `import * as glue from '${spelling}';\nvoid glue;`,
        'The command and the renewer do not load the pipeline glue (it loads task-lib).',
      );
    }
    assert.deepEqual(await restrictedImports('src/command/probe.ts', RENEWER_CONTROL), []);
  });

  it('keeps the core from importing anything outside src/core but task.json', async () => {
    for (const spelling of ['../renewer/control', './../renewer/control', '../entry', './x/../../entry']) {
      await assertRefused(
        ['src/core/probe.ts', 'src/core/http.ts'],
        `import * as outside from '${spelling}';\nvoid outside;`,
        'The core imports nothing outside src/core: it takes plain values and injected clients.',
      );
    }
    assert.deepEqual(
      await restrictedImports('src/core/probe.ts', "import { redact } from './text';\nvoid redact;"),
      [],
    );
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
    await assertRefused(
      [
        'src/core/probe.ts',
        'src/pipeline/probe.ts',
        'src/command/probe.ts',
        'src/main.ts',
        'src/new-room/probe.ts',
      ],
      TYPED_REST_CLIENT,
      'Only src/core/http.ts talks to typed-rest-client.',
    );
  });
});
