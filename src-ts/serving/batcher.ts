/**
 * Dynamic batching across concurrent requests: calls (`embed`, `classify`, `rerank`, `forward`)
 * are tokenized, admitted or refused at once (bounded queue), queued by sequence, and merged into
 * packed, padding-free forwards under a token budget. One forward runs at a time (the model's own
 * threads do the work); while it runs the next batch gathers, so the batch size follows the load.
 * Each caller gets exactly its own results, and can abort or time out without touching the others.
 *
 * This file is the Batcher itself (options, calls, settling); its parts are in batcher/: the
 * public types, the tasks, the inputs, the queue, admission control, the scheduler and the stats.
 */
import { dirname, resolve as resolvePath } from 'node:path';
import { AbortedError, DisposedError, InvalidInputError, OverloadedError, TimeoutError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { floatsPerToken, headOf, type Head } from '../model/heads.js';
import { checkOptionNames } from '../options.js';
import { checkPooling, readSentenceTransformersFolderSync, type PoolingMode } from '../pipelines/pooling.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { nonNegative, optionalTimeout, positiveInt } from '../util/checks.js';
import { estimatedWaitMs, refusal, retryAfterMs, type AdmissionState } from './batcher/admission.js';
import { prepareInputs } from './batcher/inputs.js';
import { Job, RequestQueue, type Prepared, type Reduce } from './batcher/queue.js';
import { Scheduler } from './batcher/scheduler.js';
import { BatcherMetrics } from './batcher/stats.js';
import { classifyTask, embedTask, forwardTask, rerankTask, type TaskTarget } from './batcher/tasks.js';
import {
  BATCHER_OPTIONS,
  CLASSIFY_OPTIONS,
  EMBED_OPTIONS,
  FORWARD_OPTIONS,
  RERANK_OPTIONS,
  type BatchRerankOptions,
  type BatchRerankResult,
  type BatcherOptions,
  type BatcherStats,
  type ClassifyOptions,
  type EmbedOptions,
  type LabelScore,
  type RequestOptions,
  type SequenceInput,
  type SequenceOutput,
} from './batcher/types.js';

export type {
  AbortSignalLike,
  BatchRerankOptions,
  BatchRerankResult,
  BatcherOptions,
  BatcherStats,
  ClassifyFunction,
  ClassifyOptions,
  EmbedOptions,
  LabelScore,
  RequestOptions,
  SequenceInput,
  SequenceOutput,
  TextPairInput,
  TokenizedInput,
} from './batcher/types.js';

/** Output floats one forward may allocate (as the pipelines' chunking: ~256 MiB). */
const OUTPUT_FLOATS = 64 * 1024 * 1024;

function abortedError(signal: AbortSignal): AbortedError {
  const reason: unknown = signal.reason;
  const detail = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return new AbortedError(`the request was aborted${detail}`, { cause: reason });
}

/** A call's request options with the batcher's defaults applied. */
interface Resolved {
  timeoutMs: number | null;
  signal: AbortSignal | undefined;
}

export class Batcher implements AsyncDisposable {
  readonly model: BertModel;
  readonly tokenizer: Tokenizer | undefined;
  readonly maxBatchTokens: number;
  readonly maxBatchSize: number;
  readonly maxWaitMs: number;
  readonly maxQueuedTokens: number;
  readonly maxConcurrentRequests: number;
  readonly timeoutMs: number | null;
  readonly maxLength: number;
  readonly order: 'arrival' | 'longest-first';
  readonly rejectLate: boolean;
  /**
   * embed()'s pooling mode(s): the batcher option, else the Pooling module of the model's
   * sentence-transformers folder (modules.json), as pipeline('sentence-embeddings'), else 'mean'.
   */
  readonly pooling: readonly PoolingMode[];
  /** embed()'s normalisation: the batcher option, else whether the folder has a Normalize module. */
  readonly normalize: boolean;

  /** The model's head (a model-like object without `head` is read by its architecture). */
  readonly #head: Head;
  readonly #queue = new RequestQueue();
  readonly #metrics = new BatcherMetrics();
  readonly #scheduler: Scheduler;
  #active = 0;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(model: BertModel, options: BatcherOptions = {}) {
    if (model === null || typeof model !== 'object' || typeof model.forwardPacked !== 'function') {
      throw new InvalidInputError('createBatcher() needs a BertModel');
    }
    if (options === null || typeof options !== 'object') throw new InvalidInputError('batcher options must be an object');
    checkOptionNames(options, BATCHER_OPTIONS, 'createBatcher() options');
    if (model.disposed) throw new DisposedError('model');
    this.model = model;
    this.tokenizer = options.tokenizer ?? (model.hasTokenizer === false ? undefined : model.tokenizer);
    const c = model.config;
    this.#head = model.head ?? headOf(model.architecture) ?? 'base';
    const cap = Math.max(c.max_position_embeddings, Math.floor(OUTPUT_FLOATS / floatsPerToken(this.#head, c)));
    this.maxBatchTokens = Math.min(cap, options.maxBatchTokens === undefined ? 4096 : positiveInt(options.maxBatchTokens, 'maxBatchTokens'));
    this.maxBatchSize = options.maxBatchSize === undefined ? 64 : positiveInt(options.maxBatchSize, 'maxBatchSize');
    this.maxWaitMs = options.maxWaitMs === undefined ? 2 : nonNegative(options.maxWaitMs, 'maxWaitMs');
    this.maxQueuedTokens = options.maxQueuedTokens === undefined ? 16 * this.maxBatchTokens : positiveInt(options.maxQueuedTokens, 'maxQueuedTokens');
    this.maxConcurrentRequests = options.maxConcurrentRequests === undefined ? 1024 : positiveInt(options.maxConcurrentRequests, 'maxConcurrentRequests');
    this.timeoutMs = optionalTimeout(options.timeoutMs, 'timeoutMs');
    if (options.order !== undefined && options.order !== 'arrival' && options.order !== 'longest-first') {
      throw new InvalidInputError(`order must be 'arrival' or 'longest-first', got ${JSON.stringify(options.order)}`);
    }
    this.order = options.order ?? 'arrival';
    this.rejectLate = options.rejectLate ?? true;
    const modelLimit = Math.min(this.tokenizer?.modelMaxLength ?? Infinity, c.max_position_embeddings);
    this.maxLength = options.maxLength === undefined ? modelLimit : Math.min(positiveInt(options.maxLength, 'maxLength'), c.max_position_embeddings);
    const folder = options.pooling === undefined || options.normalize === undefined ? folderEmbedding(model) : null;
    this.pooling = Object.freeze(options.pooling === undefined ? [...(folder?.pooling ?? ['mean'])] : checkPooling(options.pooling));
    if (options.normalize !== undefined && typeof options.normalize !== 'boolean') throw new InvalidInputError('normalize must be a boolean');
    this.normalize = options.normalize ?? folder?.normalize ?? false;
    this.#scheduler = new Scheduler({
      model,
      queue: this.#queue,
      metrics: this.#metrics,
      limits: { maxBatchTokens: this.maxBatchTokens, maxBatchSize: this.maxBatchSize, order: this.order, maxWaitMs: this.maxWaitMs },
      closed: () => this.#closed,
      settle: (job, err, value) => this.#settle(job, err, value),
      checkIdle: () => this.#checkIdle(),
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Admitted requests not settled yet (cheap; stats() has everything). */
  get activeRequests(): number {
    return this.#active;
  }

  /** Tokens waiting to be batched (cheap; stats() has everything). */
  get queuedTokens(): number {
    return this.#queue.tokens;
  }

  // ---- tasks (batcher/tasks.ts) ----------------------------------------------------------------

  /** Sentence embeddings: pooled (and optionally normalised) last hidden states, one per input. */
  embed(input: SequenceInput, options?: EmbedOptions): Promise<Float32Array>;
  embed(inputs: SequenceInput[], options?: EmbedOptions): Promise<Float32Array[]>;
  embed(inputs: SequenceInput | SequenceInput[], options: EmbedOptions = {}): Promise<Float32Array | Float32Array[]> {
    return this.#call(inputs, options, EMBED_OPTIONS, 'embed', (o) => embedTask(this.#task(), o)) as Promise<Float32Array | Float32Array[]>;
  }

  /** Sequence classification (text or text pair): every label with its score, best first. */
  classify(input: SequenceInput, options?: ClassifyOptions): Promise<LabelScore[]>;
  classify(inputs: SequenceInput[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  classify(inputs: SequenceInput | SequenceInput[], options: ClassifyOptions = {}): Promise<LabelScore[] | LabelScore[][]> {
    return this.#call(inputs, options, CLASSIFY_OPTIONS, 'classify', (o) => classifyTask(this.#task(), o)) as Promise<LabelScore[] | LabelScore[][]>;
  }

  /** Cross-encoder reranking: each (query, document) pair scored by a one-label classifier, best first. */
  async rerank(query: string, documents: string[], options: BatchRerankOptions = {}): Promise<BatchRerankResult[]> {
    if (typeof query !== 'string') throw new InvalidInputError('query must be a string');
    if (!Array.isArray(documents) || documents.length === 0) throw new InvalidInputError('documents must be a non-empty array of strings');
    documents.forEach((d, i) => {
      if (typeof d !== 'string') throw new InvalidInputError(`documents[${i}] must be a string`);
    });
    checkOptionNames(options, RERANK_OPTIONS, 'rerank() options');
    const activation = options.activation ?? 'sigmoid';
    if (activation !== 'sigmoid' && activation !== 'none') throw new InvalidInputError(`activation must be 'sigmoid' or 'none', got ${JSON.stringify(activation)}`);
    const topK = options.topK === undefined ? Infinity : positiveInt(options.topK, 'topK');
    // As sentence-transformers' CrossEncoder: pairs are truncated to the model's limit.
    const scores = (await this.#call(
      documents.map((d) => ({ text: query, textPair: d })),
      { truncate: true, ...options },
      RERANK_OPTIONS,
      'rerank',
      () => rerankTask(this.#task(), activation),
    )) as number[];
    const results = scores.map((score, corpusId): BatchRerankResult => (options.returnDocuments ? { corpusId, score, text: documents[corpusId]! } : { corpusId, score }));
    results.sort((a, b) => b.score - a.score || a.corpusId - b.corpusId);
    return results.length > topK ? results.slice(0, topK) : results;
  }

  /** Raw outputs per sequence (copied out of the shared batch). */
  forward(input: SequenceInput, options?: RequestOptions): Promise<SequenceOutput>;
  forward(inputs: SequenceInput[], options?: RequestOptions): Promise<SequenceOutput[]>;
  forward(inputs: SequenceInput | SequenceInput[], options: RequestOptions = {}): Promise<SequenceOutput | SequenceOutput[]> {
    return this.#call(inputs, options, FORWARD_OPTIONS, 'forward', () => forwardTask(this.#task())) as Promise<SequenceOutput | SequenceOutput[]>;
  }

  /** Stops taking requests; resolves once every admitted request has settled (`drain: false` aborts the queued ones). */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    checkOptionNames(options, ['drain'], 'close() options');
    this.#closed = true;
    if (options.drain === false) {
      for (const job of this.#queue.pendingJobs()) this.#settle(job, new AbortedError('the batcher was closed before the request ran'));
    }
    this.#scheduler.kick();
    if (this.#active > 0 || this.#scheduler.running) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #task(): TaskTarget {
    return { model: this.model, head: this.#head, pooling: this.pooling, normalize: this.normalize };
  }

  // ---- statistics (batcher/stats.ts) -----------------------------------------------------------

  stats(): BatcherStats {
    const now = Date.now();
    const running = this.#scheduler.running;
    return {
      time: now,
      closed: this.#closed,
      queue: { requests: this.#queue.requests, sequences: this.#queue.sequences, tokens: this.#queue.tokens },
      activeRequests: this.#active,
      running: running ? { ...running } : null,
      limits: {
        maxBatchTokens: this.maxBatchTokens,
        maxBatchSize: this.maxBatchSize,
        maxWaitMs: this.maxWaitMs,
        maxQueuedTokens: this.maxQueuedTokens,
        maxConcurrentRequests: this.maxConcurrentRequests,
        timeoutMs: this.timeoutMs,
      },
      ...this.#metrics.snapshot(now),
    };
  }

  /**
   * Estimated ms before a request of `tokens` tokens submitted now would finish: the forward in
   * flight, the queue ahead of it and at most one full batch, at the throughput of recent batches
   * (0 before any batch ran).
   */
  estimatedWaitMs(tokens = 0): number {
    return estimatedWaitMs(this.#admission(), tokens);
  }

  // ---- admission (batcher/admission.ts) --------------------------------------------------------

  #admission(): AdmissionState {
    return {
      closed: this.#closed,
      active: this.#active,
      queuedTokens: this.#queue.tokens,
      runningTokens: this.#scheduler.running?.tokens ?? 0,
      maxConcurrentRequests: this.maxConcurrentRequests,
      maxQueuedTokens: this.maxQueuedTokens,
      maxBatchTokens: this.maxBatchTokens,
      rejectLate: this.rejectLate,
      metrics: this.#metrics,
    };
  }

  /**
   * Throws the OverloadedError a request would get if submitted now (counted as rejected in the
   * stats), so that a server can refuse before reading and tokenizing a request body. `timeoutMs`
   * defaults to the batcher's. Admission is still checked on submission.
   */
  precheck(tokens = 0, timeoutMs: number | null = this.timeoutMs): void {
    const state = this.#admission();
    const why = this.#closed ? null : refusal(state, tokens, timeoutMs);
    if (why === null) return;
    this.#metrics.totals.submitted++;
    this.#metrics.totals.rejected++;
    throw new OverloadedError(`overloaded: ${why}; retry later`, retryAfterMs(state));
  }

  // ---- submission and settling -----------------------------------------------------------------

  /** Validates, tokenizes and submits one call; `makeReduce` checks the task options first. */
  async #call<O extends RequestOptions>(inputs: SequenceInput | SequenceInput[], options: O, names: readonly string[], task: string, makeReduce: (o: O) => Reduce): Promise<unknown> {
    if (options === null || typeof options !== 'object') throw new InvalidInputError('options must be an object');
    checkOptionNames(options, names, `${task}() options`);
    const batched = Array.isArray(inputs);
    const items = batched ? inputs : [inputs];
    if (items.length === 0) throw new InvalidInputError('inputs is an empty array: give at least one input');
    const resolved: Resolved = {
      timeoutMs: options.timeoutMs === undefined ? this.timeoutMs : optionalTimeout(options.timeoutMs, 'timeoutMs'),
      signal: options.signal as AbortSignal | undefined,
    };
    if (resolved.signal !== undefined && !((resolved.signal as unknown) instanceof AbortSignal)) throw new InvalidInputError('signal must be an AbortSignal');
    const reduce = makeReduce(options);
    const seqs = prepareInputs(items, options, { tokenizer: this.tokenizer, config: this.model.config, maxLength: this.maxLength });
    return this.#submit(seqs, reduce, batched ? (r) => r : (r) => r[0], resolved);
  }

  #submit(seqs: Prepared[], reduce: Reduce, finish: (r: unknown[]) => unknown, o: Resolved): Promise<unknown> {
    if (this.#closed) return Promise.reject(new DisposedError('batcher'));
    if (this.model.disposed) return Promise.reject(new DisposedError('model'));
    if (o.signal?.aborted) return Promise.reject(abortedError(o.signal));
    let tokens = 0;
    for (const s of seqs) tokens += s.ids.length;
    if (tokens > this.maxQueuedTokens) {
      return Promise.reject(new InvalidInputError(`the request has ${tokens} tokens, more than the queue holds (maxQueuedTokens ${this.maxQueuedTokens}): split it`));
    }
    const totals = this.#metrics.totals;
    totals.submitted++;
    const state = this.#admission();
    const why = refusal(state, tokens, o.timeoutMs);
    if (why !== null) {
      totals.rejected++;
      return Promise.reject(new OverloadedError(`overloaded: ${why}; retry later`, retryAfterMs(state)));
    }
    totals.admitted++;
    this.#active++;
    return new Promise((resolve, reject) => {
      const job = new Job(performance.now(), tokens, seqs.length, reduce, finish, resolve, reject);
      this.#queue.push(job, seqs);
      if (o.timeoutMs !== null) {
        const ms = o.timeoutMs;
        job.timer = setTimeout(() => this.#settle(job, new TimeoutError(ms)), ms);
        job.timer.unref?.();
      }
      if (o.signal) {
        const signal = o.signal;
        job.signal = signal;
        job.onAbort = () => this.#settle(job, abortedError(signal));
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#scheduler.kick();
    });
  }

  #settle(job: Job, err: unknown, value?: unknown): void {
    if (job.settled) return;
    job.settled = true;
    this.#active--;
    this.#queue.drop(job);
    if (job.timer) clearTimeout(job.timer);
    if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
    if (err === undefined) {
      this.#metrics.succeeded(performance.now() - job.start);
      job.resolve(value);
    } else {
      const totals = this.#metrics.totals;
      if (err instanceof AbortedError) totals.aborted++;
      else if (err instanceof TimeoutError) totals.timedOut++;
      else totals.failed++;
      job.reject(err);
    }
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#active === 0 && !this.#scheduler.running && this.#idleWaiters.length) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/**
 * The sentence-transformers modules of the folder a model was loaded from (the folder of its
 * weights, or its parent when the Transformer module sits in a subfolder); null for a plain folder.
 */
function folderEmbedding(model: BertModel): { pooling: PoolingMode[] | null; normalize: boolean } | null {
  const files: readonly string[] = model.weights?.files ?? [];
  const weights = files.find((f) => !f.endsWith('.json')) ?? files[0];
  if (weights === undefined) return null;
  const dir = dirname(weights);
  for (const root of [dir, dirname(dir)]) {
    const st = readSentenceTransformersFolderSync(root);
    if (st && resolvePath(root, st.transformerPath) === resolvePath(dir)) return { pooling: st.pooling, normalize: st.normalize };
  }
  return null;
}

/** A batcher over `model`: concurrent calls share packed forwards (see BatcherOptions). */
export function createBatcher(model: BertModel, options: BatcherOptions = {}): Batcher {
  return new Batcher(model, options);
}
