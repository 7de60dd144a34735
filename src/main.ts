/* eslint-disable @typescript-eslint/no-require-imports */
// One bundle serves three roles, so the package carries one copy of the code:
//  - the task step, as the agent runs it (`node dist/main.js`);
//  - the on-demand command `azure-wif-token` a later step runs through the launcher the task put on PATH;
//  - the job-wide token renewer the task starts in the background (`node dist/main.js renew …`).
// Each role is loaded lazily, so the command and the renewer do not load task-lib: its import runs _loadData
// (azure-pipelines-task-lib node/task.ts → internal.ts), which writes a ##vso[task.debug] line to stdout, a vault key
// file, and moves ENDPOINT_AUTH_* and SECRET_* out of process.env.
// No require.main guard: the agent and task-lib's mock runner both load this file to run it.
if (process.argv[2] === 'azure-wif-token') {
  const { runCommand } = require('./command/cli') as typeof import('./command/cli');
  void runCommand(process.argv.slice(3)).then((code) => {
    process.exitCode = code;
  });
} else if (process.argv[2] === 'renew') {
  const { runRenewer } = require('./renewer/process') as typeof import('./renewer/process');
  void runRenewer(process.argv.slice(3)).then((code) => process.exit(code));
} else {
  const { run } = require('./pipeline/step') as typeof import('./pipeline/step');
  void run();
}
