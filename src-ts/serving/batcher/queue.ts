/**
 * The batcher's queue: requests (jobs) and their sequences (entries) in arrival order, the
 * counters admission control reads, and the choice of the next batch under the token and
 * sequence budgets. Taken and abandoned entries stay in the array until they make up most of it.
 */
import type { RowResult } from '../../model/rows.js';

/** One sequence to run. */
export interface Prepared {
  ids: Int32Array;
  typeIds: Int32Array;
  mask: Uint8Array | null;
}

/** A sequence in the queue, tagged with its request. */
export interface Entry extends Prepared {
  job: Job;
  /** Index of the sequence within its request. */
  k: number;
  n: number;
  taken: boolean;
}

/** Turns one sequence's outputs into its part of the request's result. */
export type Reduce = (view: RowResult, seq: Prepared) => unknown;

export class Job {
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

export interface TakeLimits {
  maxBatchTokens: number;
  maxBatchSize: number;
  order: 'arrival' | 'longest-first';
}

export class RequestQueue {
  #queue: Entry[] = [];
  #head = 0;
  /** Taken or abandoned entries at or after #head. */
  #dead = 0;
  /** Queued (not yet taken) tokens, sequences and requests. */
  tokens = 0;
  sequences = 0;
  requests = 0;

  /** Queues every sequence of `job`. */
  push(job: Job, seqs: readonly Prepared[]): void {
    seqs.forEach((s, k) => {
      const e: Entry = { ...s, job, k, n: s.ids.length, taken: false };
      job.entries.push(e);
      this.#queue.push(e);
    });
    job.queuedSeqs = seqs.length;
    job.queuedTokens = job.tokens;
    this.sequences += seqs.length;
    this.tokens += job.tokens;
    this.requests++;
  }

  /** A settled job's sequences still queued leave the counters (their entries become dead). */
  drop(job: Job): void {
    if (job.queuedSeqs === 0) return;
    this.tokens -= job.queuedTokens;
    this.sequences -= job.queuedSeqs;
    this.#dead += job.queuedSeqs;
    this.requests--;
    job.queuedSeqs = 0;
    job.queuedTokens = 0;
  }

  /** The oldest live entry (advancing past dead ones). */
  oldest(): Entry | undefined {
    const q = this.#queue;
    while (this.#head < q.length) {
      const e = q[this.#head]!;
      if (!e.taken && !e.job.settled) return e;
      this.#head++;
      this.#dead--;
    }
    return undefined;
  }

  /** Jobs with sequences still queued, oldest first (with repeats). */
  *pendingJobs(): Generator<Job> {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const e = this.#queue[i]!;
      if (!e.taken && !e.job.settled) yield e.job;
    }
  }

  /**
   * Takes the next batch: the oldest entry, then others by `order` within the budgets.
   * `onFirstTake(job)` runs when a request's first sequence leaves the queue.
   */
  take(limits: TakeLimits, onFirstTake: (job: Job) => void): Entry[] {
    const out: Entry[] = [];
    const head = this.oldest();
    if (!head) return out;
    let tokens = 0;
    const take = (e: Entry): void => {
      e.taken = true;
      out.push(e);
      tokens += e.n;
      this.#dead++;
      const job = e.job;
      job.queuedSeqs--;
      job.queuedTokens -= e.n;
      this.sequences--;
      this.tokens -= e.n;
      if (job.queuedSeqs === 0) this.requests--;
      if (job.dispatched < 0) onFirstTake(job);
    };
    take(head);
    const q = this.#queue;
    const lookahead = limits.maxBatchSize * 4;
    if (limits.order === 'arrival') {
      let skipped = 0;
      for (let i = this.#head + 1; i < q.length && out.length < limits.maxBatchSize; i++) {
        const e = q[i]!;
        if (e.taken || e.job.settled) continue;
        if (tokens + e.n > limits.maxBatchTokens) {
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
        if (out.length >= limits.maxBatchSize) break;
        if (tokens + e.n <= limits.maxBatchTokens) take(e);
      }
    }
    this.oldest();
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
}
