/** The batcher's public types and the option names each call takes. */
import { optionNames } from '../../options.js';
import type { PoolingMode } from '../../pipelines/pooling.js';
import type { Tokenizer } from '../../tokenizer/index.js';
import type { HistogramSnapshot, Percentiles } from '../stats.js';

const REQUEST_NAMES = { signal: true, timeoutMs: true, truncate: true, truncationSide: true } as const;
export const BATCHER_OPTIONS = optionNames<BatcherOptions>({
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
export const FORWARD_OPTIONS = optionNames<RequestOptions>(REQUEST_NAMES);
export const EMBED_OPTIONS = optionNames<EmbedOptions>({ ...REQUEST_NAMES, pooling: true, normalize: true, dimensions: true });
export const CLASSIFY_OPTIONS = optionNames<ClassifyOptions>({ ...REQUEST_NAMES, functionToApply: true, topK: true });
export const RERANK_OPTIONS = optionNames<BatchRerankOptions>({ ...REQUEST_NAMES, activation: true, returnDocuments: true, topK: true });

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
