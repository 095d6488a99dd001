/**
 * The producer side: adds jobs (id = a hash of the chunk, so adding the same chunk twice is one
 * job) and resolves each when it finishes. Completion comes from QueueEvents; a poll of the jobs
 * still waited for backs it up, so a reconnect that missed events, or a Redis that lost the job
 * (restarted without persistence), still ends each wait: a lost job is added again.
 */
import { InvalidInputError, JobFailedError } from '../errors.js';
import { checkOptionNames, optionNames } from '../options.js';
import type { BatchRerankResult, ClassifyOptions, EmbedOptions, LabelScore, TextPairInput } from '../serving/index.js';
import { loadQueueDeps, redisOptions } from './deps.js';
import { decodeVectors, jobFailedError, jobIdFor, type JobData, type JobResult, type VectorEncoding } from './protocol.js';

export interface JobClientOptions {
  redis: string;
  queue: string;
  /** Tries per job before it fails (default 3); failed tries wait `backoffMs` × 2^(try-1). */
  attempts?: number;
  /** First retry delay (ms, default 1000). */
  backoffMs?: number;
  /** How often jobs still waited for are looked up, besides the events (ms, default 1000). */
  pollMs?: number;
  /** Redis key prefix (default BullMQ's, 'bull'); the workers must use the same. */
  prefix?: string;
  /**
   * Length of the queue's event stream (default 200, BullMQ's is 10000). Each completion event
   * carries the job's result, so Redis holds about this many results besides the jobs in flight.
   */
  eventsMaxLen?: number;
}

const CLIENT_OPTIONS = optionNames<JobClientOptions>({ redis: true, queue: true, attempts: true, backoffMs: true, pollMs: true, prefix: true, eventsMaxLen: true });

export interface SubmitOptions {
  /** BullMQ priority (1 is the highest; default none: first in, first out). */
  priority?: number;
}

export interface JobClient {
  /** Adds the job (unless one with its id exists) and resolves with its result; rejects with JobFailedError. */
  run(data: JobData, options?: SubmitOptions): Promise<JobResult>;
  embed(texts: string[], options?: EmbedOptions & { encoding?: VectorEncoding } & SubmitOptions): Promise<Float32Array[]>;
  classify(inputs: (string | TextPairInput)[], options?: Omit<ClassifyOptions, 'signal'> & SubmitOptions): Promise<LabelScore[][]>;
  rerank(query: string, documents: string[], options?: Record<string, unknown> & SubmitOptions): Promise<BatchRerankResult[]>;
  /** Deletes a finished job's record from Redis (its result was stored elsewhere). */
  forget(jobId: string): Promise<void>;
  /** Jobs waiting, active, completed, failed, delayed in the queue. */
  counts(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

interface Waiter {
  data: JobData;
  options: SubmitOptions;
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
  checking: boolean;
  /** An event came while a look-up was under way (it may have read the state before the change). */
  again: boolean;
}

export async function createJobClient(options: JobClientOptions): Promise<JobClient> {
  checkOptionNames(options, CLIENT_OPTIONS, 'createJobClient() options');
  if (typeof options.queue !== 'string' || options.queue === '' || options.queue.includes(':')) throw new InvalidInputError('createJobClient(): queue must be a non-empty name without ":"');
  const attempts = options.attempts ?? 3;
  if (!Number.isSafeInteger(attempts) || attempts < 1) throw new InvalidInputError(`createJobClient(): attempts must be a positive integer, got ${attempts}`);
  const backoffMs = options.backoffMs ?? 1000;
  const pollMs = options.pollMs ?? 1000;
  const connection = redisOptions(options.redis);
  const { bullmq, Redis } = await loadQueueDeps();
  const prefix = options.prefix !== undefined ? { prefix: options.prefix } : {};

  const client = new Redis(connection);
  const eventsClient = new Redis(connection);
  // Reconnects are retried forever (retryStrategy); the errors say nothing the waits do not.
  client.on('error', () => {});
  eventsClient.on('error', () => {});
  const queue = new bullmq.Queue(options.queue, { connection: client, ...prefix, streams: { events: { maxLen: options.eventsMaxLen ?? 200 } } });
  const events = new bullmq.QueueEvents(options.queue, { connection: eventsClient, ...prefix });
  queue.on('error', () => {});
  events.on('error', () => {});
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);

  const waiting = new Map<string, Waiter>();
  let closed = false;

  async function add(id: string, w: Waiter): Promise<void> {
    await queue.add(w.data.task, w.data, {
      jobId: id,
      attempts,
      backoff: { type: 'exponential', delay: backoffMs },
      ...(w.options.priority !== undefined ? { priority: w.options.priority } : {}),
    });
  }

  /** Settles `id` if its job has finished; adds it again if Redis no longer has it. */
  async function check(id: string): Promise<void> {
    const w = waiting.get(id);
    if (!w || closed) return;
    if (w.checking) {
      w.again = true;
      return;
    }
    w.checking = true;
    w.again = false;
    try {
      // The state first: a job read before it finished would carry no result even if the state,
      // read after, said completed. Completed and failed are final, so reading the job after is safe.
      const state = await queue.getJobState(id);
      if (state !== 'completed' && state !== 'failed') {
        if (state === 'unknown' && waiting.get(id) === w) await add(id, w);
        return;
      }
      const job = await bullmq.Job.fromId(queue, id);
      if (waiting.get(id) !== w) return; // settled meanwhile (by the completion event)
      if (!job) {
        await add(id, w);
        return;
      }
      waiting.delete(id);
      if (state === 'completed') w.resolve(job.returnvalue as JobResult);
      else w.reject(jobFailedError(id, job.failedReason, job.attemptsMade));
    } catch {
      // Redis unreachable: the next poll tries again.
    } finally {
      w.checking = false;
    }
    if (w.again && waiting.get(id) === w) await check(id);
  }

  // The completion event carries the result: no look-up needed (the poll remains the backstop).
  events.on('completed', ({ jobId, returnvalue }) => {
    const w = waiting.get(jobId);
    const r = returnvalue as unknown as JobResult | null;
    if (w && r !== null && typeof r === 'object' && r.v === 1 && r.task === w.data.task && r.rows === w.data.inputs.length) {
      waiting.delete(jobId);
      w.resolve(r);
    } else void check(jobId);
  });
  events.on('failed', ({ jobId }) => void check(jobId));
  const poll = setInterval(() => {
    for (const id of waiting.keys()) void check(id);
  }, pollMs);

  const run = async (data: JobData, submit: SubmitOptions = {}): Promise<JobResult> => {
    if (closed) throw new InvalidInputError('the job client was closed');
    const id = jobIdFor(data);
    const existing = waiting.get(id);
    if (existing) {
      // The same chunk twice at once: one job, both waits end with it.
      return new Promise<JobResult>((resolve, reject) => {
        const prev = { resolve: existing.resolve, reject: existing.reject };
        existing.resolve = (r) => (prev.resolve(r), resolve(r));
        existing.reject = (e) => (prev.reject(e), reject(e));
      });
    }
    return new Promise<JobResult>((resolve, reject) => {
      const w: Waiter = { data, options: submit, resolve, reject, checking: false, again: false };
      waiting.set(id, w);
      // Added after the wait is registered, so a job that finishes at once is not missed; a job
      // that already exists (finished in an earlier run) is not added again, just looked up.
      add(id, w).then(
        () => check(id),
        (err) => {
          waiting.delete(id);
          reject(err as Error);
        },
      );
    });
  };

  const split = (o: Record<string, unknown> = {}): [Record<string, unknown>, SubmitOptions] => {
    const { priority, ...rest } = o;
    return [rest, priority === undefined ? {} : { priority: priority as number }];
  };

  return {
    run,
    async embed(texts, o = {}) {
      const { encoding, ...rest } = o;
      const [taskOptions, submit] = split(rest as Record<string, unknown>);
      const result = await run({ v: 1, task: 'embed', inputs: texts, options: taskOptions, ...(encoding ? { encoding } : {}) }, submit);
      return decodeVectors(result.vectors!, result.rows);
    },
    async classify(inputs, o = {}) {
      const [taskOptions, submit] = split(o as Record<string, unknown>);
      return (await run({ v: 1, task: 'classify', inputs, options: taskOptions }, submit)).results as LabelScore[][];
    },
    async rerank(query, documents, o = {}) {
      const [taskOptions, submit] = split(o);
      return ((await run({ v: 1, task: 'rerank', inputs: [{ query, documents }], options: taskOptions }, submit)).results as BatchRerankResult[][])[0]!;
    },
    async forget(jobId) {
      await queue.remove(jobId);
    },
    async counts() {
      return queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(poll);
      for (const w of waiting.values()) w.reject(new InvalidInputError('the job client was closed before the job finished'));
      waiting.clear();
      await Promise.allSettled([events.close(), queue.close()]);
      client.disconnect();
      eventsClient.disconnect();
    },
  };
}

export { JobFailedError };
