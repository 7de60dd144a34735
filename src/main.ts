import { run } from './task';

// No require.main guard: the agent and task-lib's mock runner both load this file to run it.
void run();
