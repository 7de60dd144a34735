import { unusedModule } from './unused';

// azure-pipelines-task-lib/toolrunner (and with it `q`) runs external tools: tl.tool, tl.exec, tl.execSync,
// tl.execAsync. task.js re-exports ToolRunner at load time, so that member may be read; it throws when used.
export = unusedModule(
  'azure-pipelines-task-lib/toolrunner',
  'the task runs no external tool (tl.tool, tl.exec, tl.execSync, tl.execAsync)',
  ['ToolRunner'],
);
