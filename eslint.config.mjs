import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  // The architecture, enforced: the core takes plain values and injected clients, so it imports neither task-lib
  // nor the pipeline glue beside it; typed-rest-client stays inside the one transport module.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/core/http.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['typed-rest-client', 'typed-rest-client/*'],
              message: 'Only src/core/http.ts talks to typed-rest-client.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/http.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['azure-pipelines-task-lib', 'azure-pipelines-task-lib/*'],
              message: 'The core takes plain values; read the agent in the glue (src/*.ts).',
            },
            {
              regex: '^\\.\\./(?!\\.\\./task\\.json$)',
              message: 'The core does not import the pipeline glue.',
            },
            {
              group: ['typed-rest-client', 'typed-rest-client/*'],
              message: 'Only src/core/http.ts talks to typed-rest-client.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
