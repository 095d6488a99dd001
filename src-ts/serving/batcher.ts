/**
 * Dynamic batching across concurrent requests: calls (`embed`, `classify`, `rerank`, `forward`)
 * are tokenized, admitted or refused at once (bounded queue), queued by sequence, and merged into
 * packed, padding-free forwards under a token budget. One forward runs at a time (the model's own
 * threads do the work); while it runs the next batch gathers, so the batch size follows the load.
 * Each caller gets exactly its own results, and can abort or time out without touching the others.
 */
import { dirname, resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describeHead } from '../config.js';
import type { HeadKind } from '../families.js';
import { AbortedError, BertError, DisposedError, InvalidInputError, OverloadedError, TimeoutError, UnsupportedModelError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { checkOptionNames, optionNames } from '../options.js';
import type { PackedInput } from '../model/inputs.js';
import type { ModelOutput } from '../model/outputs.js';
import { checkPooling, normalizeL2, poolTokens, readSentenceTransformersFolderSync, type PoolingMode } from '../pipelines/pooling.js';
import type { EncodeOptions, Tokenizer } from '../tokenizer/index.js';
import {
  Histogram,
  LATENCY_BUCKETS_S,
  RateWindow,
  Reservoir,
  SIZE_BUCKETS,
  TOKEN_BUCKETS,
  type HistogramSnapshot,
  type Percentiles,
} from './stats.js';

// ---- public types ------------------------------------------------------------------------------

const REQUEST_NAMES = { signal: true, timeoutMs: true, truncate: true, truncationSide: true } as const;
const BATCHER_OPTIONS = optionNames<BatcherOptions>({
  tokenizer: true,
  maxBatchTokens: true,
  maxBatchSize: true,
  maxWaitMs: true,
  maxQueuedTokens: true,
  maxConcurrentRequests: true,
  timeoutMs: true,
  rejectLate: true,
  order: true,
  maxLength: true,
  pooling: true,
  normalize: true,
});
const FORWARD_OPTIONS = optionNames<RequestOptions>(REQUEST_NAMES);
const EMBED_OPTIONS = optionNames<EmbedOptions>({ ...REQUEST_NAMES, pooling: true, normalize: true, dimensions: true });
const CLASSIFY_OPTIONS = optionNames<ClassifyOptions>({ ...REQUEST_NAMES, functionToApply: true, topK: true });
const RERANK_OPTIONS = optionNames<BatchRerankOptions>({ ...REQUEST_NAMES, activation: true, returnDocuments: true, topK: true });

export interface BatcherOptions {
  /** Tokenizer for text inputs (default: the model's). Token-id inputs need none. */
  tokenizer?: Tokenizer;
  /** Most tokens one forward takes (default 4096; lowered for heads with wide per-token outputs). A longer single sequence still runs, alone. */
  maxBatchTokens?: number;
  /** Most sequences one forward takes (default 64). */
  maxBatchSize?: number;
  /**
   * How long (ms) the oldest queued request may wait for others to join its batch when the model
   * is idle (default 2). A full batch goes at once; while a forward runs, requests gather anyway.
   */
  maxWaitMs?: number;
  /** Admission control: tokens that may wait in the queue (default 16 × maxBatchTokens). */
  maxQueuedTokens?: number;
  /** Admission control: requests admitted and not finished, queued or running (default 1024). */
  maxConcurrentRequests?: number;
  /** Default per-request timeout in ms, queueing included (default none; a call's `timeoutMs` wins). */
  timeoutMs?: number;
  /**
   * Refuse at once (OverloadedError) a request with a timeout that the queue ahead of it would
   * already exceed, estimated from the measured throughput (default true).
   */
  rejectLate?: boolean;
  /**
   * Which queued sequences join a batch: 'arrival' (default; oldest first, later ones fill what
   * the token budget leaves) or 'longest-first' (the oldest, then the longest that fit). The
   * engine is padding-free, so neither pads; the oldest request always goes first (no starvation).
   */
  order?: 'arrival' | 'longest-first';
  /** Truncation length for `truncate: true` (default: the tokenizer's limit capped at the model's positions). */
  maxLength?: number;
  /** embed(): pooling mode(s) (default: the model folder's sentence-transformers Pooling module, else 'mean'). */
  pooling?: PoolingMode | PoolingMode[];
  /** embed(): L2-normalise (default: whether the folder has a sentence-transformers Normalize module, else false). */
  normalize?: boolean;
}

/**
 * What the batcher uses of an AbortSignal (declared here, so that a project without @types/node or
 * the DOM library compiles against these types; a real AbortSignal is what it takes).
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Options every call takes. */
export interface RequestOptions {
  /** Aborting rejects the call with AbortedError; its sequences leave the queue, a running batch is not disturbed. */
  signal?: AbortSignalLike;
  /** Rejects with TimeoutError after this many ms (queueing included). */
  timeoutMs?: number;
  /** Texts longer than the model takes are cut to `maxLength` instead of refused (default false). */
  truncate?: boolean;
  /** Which end `truncate` cuts (default 'right'). */
  truncationSide?: 'left' | 'right';
}

export interface EmbedOptions extends RequestOptions {
  pooling?: PoolingMode | PoolingMode[];
  normalize?: boolean;
  /** Keep the first `dimensions` values of each vector (before normalizing), as Matryoshka models want. */
  dimensions?: number;
}

export type ClassifyFunction = 'softmax' | 'sigmoid' | 'none';

export interface ClassifyOptions extends RequestOptions {
  /** Default: 'none' for regression, 'sigmoid' for multi-label or one label, else 'softmax' (transformers' rule). */
  functionToApply?: ClassifyFunction;
  /** Keep the best k labels (default: all), best first. */
  topK?: number;
}

export interface BatchRerankOptions extends RequestOptions {
  /** 'sigmoid' (default) or 'none' (the raw logit). */
  activation?: 'sigmoid' | 'none';
  returnDocuments?: boolean;
  topK?: number;
}

/** A text, a text pair, or token ids (an `Encoding` qualifies: it has `ids` and `typeIds`). */
export type SequenceInput = string | TextPairInput | TokenizedInput;

export interface TextPairInput {
  text: string;
  textPair?: string;
}

export interface TokenizedInput {
  ids: ArrayLike<number>;
  typeIds?: ArrayLike<number>;
  /** 1 = token, 0 = padding (computed, attended by nobody, left out of pooling). */
  attentionMask?: ArrayLike<number>;
}

export interface LabelScore {
  label: string;
  score: number;
}

export interface BatchRerankResult {
  /** Index of the document in the input. */
  corpusId: number;
  score: number;
  text?: string;
}

/** One sequence's raw outputs (copies: nothing is shared with other callers). */
export interface SequenceOutput {
  /** Tokens the sequence had. */
  tokens: number;
  /** [tokens × hidden]. */
  lastHiddenState: Float32Array;
  poolerOutput?: Float32Array;
  /** Per sequence ([labels]) or per token ([tokens × width]), as the head gives it. */
  logits?: Float32Array;
  startLogits?: Float32Array;
  endLogits?: Float32Array;
}

export interface BatcherStats {
  /** When the snapshot was taken (ms since the epoch). */
  time: number;
  closed: boolean;
  /** Waiting to be batched. */
  queue: { requests: number; sequences: number; tokens: number };
  /** Admitted requests not settled yet (queued or running). */
  activeRequests: number;
  /** The forward in flight, if any. */
  running: { sequences: number; tokens: number } | null;
  limits: {
    maxBatchTokens: number;
    maxBatchSize: number;
    maxWaitMs: number;
    maxQueuedTokens: number;
    maxConcurrentRequests: number;
    timeoutMs: number | null;
  };
  /** Since creation. `submitted` = admitted + rejected; settled = succeeded + failed + aborted + timedOut. */
  totals: {
    submitted: number;
    admitted: number;
    rejected: number;
    succeeded: number;
    failed: number;
    aborted: number;
    timedOut: number;
    batches: number;
    sequences: number;
    tokens: number;
  };
  /** Rates over the last `seconds` seconds. `utilization`: the fraction of that time a forward ran. */
  window: {
    seconds: number;
    requestsPerSecond: number;
    sequencesPerSecond: number;
    tokensPerSecond: number;
    batchesPerSecond: number;
    utilization: number;
  };
  /** Tokens per second of forward time (recent batches): the engine's capacity at the current batch sizes. */
  capacityTokensPerSecond: number;
  /** Percentiles over the most recent samples (requests or batches). */
  latencyMs: Percentiles;
  queueMs: Percentiles;
  forwardMs: Percentiles;
  batchSequences: Percentiles;
  batchTokens: Percentiles;
  /** Cumulative histograms (Prometheus semantics). */
  histograms: {
    requestSeconds: HistogramSnapshot;
    queueSeconds: HistogramSnapshot;
    forwardSeconds: HistogramSnapshot;
    batchSequences: HistogramSnapshot;
    batchTokens: HistogramSnapshot;
  };
}

// ---- internals ---------------------------------------------------------------------------------

/** One sequence to run. */
interface Prepared {
  ids: Int32Array;
  typeIds: Int32Array;
  mask: Uint8Array | null;
}

/** A sequence in the queue, tagged with its request. */
interface Entry extends Prepared {
  job: Job;
  /** Index of the sequence within its request. */
  k: number;
  n: number;
  taken: boolean;
}

/** A sequence's outputs inside its batch. */
export class RowView {
  constructor(
    private readonly out: ModelOutput,
    readonly b: number,
    readonly t0: number,
    readonly length: number,
    private readonly totalTokens: number,
  ) {}

  tokens(field: 'lastHiddenState' | 'logits' | 'startLogits' | 'endLogits'): Float32Array {
    const t = this.out[field];
    if (!t) throw new InvalidInputError(`the model has no ${field} output`);
    const width = t.data.length / this.totalTokens;
    return t.data.subarray(this.t0 * width, (this.t0 + this.length) * width);
  }

  has(field: keyof ModelOutput): boolean {
    return this.out[field] !== undefined;
  }

  sequence(field: 'poolerOutput' | 'logits'): Float32Array {
    const t = this.out[field];
    if (!t) throw new InvalidInputError(`the model has no ${field} output`);
    const width = t.data.length / t.dims[0]!;
    return t.data.subarray(this.b * width, (this.b + 1) * width);
  }
}

type Reduce = (view: RowView, seq: Prepared) => unknown;

class Job {
  readonly entries: Entry[] = [];
  readonly results: unknown[];
  remaining: number;
  queuedSeqs = 0;
  queuedTokens = 0;
  settled = false;
  dispatched = -1;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;

  constructor(
    readonly start: number,
    readonly tokens: number,
    count: number,
    readonly reduce: Reduce,
    readonly finish: (results: unknown[]) => unknown,
    readonly resolve: (v: unknown) => void,
    readonly reject: (e: unknown) => void,
  ) {
    this.results = new Array(count);
    this.remaining = count;
  }
}

/** Heads whose logits are one row per sequence (any family: the head, not the class name). */
const PER_SEQUENCE_LOGITS: readonly HeadKind[] = ['sequence_classification', 'next_sentence_prediction', 'multiple_choice'];
const headKind = (model: BertModel): HeadKind => describeHead(model.config, model.architecture).kind;
/** Output floats one forward may allocate (as the pipelines' chunking: ~256 MiB). */
const OUTPUT_FLOATS = 64 * 1024 * 1024;
/** Post-processing yields to the event loop after this much work (ms), or this many settled requests. */
const YIELD_MS = 4;
const SETTLE_CHUNK = 8;

function positiveInt(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) throw new InvalidInputError(`${what} must be a positive integer, got ${String(x)}`);
  return x;
}

function nonNegative(x: unknown, what: string): number {
  if (typeof x !== 'number' || !(x >= 0) || !Number.isFinite(x)) throw new InvalidInputError(`${what} must be a non-negative number, got ${String(x)}`);
  return x;
}

function optionalTimeout(x: unknown, what: string): number | null {
  if (x === undefined || x === null || x === Infinity) return null;
  if (typeof x !== 'number' || !(x > 0) || !Number.isFinite(x)) throw new InvalidInputError(`${what} must be a positive number of milliseconds, got ${String(x)}`);
  return x;
}

function reasonOf(signal: AbortSignal): unknown {
  return signal.reason;
}

function abortedError(signal: AbortSignal): AbortedError {
  const reason = reasonOf(signal);
  const detail = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return new AbortedError(`the request was aborted${detail}`, { cause: reason });
}

/** Settles a pending promise: the resolved request options (defaults applied). */
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

  #queue: Entry[] = [];
  #head = 0;
  /** Taken or abandoned entries at or after #head. */
  #dead = 0;
  #queuedTokens = 0;
  #queuedSeqs = 0;
  #queuedRequests = 0;
  #active = 0;
  #running: { sequences: number; tokens: number } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  // statistics
  readonly #totals = { submitted: 0, admitted: 0, rejected: 0, succeeded: 0, failed: 0, aborted: 0, timedOut: 0, batches: 0, sequences: 0, tokens: 0 };
  readonly #latency = new Reservoir(4096);
  readonly #queueWait = new Reservoir(4096);
  readonly #forward = new Reservoir(1024);
  readonly #batchSeqs = new Reservoir(1024);
  readonly #batchTokens = new Reservoir(1024);
  readonly #hLatency = new Histogram(LATENCY_BUCKETS_S);
  readonly #hQueue = new Histogram(LATENCY_BUCKETS_S);
  readonly #hForward = new Histogram(LATENCY_BUCKETS_S);
  readonly #hBatchSeqs = new Histogram(SIZE_BUCKETS);
  readonly #hBatchTokens = new Histogram(TOKEN_BUCKETS);
  /** requests, sequences, tokens, batches, busy ms */
  readonly #window = new RateWindow(5, 10);
  /** Recent batches' tokens and forward ms, for the capacity estimate. */
  readonly #recent: { tokens: number; ms: number }[] = [];
  #recentTokens = 0;
  #recentMs = 0;

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
    const cap = Math.max(c.max_position_embeddings, Math.floor(OUTPUT_FLOATS / floatsPerToken(model)));
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
    return this.#queuedTokens;
  }

  // ---- tasks -----------------------------------------------------------------------------------

  /** Sentence embeddings: pooled (and optionally normalised) last hidden states, one per input. */
  embed(input: SequenceInput, options?: EmbedOptions): Promise<Float32Array>;
  embed(inputs: SequenceInput[], options?: EmbedOptions): Promise<Float32Array[]>;
  embed(inputs: SequenceInput | SequenceInput[], options: EmbedOptions = {}): Promise<Float32Array | Float32Array[]> {
    return this.#call(inputs, options, EMBED_OPTIONS, 'embed', (o) => {
      const modes = o.pooling === undefined ? this.pooling : checkPooling(o.pooling);
      if (o.normalize !== undefined && typeof o.normalize !== 'boolean') throw new InvalidInputError('normalize must be a boolean');
      const normalize = o.normalize ?? this.normalize;
      const H = this.model.config.hidden_size;
      const dims = o.dimensions === undefined ? null : positiveInt(o.dimensions, 'dimensions');
      if (dims !== null && dims > H * modes.length) throw new InvalidInputError(`dimensions ${dims} is more than the embedding has (${H * modes.length})`);
      return (view: RowView, seq: Prepared) => {
        let v = poolTokens(view.tokens('lastHiddenState'), view.length, H, seq.mask, modes);
        if (dims !== null) v = v.slice(0, dims);
        if (normalize) v = normalizeL2(v);
        return Float32Array.from(v);
      };
    }) as Promise<Float32Array | Float32Array[]>;
  }

  /** Sequence classification (text or text pair): every label with its score, best first. */
  classify(input: SequenceInput, options?: ClassifyOptions): Promise<LabelScore[]>;
  classify(inputs: SequenceInput[], options?: ClassifyOptions): Promise<LabelScore[][]>;
  classify(inputs: SequenceInput | SequenceInput[], options: ClassifyOptions = {}): Promise<LabelScore[] | LabelScore[][]> {
    return this.#call(inputs, options, CLASSIFY_OPTIONS, 'classify', (o) => {
      this.#needSequenceLogits('classify');
      const fn = checkFunction(o.functionToApply) ?? defaultFunction(this.model);
      const topK = o.topK === undefined ? Infinity : positiveInt(o.topK, 'topK');
      const id2label = this.model.config.id2label;
      return (view: RowView) => {
        const logits = view.sequence('logits');
        const scores = fn === 'softmax' ? Array.from(softmax(logits)) : fn === 'sigmoid' ? Array.from(logits, sigmoid) : Array.from(logits);
        const list = scores.map((score, k) => ({ label: id2label[k] ?? `LABEL_${k}`, score }));
        list.sort((a, b) => b.score - a.score);
        return list.length > topK ? list.slice(0, topK) : list;
      };
    }) as Promise<LabelScore[] | LabelScore[][]>;
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
      () => {
        this.#needSequenceLogits('rerank');
        if (this.model.config.num_labels !== 1) {
          throw new InvalidInputError(`rerank needs a cross-encoder with one output (num_labels 1); this model has ${this.model.config.num_labels} labels`);
        }
        return (view: RowView) => {
          const logit = view.sequence('logits')[0]!;
          return activation === 'sigmoid' ? sigmoid(logit) : logit;
        };
      },
    )) as number[];
    const results = scores.map((score, corpusId): BatchRerankResult => (options.returnDocuments ? { corpusId, score, text: documents[corpusId]! } : { corpusId, score }));
    results.sort((a, b) => b.score - a.score || a.corpusId - b.corpusId);
    return results.length > topK ? results.slice(0, topK) : results;
  }

  /** Raw outputs per sequence (copied out of the shared batch). */
  forward(input: SequenceInput, options?: RequestOptions): Promise<SequenceOutput>;
  forward(inputs: SequenceInput[], options?: RequestOptions): Promise<SequenceOutput[]>;
  forward(inputs: SequenceInput | SequenceInput[], options: RequestOptions = {}): Promise<SequenceOutput | SequenceOutput[]> {
    return this.#call(inputs, options, FORWARD_OPTIONS, 'forward', () => {
      const perSeqLogits = PER_SEQUENCE_LOGITS.includes(headKind(this.model));
      return (view: RowView) => {
        const out: SequenceOutput = { tokens: view.length, lastHiddenState: view.tokens('lastHiddenState').slice() };
        if (view.has('poolerOutput')) out.poolerOutput = view.sequence('poolerOutput').slice();
        if (view.has('logits')) out.logits = (perSeqLogits ? view.sequence('logits') : view.tokens('logits')).slice();
        if (view.has('startLogits')) out.startLogits = view.tokens('startLogits').slice();
        if (view.has('endLogits')) out.endLogits = view.tokens('endLogits').slice();
        return out;
      };
    }) as Promise<SequenceOutput | SequenceOutput[]>;
  }

  /** Stops taking requests; resolves once every admitted request has settled (`drain: false` aborts the queued ones). */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    checkOptionNames(options, ['drain'], 'close() options');
    this.#closed = true;
    if (options.drain === false) {
      for (let i = this.#head; i < this.#queue.length; i++) {
        const e = this.#queue[i]!;
        if (!e.taken && !e.job.settled) this.#settle(e.job, new AbortedError('the batcher was closed before the request ran'));
      }
    }
    this.#kick();
    if (this.#active > 0 || this.#running) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- statistics ------------------------------------------------------------------------------

  stats(): BatcherStats {
    const now = Date.now();
    const [rps, sps, tps, bps, busyMs] = this.#window.rates(now);
    return {
      time: now,
      closed: this.#closed,
      queue: { requests: this.#queuedRequests, sequences: this.#queuedSeqs, tokens: this.#queuedTokens },
      activeRequests: this.#active,
      running: this.#running ? { ...this.#running } : null,
      limits: {
        maxBatchTokens: this.maxBatchTokens,
        maxBatchSize: this.maxBatchSize,
        maxWaitMs: this.maxWaitMs,
        maxQueuedTokens: this.maxQueuedTokens,
        maxConcurrentRequests: this.maxConcurrentRequests,
        timeoutMs: this.timeoutMs,
      },
      totals: { ...this.#totals },
      window: {
        seconds: this.#window.seconds,
        requestsPerSecond: rps!,
        sequencesPerSecond: sps!,
        tokensPerSecond: tps!,
        batchesPerSecond: bps!,
        utilization: Math.min(1, busyMs! / 1000),
      },
      capacityTokensPerSecond: this.#recentMs > 0 ? (this.#recentTokens / this.#recentMs) * 1000 : 0,
      latencyMs: this.#latency.percentiles(),
      queueMs: this.#queueWait.percentiles(),
      forwardMs: this.#forward.percentiles(),
      batchSequences: this.#batchSeqs.percentiles(),
      batchTokens: this.#batchTokens.percentiles(),
      histograms: {
        requestSeconds: this.#hLatency.snapshot(),
        queueSeconds: this.#hQueue.snapshot(),
        forwardSeconds: this.#hForward.snapshot(),
        batchSequences: this.#hBatchSeqs.snapshot(),
        batchTokens: this.#hBatchTokens.snapshot(),
      },
    };
  }

  /**
   * Estimated ms before a request of `tokens` tokens submitted now would finish: the forward in
   * flight, the queue ahead of it and at most one full batch, at the throughput of recent batches
   * (0 before any batch ran).
   */
  estimatedWaitMs(tokens = 0): number {
    const perMs = this.#throughputPerMs();
    if (perMs <= 0) return 0;
    const ahead = this.#queuedTokens + (this.#running?.tokens ?? 0) + Math.max(tokens, Math.min(this.maxBatchTokens, this.#queuedTokens + tokens));
    return ahead / perMs;
  }

  /** Tokens per ms of forward time: the slower of the last 32 batches and the last 4 (a machine that slows down is seen at once). */
  #throughputPerMs(): number {
    if (this.#recentMs <= 0) return 0;
    let t = 0;
    let ms = 0;
    for (let i = Math.max(0, this.#recent.length - 4); i < this.#recent.length; i++) {
      t += this.#recent[i]!.tokens;
      ms += this.#recent[i]!.ms;
    }
    return Math.min(this.#recentTokens / this.#recentMs, ms > 0 ? t / ms : Infinity);
  }

  // ---- submission ------------------------------------------------------------------------------

  #needSequenceLogits(task: string): void {
    if (headKind(this.model) !== 'sequence_classification') {
      throw new UnsupportedModelError(`${task} needs a BertForSequenceClassification model (or another family's ForSequenceClassification); this one is ${this.model.architecture}`);
    }
  }

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
    const seqs = this.#prepare(items, options);
    return this.#submit(seqs, reduce, batched ? (r) => r : (r) => r[0], resolved);
  }

  #prepare(items: SequenceInput[], options: RequestOptions): Prepared[] {
    const out = new Array<Prepared>(items.length);
    const texts: (string | [string, string])[] = [];
    const textAt: number[] = [];
    items.forEach((x, i) => {
      if (typeof x === 'string') {
        texts.push(x);
        textAt.push(i);
      } else if (x !== null && typeof x === 'object' && 'text' in x && typeof (x as TextPairInput).text === 'string') {
        const p = x as TextPairInput;
        if (p.textPair !== undefined && p.textPair !== null && typeof p.textPair !== 'string') throw new InvalidInputError(`inputs[${i}].textPair must be a string`);
        texts.push(p.textPair ? [p.text, p.textPair] : p.text);
        textAt.push(i);
      } else if (x !== null && typeof x === 'object' && 'ids' in x) {
        out[i] = this.#fromTokens(x as TokenizedInput, i);
      } else {
        throw new InvalidInputError(`inputs[${i}] must be a string, { text, textPair } or { ids, typeIds? }`);
      }
    });
    if (texts.length) {
      const tok = this.tokenizer;
      if (!tok) throw new InvalidInputError('this batcher has no tokenizer (the model has none): pass options.tokenizer, or token ids');
      if (options.truncate !== undefined && typeof options.truncate !== 'boolean') throw new InvalidInputError('truncate must be a boolean');
      const side = options.truncationSide ?? 'right';
      if (side !== 'left' && side !== 'right') throw new InvalidInputError(`truncationSide must be 'left' or 'right'`);
      const enc: EncodeOptions = options.truncate
        ? { padding: false, truncation: true, maxLength: this.maxLength, truncationSide: side, returnOverflowing: false }
        : { padding: false, truncation: false, returnOverflowing: false };
      const batch = tok.encodeBatch(texts, enc);
      const V = this.model.config.vocab_size;
      batch.encodings.forEach((e, j) => {
        const ids = e.ids;
        for (let t = 0; t < ids.length; t++) {
          if (ids[t]! >= V) throw new InvalidInputError(`the tokenizer gave id ${ids[t]} for inputs[${textAt[j]}], beyond the model's vocabulary (${V})`);
        }
        out[textAt[j]!] = { ids, typeIds: e.typeIds, mask: null };
      });
    }
    const max = this.model.config.max_position_embeddings;
    out.forEach((s, i) => {
      const n = s.ids.length;
      if (n === 0) throw new InvalidInputError(`inputs[${i}] has no tokens`);
      if (n > max) {
        throw new InvalidInputError(`inputs[${i}] has ${n} tokens, more than the model's ${max} positions: pass truncate: true, or shorten it`);
      }
    });
    return out;
  }

  #fromTokens(x: TokenizedInput, i: number): Prepared {
    const c = this.model.config;
    const src = x.ids;
    if (src === null || typeof src !== 'object' || typeof src.length !== 'number') throw new InvalidInputError(`inputs[${i}].ids must be an array of token ids`);
    const n = src.length;
    // Int32Arrays (an Encoding's ids) are used as they are, not copied: leave them alone until the call settles.
    const ids = src instanceof Int32Array ? src : new Int32Array(n);
    for (let t = 0; t < n; t++) {
      const v = src[t];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= c.vocab_size) {
        throw new InvalidInputError(`inputs[${i}].ids[${t}] = ${String(v)} is not a token id of this model (vocabulary ${c.vocab_size})`);
      }
      ids[t] = v;
    }
    let typeIds: Int32Array;
    const types = x.typeIds;
    if (types !== undefined && types !== null) {
      if (types.length !== n) throw new InvalidInputError(`inputs[${i}]: typeIds must have one entry per id`);
      typeIds = types instanceof Int32Array ? types : new Int32Array(n);
      for (let t = 0; t < n; t++) {
        const v = types[t];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= c.type_vocab_size) {
          throw new InvalidInputError(`inputs[${i}].typeIds[${t}] = ${String(v)} is not below type_vocab_size (${c.type_vocab_size})`);
        }
        typeIds[t] = v;
      }
    } else {
      typeIds = new Int32Array(n);
    }
    let mask: Uint8Array | null = null;
    const m = x.attentionMask;
    if (m !== undefined && m !== null) {
      if (m.length !== n) throw new InvalidInputError(`inputs[${i}]: attentionMask must have one entry per id`);
      for (let t = 0; t < n; t++) {
        if (!m[t]) {
          mask = Uint8Array.from({ length: n }, (_, k) => (m[k] ? 1 : 0));
          break;
        }
      }
    }
    return { ids, typeIds, mask };
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
    this.#totals.submitted++;
    const why = this.#refusal(tokens, o.timeoutMs);
    if (why !== null) {
      this.#totals.rejected++;
      return Promise.reject(new OverloadedError(`overloaded: ${why}; retry later`, this.#retryAfterMs()));
    }
    this.#totals.admitted++;
    this.#active++;
    return new Promise((resolve, reject) => {
      const job = new Job(performance.now(), tokens, seqs.length, reduce, finish, resolve, reject);
      seqs.forEach((s, k) => {
        const e: Entry = { ...s, job, k, n: s.ids.length, taken: false };
        job.entries.push(e);
        this.#queue.push(e);
      });
      job.queuedSeqs = seqs.length;
      job.queuedTokens = tokens;
      this.#queuedSeqs += seqs.length;
      this.#queuedTokens += tokens;
      this.#queuedRequests++;
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
      this.#kick();
    });
  }

  /** Why a request of `tokens` tokens would be refused now, or null. */
  #refusal(tokens: number, timeoutMs: number | null): string | null {
    if (this.#closed) return 'the batcher is closing';
    if (this.#active >= this.maxConcurrentRequests) return `${this.#active} requests in flight (maxConcurrentRequests ${this.maxConcurrentRequests})`;
    if (this.#queuedTokens + tokens > this.maxQueuedTokens) {
      return `${this.#queuedTokens} tokens queued, ${tokens} more would pass maxQueuedTokens ${this.maxQueuedTokens}`;
    }
    if (this.rejectLate && timeoutMs !== null) {
      // With a margin: the estimate comes from recent batches, and the machine may be shared.
      const wait = this.estimatedWaitMs(tokens);
      if (wait > 0.85 * timeoutMs) return `the queue ahead would take ~${Math.round(wait)} ms, about the ${timeoutMs} ms timeout or more`;
    }
    return null;
  }

  /**
   * Throws the OverloadedError a request would get if submitted now (counted as rejected in the
   * stats), so that a server can refuse before reading and tokenizing a request body. `timeoutMs`
   * defaults to the batcher's. Admission is still checked on submission.
   */
  precheck(tokens = 0, timeoutMs: number | null = this.timeoutMs): void {
    const why = this.#closed ? null : this.#refusal(tokens, timeoutMs);
    if (why === null) return;
    this.#totals.submitted++;
    this.#totals.rejected++;
    throw new OverloadedError(`overloaded: ${why}; retry later`, this.#retryAfterMs());
  }

  #retryAfterMs(): number {
    const capacity = this.#throughputPerMs();
    if (capacity <= 0) return 1000;
    return Math.max(100, Math.ceil(this.#queuedTokens / capacity));
  }

  #settle(job: Job, err: unknown, value?: unknown): void {
    if (job.settled) return;
    job.settled = true;
    this.#active--;
    if (job.queuedSeqs > 0) {
      this.#queuedTokens -= job.queuedTokens;
      this.#queuedSeqs -= job.queuedSeqs;
      this.#dead += job.queuedSeqs;
      this.#queuedRequests--;
      job.queuedSeqs = 0;
      job.queuedTokens = 0;
    }
    if (job.timer) clearTimeout(job.timer);
    if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
    if (err === undefined) {
      const ms = performance.now() - job.start;
      this.#totals.succeeded++;
      this.#latency.add(ms);
      this.#hLatency.add(ms / 1000);
      this.#window.add([1, 0, 0, 0, 0]);
      job.resolve(value);
    } else {
      if (err instanceof AbortedError) this.#totals.aborted++;
      else if (err instanceof TimeoutError) this.#totals.timedOut++;
      else this.#totals.failed++;
      job.reject(err);
    }
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#active === 0 && !this.#running && this.#idleWaiters.length) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  // ---- scheduling ------------------------------------------------------------------------------

  /** ms the oldest queued request may still wait for company (≤ 0: dispatch now). */
  #waitLeft(now: number): number {
    if (this.#queuedSeqs === 0) return Infinity;
    if (this.#closed || this.#queuedTokens >= this.maxBatchTokens || this.#queuedSeqs >= this.maxBatchSize) return 0;
    const head = this.#oldest();
    return head ? this.maxWaitMs - (now - head.job.start) : Infinity;
  }

  #oldest(): Entry | undefined {
    const q = this.#queue;
    while (this.#head < q.length) {
      const e = q[this.#head]!;
      if (!e.taken && !e.job.settled) return e;
      this.#head++;
      this.#dead--;
    }
    return undefined;
  }

  /** Starts a batch now if one is due, else arranges to. */
  #kick(): void {
    if (this.#running) return;
    const wait = this.#waitLeft(performance.now());
    if (wait === Infinity) {
      this.#checkIdle();
      return;
    }
    if (wait <= 0) {
      if (this.#timer) {
        clearTimeout(this.#timer);
        this.#timer = null;
      }
      // Defer to the next turn so that calls made together (Promise.all) share the batch.
      this.#immediate ??= setImmediate(() => {
        this.#immediate = null;
        this.#dispatch();
      });
    } else if (!this.#timer && !this.#immediate) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#dispatch();
      }, Math.ceil(wait));
    }
  }

  #dispatch(): void {
    if (this.#running) return;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#immediate) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    const batch = this.#take();
    if (batch.length === 0) {
      this.#checkIdle();
      return;
    }
    let tokens = 0;
    for (const e of batch) tokens += e.n;
    this.#running = { sequences: batch.length, tokens };
    void this.#run(batch, tokens);
  }

  /** Takes the next batch off the queue. */
  #take(): Entry[] {
    const out: Entry[] = [];
    const head = this.#oldest();
    if (!head) return out;
    let tokens = 0;
    const now = performance.now();
    const take = (e: Entry): void => {
      e.taken = true;
      out.push(e);
      tokens += e.n;
      this.#dead++;
      const job = e.job;
      job.queuedSeqs--;
      job.queuedTokens -= e.n;
      this.#queuedSeqs--;
      this.#queuedTokens -= e.n;
      if (job.queuedSeqs === 0) this.#queuedRequests--;
      if (job.dispatched < 0) {
        job.dispatched = now;
        const ms = now - job.start;
        this.#queueWait.add(ms);
        this.#hQueue.add(ms / 1000);
      }
    };
    take(head);
    const q = this.#queue;
    const lookahead = this.maxBatchSize * 4;
    if (this.order === 'arrival') {
      let skipped = 0;
      for (let i = this.#head + 1; i < q.length && out.length < this.maxBatchSize; i++) {
        const e = q[i]!;
        if (e.taken || e.job.settled) continue;
        if (tokens + e.n > this.maxBatchTokens) {
          if (++skipped > lookahead) break;
          continue;
        }
        take(e);
      }
    } else {
      const candidates: Entry[] = [];
      for (let i = this.#head + 1; i < q.length && candidates.length < lookahead; i++) {
        const e = q[i]!;
        if (!e.taken && !e.job.settled) candidates.push(e);
      }
      candidates.sort((a, b) => b.n - a.n);
      for (const e of candidates) {
        if (out.length >= this.maxBatchSize) break;
        if (tokens + e.n <= this.maxBatchTokens) take(e);
      }
    }
    this.#oldest();
    this.#compact();
    return out;
  }

  /** Drops taken and abandoned entries once they make up most of the queue array. */
  #compact(): void {
    const q = this.#queue;
    const live = q.length - this.#head - this.#dead;
    if (this.#head > 1024 || (this.#dead > 1024 && this.#dead > live)) {
      this.#queue = q.slice(this.#head).filter((e) => !e.taken && !e.job.settled);
      this.#head = 0;
      this.#dead = 0;
    }
  }

  async #run(batch: Entry[], tokens: number): Promise<void> {
    const packed = pack(batch, tokens);
    const t0 = performance.now();
    let out: ModelOutput | undefined;
    let error: unknown;
    try {
      out = await this.model.forwardPacked(packed);
    } catch (err) {
      error = err;
    }
    const ms = performance.now() - t0;
    this.#recordBatch(batch.length, tokens, ms);
    if (error !== undefined) {
      await this.#fail(batch, error);
      this.#running = null;
      this.#kick();
      this.#checkIdle();
      return;
    }
    this.#running = null;
    // Start the next forward before handing out this one's results: the engine works on it
    // (on its own threads) while this thread pools and resolves.
    if (this.#waitLeft(performance.now()) <= 0) this.#dispatch();
    else this.#kick();
    await nextTurn();
    await this.#deliver(batch, out!, packed.cuSeqlens, tokens);
    this.#checkIdle();
  }

  #recordBatch(sequences: number, tokens: number, ms: number): void {
    const t = this.#totals;
    t.batches++;
    t.sequences += sequences;
    t.tokens += tokens;
    this.#forward.add(ms);
    this.#hForward.add(ms / 1000);
    this.#batchSeqs.add(sequences);
    this.#hBatchSeqs.add(sequences);
    this.#batchTokens.add(tokens);
    this.#hBatchTokens.add(tokens);
    this.#window.add([0, sequences, tokens, 1, ms]);
    this.#recent.push({ tokens, ms });
    this.#recentTokens += tokens;
    this.#recentMs += ms;
    if (this.#recent.length > 32) {
      const old = this.#recent.shift()!;
      this.#recentTokens -= old.tokens;
      this.#recentMs -= old.ms;
    }
  }

  /**
   * Hands each sequence's outputs to its request, yielding to the event loop every few ms and
   * every few settled requests: each settled request runs its caller's continuation (a server
   * serializes and writes its response) when this yields, and that work must be bounded too.
   */
  async #deliver(batch: Entry[], out: ModelOutput, cu: Int32Array, tokens: number): Promise<void> {
    let since = performance.now();
    let settled = 0;
    for (let b = 0; b < batch.length; b++) {
      const e = batch[b]!;
      const job = e.job;
      if (!job.settled) {
        try {
          job.results[e.k] = job.reduce(new RowView(out, b, cu[b]!, e.n, tokens), e);
          if (--job.remaining === 0) {
            this.#settle(job, undefined, job.finish(job.results));
            settled++;
          }
        } catch (err) {
          this.#settle(job, err instanceof BertError ? err : new InvalidInputError(String((err as Error)?.message ?? err), { cause: err }));
        }
      }
      if (settled >= SETTLE_CHUNK || performance.now() - since > YIELD_MS) {
        await nextTurn();
        since = performance.now();
        settled = 0;
      }
    }
  }

  /**
   * A failed forward: inputs were validated on submission, so this is the engine (memory, a
   * disposed model). Each request of the batch is retried alone so that one cannot fail another.
   */
  async #fail(batch: Entry[], error: unknown): Promise<void> {
    const jobs = [...new Set(batch.map((e) => e.job))].filter((j) => !j.settled);
    if (jobs.length <= 1 || error instanceof DisposedError || this.model.disposed) {
      for (const j of jobs) this.#settle(j, error);
      return;
    }
    for (const job of jobs) {
      if (job.settled) continue;
      const mine = batch.filter((e) => e.job === job);
      let n = 0;
      for (const e of mine) n += e.n;
      try {
        const packed = pack(mine, n);
        const out = await this.model.forwardPacked(packed);
        await this.#deliver(mine, out, packed.cuSeqlens, n);
      } catch (err) {
        this.#settle(job, err);
      }
    }
  }
}

function pack(batch: readonly Prepared[], total: number): PackedInput {
  const inputIds = new Int32Array(total);
  const tokenTypeIds = new Int32Array(total);
  const cuSeqlens = new Int32Array(batch.length + 1);
  let mask: Uint8Array | undefined;
  let t = 0;
  for (let b = 0; b < batch.length; b++) {
    const s = batch[b]!;
    inputIds.set(s.ids, t);
    tokenTypeIds.set(s.typeIds, t);
    if (s.mask) {
      mask ??= new Uint8Array(total).fill(1);
      mask.set(s.mask, t);
    }
    t += s.ids.length;
    cuSeqlens[b + 1] = t;
  }
  return mask ? { inputIds, cuSeqlens, tokenTypeIds, attentionMask: mask } : { inputIds, cuSeqlens, tokenTypeIds };
}

/** Floats the forward allocates per token (hidden state plus any per-token head). */
function floatsPerToken(model: BertModel): number {
  const c = model.config;
  switch (headKind(model)) {
    case 'masked_lm':
    case 'pretraining':
      return c.hidden_size + c.vocab_size;
    case 'token_classification':
      return c.hidden_size + c.num_labels;
    case 'question_answering':
      return c.hidden_size + 2;
    case 'discriminator':
      return c.hidden_size + 1;
    default:
      return c.hidden_size;
  }
}

// As the pipelines compute them (float64); kept here so that this module imports nothing that
// imports the model (bert-model.ts can then delegate to createBatcher without an import cycle).
function softmax(x: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i]! > max) max = x[i]!;
  const out = new Float64Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    out[i] = Math.exp(x[i]! - max);
    sum += out[i]!;
  }
  for (let i = 0; i < x.length; i++) out[i]! /= sum;
  return out;
}

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

function checkFunction(x: unknown): ClassifyFunction | undefined {
  if (x === undefined) return undefined;
  if (x === 'softmax' || x === 'sigmoid' || x === 'none') return x;
  throw new InvalidInputError(`functionToApply must be 'softmax', 'sigmoid' or 'none', got ${JSON.stringify(x)}`);
}

function defaultFunction(model: BertModel): ClassifyFunction {
  const c = model.config;
  if (c.problem_type === 'regression') return 'none';
  if (c.problem_type === 'multi_label_classification' || c.num_labels === 1) return 'sigmoid';
  return 'softmax';
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
