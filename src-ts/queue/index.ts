/** Job queues (BullMQ on Redis, optional peer dependencies loaded on first use): workers, a producer, a corpus runner. */
export { createWorker, type QueueWorker, type QueueWorkerOptions, type QueueWorkerStats } from './worker.js';
export { createJobClient, type JobClient, type JobClientOptions, type SubmitOptions } from './client.js';
export { runCorpus, hasPartialOutput, type CorpusError, type CorpusOptions, type CorpusProgress, type CorpusRow, type CorpusSummary } from './corpus.js';
export { serveWorkerHealth, type HealthServer } from './health.js';
export { QUEUE_TASKS, jobIdFor, encodeVectors, decodeVectors, type JobData, type JobResult, type QueueTask, type RerankRow, type VectorEncoding } from './protocol.js';
