import { cleanup } from './pipeline/post-job';

void cleanup();
