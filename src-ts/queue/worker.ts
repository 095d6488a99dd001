/**
 * A BullMQ worker that runs one model: each job is a chunk of inputs for one task, and every job in
 * flight on this worker goes through one batcher, so concurrent jobs fill the same forwards.
 * Retries, stalled-job recovery (a worker that dies holding a job: its lock lapses and another
 * worker takes the job again), concurrency and rate limits are BullMQ's own.
 */
import { hostname } from 'node:os';
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { checkOptionNames, optionNames } from '../options.js';
import { pipeline, type FillMaskPipeline, type TokenClassificationPipeline } from '../pipelines/index.js';
import { Histogram, PrometheusText, createBatcher, writeBatcherMetrics, type Batcher, type BatcherOptions, type SequenceInput } from '../serving/index.js';
import { loadQueueDeps, redisOptions } from './deps.js';
import { QUEUE_TASKS, encodeVectors, failedReasonOf, type JobData, type JobResult, type QueueTask, type RerankRow } from './protocol.js';
import { isObject } from '../util/checks.js';

export interface QueueWorkerOptions {
  /** redis://host:port[/db] */
  redis: string;
  queue: string;
  /** A loaded model (the worker does not own it: dispose it after close()). */
  model: BertModel;
  task: QueueTask;
  /** Jobs this worker runs at once (default 4): they share the batcher's forwards. */
  concurrency?: number;
  /** The batcher's options (token budget, wait...). */
  batcher?: BatcherOptions;
  /** BullMQ: how long a job's lock lasts without renewal (ms, default 30000); a dead worker's jobs return after it. */
  lockDuration?: number;
  /** BullMQ: how often this worker looks for stalled jobs (ms, default 30000). */
  stalledInterval?: number;
  /** BullMQ: how often a job may stall before it fails (default 1). */
  maxStalledCount?: number;
  /** Redis key prefix (default BullMQ's, 'bull'). */
  prefix?: string;
  /** BullMQ's rate limit for the queue: at most `max` jobs per `duration` ms. */
  limiter?: { max: number; duration: number };
  /** Called as each job starts, awaited before it runs (logging, tracing). */
  onJobStart?: (job: { id: string; rows: number; attemptsMade: number }) => void | Promise<void>;
}

const WORKER_OPTIONS = optionNames<QueueWorkerOptions>({
  redis: true,
  queue: true,
  model: true,
  task: true,
  concurrency: true,
  batcher: true,
  lockDuration: true,
  stalledInterval: true,
  maxStalledCount: true,
  prefix: true,
  limiter: true,
  onJobStart: true,
});

export interface QueueWorkerStats {
  id: string;
  task: QueueTask;
  running: boolean;
  closing: boolean;
  /** The worker's Redis connection: 'ready', 'reconnecting', 'end'... */
  redis: string;
  activeJobs: number;
  completedJobs: number;
  failedJobs: number;
  /** Failures by error code. */
  failures: Record<string, number>;
  rows: number;
}

export interface QueueWorker {
  /** This worker's name (host:pid and a counter): what BullMQ shows as the job's processor. */
  readonly id: string;
  /** Stops taking jobs; resolves when the jobs in flight are done. `force`: drop them now (they return to the queue as stalled). */
  close(options?: { force?: boolean }): Promise<void>;
  stats(): QueueWorkerStats;
  /** Ready to take jobs: running, not closing, connected to Redis. */
  healthy(): boolean;
  /** Prometheus exposition: the batcher's metrics and the worker's job counters. */
  metrics(): string;
}

/** A job that failed on some of its rows: they go into the failedReason for the producer. */
class RowsError extends Error {
  constructor(
    readonly error: unknown,
    readonly rows: number[],
  ) {
    super(failedReasonOf(error, rows));
  }
}

const JOB_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
let workers = 0;

/** A text or a text pair, as the batcher takes them; anything else is this row's error. */
function sequenceInput(x: unknown, pairs: boolean): SequenceInput {
  if (typeof x === 'string') return x;
  if (pairs && isObject(x) && typeof x.text === 'string' && (x.textPair === undefined || typeof x.textPair === 'string')) {
    return x.textPair === undefined ? x.text : { text: x.text, textPair: x.textPair };
  }
  throw new InvalidInputError(`expected ${pairs ? 'a string or {text, textPair}' : 'a string'}, got ${x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x}`);
}

function rerankRow(x: unknown): RerankRow {
  if (isObject(x) && typeof x.query === 'string' && Array.isArray(x.documents) && x.documents.every((d) => typeof d === 'string')) return { query: x.query, documents: x.documents as string[] };
  throw new InvalidInputError('expected {query: string, documents: string[]}');
}

/** Checks every row; the bad ones fail the job together. */
function parseRows<T>(inputs: unknown[], parse: (x: unknown) => T): T[] {
  const bad: number[] = [];
  let first: unknown;
  const out = inputs.map((x, i) => {
    try {
      return parse(x);
    } catch (err) {
      bad.push(i);
      first ??= err;
      return undefined as T;
    }
  });
  if (bad.length) throw new RowsError(first, bad);
  return out;
}

/**
 * Runs `all` on the whole chunk; when it fails on input, runs `one` on each row (they still batch
 * together) to name the rows at fault, so the producer can report them and resubmit the others.
 */
async function findBadRows<T, R>(rows: T[], all: (rows: T[]) => Promise<R[]>, one: (row: T) => Promise<R>): Promise<R[]> {
  try {
    return await all(rows);
  } catch (err) {
    if (!(err instanceof InvalidInputError) || rows.length === 1) throw rows.length === 1 ? new RowsError(err, [0]) : err;
    const settled = await Promise.allSettled(rows.map(one));
    const bad = settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
    if (bad.length === 0) throw err;
    throw new RowsError((settled[bad[0]!] as PromiseRejectedResult).reason, bad);
  }
}

/** Starts a worker on `queue`; resolves once it is connected and taking jobs. */
export async function createWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  checkOptionNames(options, WORKER_OPTIONS, 'createWorker() options');
  const { model, task } = options;
  if (!(QUEUE_TASKS as readonly string[]).includes(task)) throw new InvalidInputError(`createWorker(): task must be one of ${QUEUE_TASKS.join(', ')}, got ${JSON.stringify(task)}`);
  if (typeof options.queue !== 'string' || options.queue === '' || options.queue.includes(':')) throw new InvalidInputError('createWorker(): queue must be a non-empty name without ":"');
  const concurrency = options.concurrency ?? 4;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new InvalidInputError(`createWorker(): concurrency must be a positive integer, got ${concurrency}`);
  const connection = redisOptions(options.redis);
  const { bullmq, Redis } = await loadQueueDeps();

  const batcher: Batcher = createBatcher(model, options.batcher ?? {});
  let tagger: TokenClassificationPipeline | undefined;
  let filler: FillMaskPipeline | undefined;
  if (task === 'ner') tagger = await pipeline('token-classification', model);
  if (task === 'fill-mask') filler = await pipeline('fill-mask', model);

  const id = `${hostname()}:${process.pid}:${++workers}`;
  const counts = { active: 0, completed: 0, failed: 0, rows: 0 };
  const failures: Record<string, number> = {};
  const durations = new Histogram(JOB_BUCKETS_S);
  let closing = false;

  async function run(data: JobData): Promise<JobResult> {
    const inputs = data.inputs;
    const opts = data.options ?? {};
    if (!isObject(opts) || 'signal' in opts) throw new InvalidInputError('the job\'s options must be a JSON object (no signal)');
    const base = { v: 1 as const, task, rows: inputs.length };
    switch (task) {
      case 'embed': {
        const rows = parseRows(inputs, (x) => sequenceInput(x, false));
        const vectors = await findBadRows(rows, (r) => batcher.embed(r, opts), (r) => batcher.embed(r, opts));
        return { ...base, vectors: encodeVectors(vectors, data.encoding === 'float16' ? 'float16' : 'float32') };
      }
      case 'classify': {
        const rows = parseRows(inputs, (x) => sequenceInput(x, true));
        return { ...base, results: await findBadRows(rows, (r) => batcher.classify(r, opts), (r) => batcher.classify(r, opts)) };
      }
      case 'rerank': {
        const rows = parseRows(inputs, rerankRow);
        const one = (r: RerankRow) => batcher.rerank(r.query, r.documents, opts);
        return { ...base, results: await findBadRows(rows, (rs) => Promise.all(rs.map(one)), one) };
      }
      case 'ner': {
        const rows = parseRows(inputs, (x) => sequenceInput(x, false) as string);
        return { ...base, results: await findBadRows(rows, (r) => tagger!(r, opts), async (r) => (await tagger!([r], opts))[0]) };
      }
      case 'fill-mask': {
        const rows = parseRows(inputs, (x) => sequenceInput(x, false) as string);
        return { ...base, results: await findBadRows(rows, (r) => filler!(r, opts), async (r) => (await filler!([r], opts))[0]) };
      }
    }
  }

  const client = new Redis(connection);
  // BullMQ logs nothing itself; a lost connection is retried forever (retryStrategy), so errors are only counted.
  client.on('error', () => {});
  const worker = new bullmq.Worker(
    options.queue,
    async (job) => {
      const started = performance.now();
      counts.active++;
      try {
        const data = job.data as JobData;
        if (!isObject(data) || data.v !== 1 || !Array.isArray(data.inputs)) throw new InvalidInputError(`job ${job.id} is not a bertkit job (expected {v: 1, task, inputs: [...]})`);
        if (data.task !== task) throw new InvalidInputError(`job ${job.id} is a ${JSON.stringify(data.task)} job; this worker runs ${task}`);
        await options.onJobStart?.({ id: job.id!, rows: data.inputs.length, attemptsMade: job.attemptsMade });
        const result = await run(data);
        counts.completed++;
        counts.rows += data.inputs.length;
        return result;
      } catch (err) {
        counts.failed++;
        const code = err instanceof RowsError ? ((err.error as { code?: string }).code ?? 'ERR_BERT') : ((err as { code?: string }).code ?? 'ERR_BERT');
        failures[code] = (failures[code] ?? 0) + 1;
        // BullMQ keeps only the message: the code, type and rows go in front of it.
        throw err instanceof RowsError ? err : new RowsError(err, []);
      } finally {
        counts.active--;
        durations.add((performance.now() - started) / 1000);
      }
    },
    {
      connection: client,
      concurrency,
      name: id,
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      ...(options.limiter !== undefined ? { limiter: { max: options.limiter.max, duration: options.limiter.duration } } : {}),
      ...(options.lockDuration !== undefined ? { lockDuration: options.lockDuration } : {}),
      ...(options.stalledInterval !== undefined ? { stalledInterval: options.stalledInterval } : {}),
      ...(options.maxStalledCount !== undefined ? { maxStalledCount: options.maxStalledCount } : {}),
    },
  );
  worker.on('error', () => {});
  await worker.waitUntilReady();

  const stats = (): QueueWorkerStats => ({
    id,
    task,
    running: worker.isRunning(),
    closing,
    redis: client.status,
    activeJobs: counts.active,
    completedJobs: counts.completed,
    failedJobs: counts.failed,
    failures: { ...failures },
    rows: counts.rows,
  });

  return {
    id,
    stats,
    healthy: () => !closing && worker.isRunning() && client.status === 'ready',
    metrics() {
      const out = new PrometheusText();
      writeBatcherMetrics(out, batcher.stats());
      const s = stats();
      out.gauge('bertkit_queue_active_jobs', 'Jobs this worker is running.', s.activeJobs);
      out.counter('bertkit_queue_jobs_total', 'Jobs finished by this worker, by outcome.', [
        [{ outcome: 'completed' }, s.completedJobs],
        [{ outcome: 'failed' }, s.failedJobs],
      ]);
      out.counter('bertkit_queue_job_failures_total', 'Failed job attempts by error code.', Object.entries(s.failures).map(([code, n]) => [{ code }, n]));
      out.counter('bertkit_queue_rows_total', 'Inputs of completed jobs.', s.rows);
      out.gauge('bertkit_queue_redis_up', 'Whether the Redis connection is ready.', s.redis === 'ready' ? 1 : 0);
      out.histogram('bertkit_queue_job_duration_seconds', 'Time from a job starting on this worker to its end.', durations.snapshot());
      return out.toString();
    },
    async close({ force = false } = {}) {
      closing = true;
      try {
        await worker.close(force);
        await batcher.close({ drain: true });
        await tagger?.dispose();
        await filler?.dispose();
      } finally {
        client.disconnect();
      }
    },
  };
}
