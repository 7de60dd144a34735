import { unusedModule } from './unused';

// azure-pipelines-task-lib matches file patterns with minimatch (find, match, filter, findMatch,
// legacyFindFiles); the task never searches for files.
export = unusedModule(
  'minimatch',
  "only task-lib's file-pattern functions (find, match, filter, findMatch) use it, and the task calls none of them",
);
