/**
 * Scheduling: when the next batch goes (at once when one is full or the model is idle and the
 * oldest request has waited maxWaitMs; while a forward runs requests gather), running it packed,
 * and handing each sequence's outputs to its request. One forward runs at a time; the next one
 * starts before this one's results are handed out, so the engine works while this thread pools.
 */
import { BertError, DisposedError, InvalidInputError } from '../../errors.js';
import type { BertModel } from '../../model/bert-model.js';
import type { ModelOutput } from '../../model/outputs.js';
import { RowResult, packRows } from '../../model/rows.js';
import type { BatcherMetrics } from './stats.js';
import type { Entry, Job, RequestQueue, TakeLimits } from './queue.js';

// Globals (performance, setImmediate) rather than node:perf_hooks and node:timers/promises, whose
// ES-module wrappers load more of Node at the package's import.
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Post-processing yields to the event loop after this much work (ms), or this many settled requests. */
const YIELD_MS = 4;
const SETTLE_CHUNK = 8;

/** What the scheduler reads of, and reports to, its batcher. */
export interface SchedulerHost {
  readonly model: BertModel;
  readonly queue: RequestQueue;
  readonly metrics: BatcherMetrics;
  readonly limits: TakeLimits & { maxWaitMs: number };
  closed(): boolean;
  settle(job: Job, err: unknown, value?: unknown): void;
  checkIdle(): void;
}

export class Scheduler {
  /** The forward in flight, if any. */
  running: { sequences: number; tokens: number } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;

  constructor(private readonly host: SchedulerHost) {}

  /** ms the oldest queued request may still wait for company (≤ 0: dispatch now). */
  #waitLeft(now: number): number {
    const { queue, limits } = this.host;
    if (queue.sequences === 0) return Infinity;
    if (this.host.closed() || queue.tokens >= limits.maxBatchTokens || queue.sequences >= limits.maxBatchSize) return 0;
    const head = queue.oldest();
    return head ? limits.maxWaitMs - (now - head.job.start) : Infinity;
  }

  /** Starts a batch now if one is due, else arranges to. */
  kick(): void {
    if (this.running) return;
    const wait = this.#waitLeft(performance.now());
    if (wait === Infinity) {
      this.host.checkIdle();
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
    if (this.running) return;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#immediate) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    const now = performance.now();
    const batch = this.host.queue.take(this.host.limits, (job) => {
      job.dispatched = now;
      this.host.metrics.queued(now - job.start);
    });
    if (batch.length === 0) {
      this.host.checkIdle();
      return;
    }
    let tokens = 0;
    for (const e of batch) tokens += e.n;
    this.running = { sequences: batch.length, tokens };
    void this.#run(batch, tokens);
  }

  async #run(batch: Entry[], tokens: number): Promise<void> {
    const packed = packRows(batch, tokens);
    const t0 = performance.now();
    let out: ModelOutput | undefined;
    let error: unknown;
    try {
      out = await this.host.model.forwardPacked(packed);
    } catch (err) {
      error = err;
    }
    const ms = performance.now() - t0;
    this.host.metrics.batch(batch.length, tokens, ms);
    if (error !== undefined) {
      await this.#fail(batch, error);
      this.running = null;
      this.kick();
      this.host.checkIdle();
      return;
    }
    this.running = null;
    // Start the next forward before handing out this one's results: the engine works on it
    // (on its own threads) while this thread pools and resolves.
    if (this.#waitLeft(performance.now()) <= 0) this.#dispatch();
    else this.kick();
    await nextTurn();
    await this.#deliver(batch, out!, packed.cuSeqlens, tokens);
    this.host.checkIdle();
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
          job.results[e.k] = job.reduce(new RowResult(out, b, cu[b]!, e.n, tokens), e);
          if (--job.remaining === 0) {
            this.host.settle(job, undefined, job.finish(job.results));
            settled++;
          }
        } catch (err) {
          this.host.settle(job, err instanceof BertError ? err : new InvalidInputError(String((err as Error)?.message ?? err), { cause: err }));
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
    if (jobs.length <= 1 || error instanceof DisposedError || this.host.model.disposed) {
      for (const j of jobs) this.host.settle(j, error);
      return;
    }
    for (const job of jobs) {
      if (job.settled) continue;
      const mine = batch.filter((e) => e.job === job);
      let n = 0;
      for (const e of mine) n += e.n;
      try {
        const packed = packRows(mine, n);
        const out = await this.host.model.forwardPacked(packed);
        await this.#deliver(mine, out, packed.cuSeqlens, n);
      } catch (err) {
        this.host.settle(job, err);
      }
    }
  }
}
