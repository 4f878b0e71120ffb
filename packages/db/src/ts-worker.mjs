// Runs a TypeScript module on a worker thread. The services run their sources through
// tsx with no build step, and a worker thread does not inherit tsx's module hooks (nor
// vitest's), so it registers them itself before it loads the module named in workerData.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.module);
