/**
 * `bertkit worker`: one model serving a BullMQ queue until SIGTERM. The model loads first: a model
 * that cannot load ends the command (exit 1) before it connects, so it never takes a job.
 */
import { loadModel, type LoadModelOptions } from '../../model/load.js';
import { redisOptions } from '../../queue/deps.js';
import { readEmbeddingSettings } from '../../serving/index.js';
import { QUEUE_TASKS, createWorker, serveWorkerHealth, type HealthServer, type QueueTask, type QueueWorkerOptions } from '../../queue/index.js';
import { MODEL_OPTIONS, type Command } from '../app.js';
import { UsageError, nonNegativeInt, oneOf, positiveInt } from '../usage.js';

export const QUEUE_OPTIONS = {
  redis: { type: 'string', value: 'URL', description: 'Redis, redis://HOST:PORT[/DB] (rediss:// for TLS)' },
  queue: { type: 'string', value: 'NAME', description: 'the BullMQ queue name' },
  prefix: { type: 'string', value: 'P', description: "Redis key prefix (default BullMQ's, bull)" },
} as const;

export const worker: Command = {
  name: 'worker',
  summary: 'run a model on a BullMQ job queue (Redis) until SIGTERM',
  usage: [
    'bertkit worker --redis URL --queue NAME -m ID|DIR --task TASK [--concurrency N] [--port P]',
    '',
    'Takes jobs (chunks of inputs) from the queue; the jobs in flight share one model through the',
    "batcher, so concurrent jobs fill the same forwards. A worker that dies holding a job loses it to",
    'another once its lock lapses (--lock-duration). SIGTERM (or Ctrl-C) finishes the jobs in hand and',
    'exits; a second one hands them back at once. --port serves GET /health and GET /metrics.',
    '',
    'bertkit worker --redis redis://127.0.0.1:6379 --queue vectors -m sentence-transformers/all-MiniLM-L6-v2 --task embed',
  ],
  options: {
    ...MODEL_OPTIONS,
    ...QUEUE_OPTIONS,
    task: { type: 'string', value: 'TASK', description: QUEUE_TASKS.join(', ') },
    concurrency: { type: 'string', value: 'N', description: 'jobs run at once, sharing the batcher (default 4)' },
    port: { type: 'string', value: 'P', description: 'serve GET /health and /metrics on this port' },
    host: { type: 'string', value: 'H', description: 'address for --port (default 127.0.0.1)' },
    'max-batch-tokens': { type: 'string', value: 'N', description: 'tokens per forward (batcher default 4096)' },
    'lock-duration': { type: 'string', value: 'MS', description: "a job's lock; a dead worker's jobs return after it (default 30000)" },
    'stalled-interval': { type: 'string', value: 'MS', description: 'how often to look for stalled jobs (default 30000)' },
    'max-stalled': { type: 'string', value: 'N', description: 'stalls a job survives before it fails (default 1)' },
  },
  async run(ctx) {
    const redis = ctx.str('redis');
    const queue = ctx.str('queue');
    if (redis === undefined) throw new UsageError('--redis URL is required');
    if (queue === undefined) throw new UsageError('--queue NAME is required');
    redisOptions(redis); // a malformed URL is refused before the model loads
    const task = oneOf(ctx.str('task'), 'task', QUEUE_TASKS) as QueueTask | undefined;
    if (task === undefined) throw new UsageError(`--task is required: ${QUEUE_TASKS.join(', ')}`);
    const options: Omit<QueueWorkerOptions, 'model'> = { redis, queue, task, concurrency: positiveInt(ctx.str('concurrency'), 'concurrency', 4) };
    if (ctx.str('prefix') !== undefined) options.prefix = ctx.str('prefix');
    if (ctx.str('lock-duration') !== undefined) options.lockDuration = positiveInt(ctx.str('lock-duration'), 'lock-duration', 30000);
    if (ctx.str('stalled-interval') !== undefined) options.stalledInterval = positiveInt(ctx.str('stalled-interval'), 'stalled-interval', 30000);
    if (ctx.str('max-stalled') !== undefined) options.maxStalledCount = nonNegativeInt(ctx.str('max-stalled'), 'max-stalled', 1);
    if (ctx.str('max-batch-tokens') !== undefined) options.batcher = { maxBatchTokens: positiveInt(ctx.str('max-batch-tokens'), 'max-batch-tokens', 4096) };
    const port = ctx.str('port') === undefined ? undefined : nonNegativeInt(ctx.str('port'), 'port', 0);
    const quiet = ctx.flag('quiet');
    const log = (line: string): void => {
      ctx.io.stderr.write(`bertkit worker: ${line}\n`);
    };

    const load: LoadModelOptions = {};
    if (ctx.device() !== undefined) load.device = ctx.device();
    if (ctx.threads() !== undefined) load.threads = ctx.threads();
    if (ctx.dtype() !== undefined) load.dtype = ctx.dtype();
    let dir = await ctx.modelDir();
    if (task === 'embed') {
      // As `bertkit embed` runs a sentence-transformers folder: its Transformer module, truncated
      // to its max_seq_length (pooling and normalisation the batcher reads from the folder itself).
      const st = await readEmbeddingSettings(dir);
      dir = st.modelDir;
      if (st.maxSeqLength !== null && options.batcher?.maxLength === undefined) options.batcher = { ...options.batcher, maxLength: st.maxSeqLength };
    }
    const model = await loadModel(dir, load);
    let server: HealthServer | undefined;
    try {
      const w = await createWorker({
        ...options,
        model,
        ...(quiet ? {} : { onJobStart: (job) => log(`job ${job.id}: ${job.rows} inputs${job.attemptsMade ? ` (attempt ${job.attemptsMade + 1})` : ''}`) }),
      });
      if (port !== undefined) {
        server = await serveWorkerHealth(w, { port, host: ctx.str('host') ?? '127.0.0.1' });
        log(`health and metrics on http://${ctx.str('host') ?? '127.0.0.1'}:${server.port}/health`);
      }
      log(`${w.id} ready: queue ${queue}, task ${task}, concurrency ${options.concurrency}`);
      await new Promise<void>((resolve) => {
        let signals = 0;
        const stop = (signal: string) => {
          signals++;
          if (signals === 1) {
            log(`${signal}: finishing the jobs in hand (again to hand them back now)`);
            w.close().then(resolve, resolve);
          } else {
            log(`${signal}: handing the jobs in hand back`);
            w.close({ force: true }).then(resolve, resolve);
          }
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
      });
      log('stopped');
    } finally {
      await server?.close();
      await model.dispose();
    }
  },
};
