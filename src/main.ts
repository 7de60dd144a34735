/* eslint-disable @typescript-eslint/no-require-imports */
// One bundle serves two roles, so the package carries one copy of the code:
//  - the task step, as the agent runs it (`node dist/main.js`);
//  - the on-demand command `azure-wif-token` a later step runs through the launcher the task put on PATH.
// Each role is loaded lazily, so the command does not load task-lib (whose import writes to stdout).
// No require.main guard: the agent and task-lib's mock runner both load this file to run it.
if (process.argv[2] === 'azure-wif-token') {
  const { runCommand } = require('./command') as typeof import('./command');
  void runCommand(process.argv.slice(3)).then((code) => {
    process.exitCode = code;
  });
} else {
  const { run } = require('./task') as typeof import('./task');
  void run();
}
