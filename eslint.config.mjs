import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const TASK_LIB = {
  group: ['azure-pipelines-task-lib', 'azure-pipelines-task-lib/*'],
  message: 'Only the pipeline glue (src/pipeline) reads the agent through task-lib.',
};
const TYPED_REST_CLIENT = {
  group: ['typed-rest-client', 'typed-rest-client/*'],
  message: 'Only src/core/http.ts talks to typed-rest-client.',
};
// Any relative path that reaches the glue or an entry point that loads it, however it is spelled
// ('../pipeline/step', './../pipeline', '../post', '../../src/pipeline/agent').
const PIPELINE_GLUE = {
  regex: '^\\.{1,2}/(.*/)?(pipeline|post|main)(/|$)',
  message: 'The command and the renewer do not load the pipeline glue (it loads task-lib).',
};
// Any relative path with a '..' step leaves src/core (which has no subfolders), but '../../task.json'.
const OUTSIDE_CORE = {
  regex: '^(?!\\.\\./\\.\\./task\\.json$)(.*/)?\\.\\.(/|$)',
  message: 'The core imports nothing outside src/core: it takes plain values and injected clients.',
};

/** One no-restricted-imports setting per group of files (a later setting for the same file replaces an earlier one). */
function boundary(files, ignores, patterns) {
  return { files, ignores, rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['node_modules/', 'build/', 'dist/', 'out/', '.cache/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  // The architecture, enforced (docs/design.md): the pipeline glue (src/pipeline) is the only reader of the
  // agent through task-lib; the command and the renewer run in later steps and in the background without it
  // (task-lib writes to stdout as it loads: src/main.ts says what, from task-lib's source) and without the glue; the core takes plain values and injected
  // clients and imports nothing beside it; typed-rest-client stays inside the one transport module.
  // Every file under src/ first (a new folder included); the folders below then replace it with their own.
  boundary(['src/**/*.ts'], [], [TASK_LIB, TYPED_REST_CLIENT]),
  boundary(['src/pipeline/**/*.ts'], [], [TYPED_REST_CLIENT]),
  boundary(['src/command/**/*.ts', 'src/renewer/**/*.ts'], [], [TASK_LIB, TYPED_REST_CLIENT, PIPELINE_GLUE]),
  boundary(['src/core/**/*.ts'], ['src/core/http.ts'], [TASK_LIB, OUTSIDE_CORE, TYPED_REST_CLIENT]),
  boundary(['src/core/http.ts'], [], [TASK_LIB, OUTSIDE_CORE]),
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
