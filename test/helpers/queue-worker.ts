/**
 * A queue worker for the failure tests (run with node --import=tsx): createWorker as `bertkit
 * worker` does, printing `start <job> <attempts>` per job, and holding its `holdAt`-th job (`hold
 * <job>`) until the file `release` exists, or forever, so a test can kill it, or restart Redis,
 * while a job is certainly in its hands. QUEUE_WORKER holds the options as JSON.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createWorker, loadModel } from '../../src-ts/index.js';

const cfg = JSON.parse(process.env.QUEUE_WORKER ?? '{}') as {
  redis: string;
  queue: string;
  model: string;
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
  maxStalledCount?: number;
  holdAt?: number;
  release?: string;
};
const model = await loadModel(cfg.model);
let started = 0;
const worker = await createWorker({
  redis: cfg.redis,
  queue: cfg.queue,
  model,
  task: 'embed',
  concurrency: cfg.concurrency ?? 1,
  ...(cfg.lockDuration ? { lockDuration: cfg.lockDuration } : {}),
  ...(cfg.stalledInterval ? { stalledInterval: cfg.stalledInterval } : {}),
  ...(cfg.maxStalledCount ? { maxStalledCount: cfg.maxStalledCount } : {}),
  onJobStart: async (job) => {
    started++;
    console.log(`start ${job.id} ${job.attemptsMade}`);
    if (started !== cfg.holdAt) return;
    console.log(`hold ${job.id}`);
    while (cfg.release === undefined || !existsSync(cfg.release)) await sleep(20);
    console.log(`released ${job.id}`);
  },
});
console.log(`ready ${worker.id}`);
process.on('SIGTERM', () => {
  void worker.close().then(async () => {
    await model.dispose();
    process.exit(0);
  });
});
