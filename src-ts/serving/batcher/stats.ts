/**
 * The batcher's statistics: totals, recent samples (percentiles), cumulative histograms
 * (Prometheus), windowed rates, and the recent batches' throughput that admission control and
 * the wait estimate use.
 */
import { Histogram, LATENCY_BUCKETS_S, RateWindow, Reservoir, SIZE_BUCKETS, TOKEN_BUCKETS } from '../stats.js';
import type { BatcherStats } from './types.js';

export type Totals = BatcherStats['totals'];

export class BatcherMetrics {
  readonly totals: Totals = { submitted: 0, admitted: 0, rejected: 0, succeeded: 0, failed: 0, aborted: 0, timedOut: 0, batches: 0, sequences: 0, tokens: 0 };
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

  /** A request left the queue for its first batch after `ms`. */
  queued(ms: number): void {
    this.#queueWait.add(ms);
    this.#hQueue.add(ms / 1000);
  }

  /** A request succeeded `ms` after submission. */
  succeeded(ms: number): void {
    this.totals.succeeded++;
    this.#latency.add(ms);
    this.#hLatency.add(ms / 1000);
    this.#window.add([1, 0, 0, 0, 0]);
  }

  batch(sequences: number, tokens: number, ms: number): void {
    const t = this.totals;
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

  /** Tokens per ms of forward time: the slower of the last 32 batches and the last 4 (a machine that slows down is seen at once). */
  throughputPerMs(): number {
    if (this.#recentMs <= 0) return 0;
    let t = 0;
    let ms = 0;
    for (let i = Math.max(0, this.#recent.length - 4); i < this.#recent.length; i++) {
      t += this.#recent[i]!.tokens;
      ms += this.#recent[i]!.ms;
    }
    return Math.min(this.#recentTokens / this.#recentMs, ms > 0 ? t / ms : Infinity);
  }

  /** The measured parts of BatcherStats (the caller adds the queue, the limits and the state). */
  snapshot(now: number): Pick<BatcherStats, 'totals' | 'window' | 'capacityTokensPerSecond' | 'latencyMs' | 'queueMs' | 'forwardMs' | 'batchSequences' | 'batchTokens' | 'histograms'> {
    const [rps, sps, tps, bps, busyMs] = this.#window.rates(now);
    return {
      totals: { ...this.totals },
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
}
