/**
 * Bounded-memory measurement for serving: recent-sample percentiles (a ring of the last N values),
 * cumulative histograms with fixed buckets (what Prometheus scrapes), and rates over a sliding
 * window of one-second buckets.
 */

/** Percentiles of recent samples (0 when there are none). */
export interface Percentiles {
  /** Samples the figures are computed from (at most the ring's size). */
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const EMPTY: Percentiles = Object.freeze({ count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 });

/** The last `size` values added; percentiles by nearest rank over them. */
export class Reservoir {
  readonly #buf: Float64Array;
  #n = 0;
  #next = 0;

  constructor(size = 4096) {
    this.#buf = new Float64Array(size);
  }

  add(v: number): void {
    this.#buf[this.#next] = v;
    this.#next = (this.#next + 1) % this.#buf.length;
    if (this.#n < this.#buf.length) this.#n++;
  }

  percentiles(): Percentiles {
    const n = this.#n;
    if (n === 0) return { ...EMPTY };
    const s = this.#buf.slice(0, n).sort();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += s[i]!;
    const at = (q: number): number => s[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
    return { count: n, mean: sum / n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[n - 1]! };
  }
}

/** A cumulative histogram: `counts[i]` values ≤ `buckets[i]`, the last entry is +Inf (= count). */
export interface HistogramSnapshot {
  buckets: number[];
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram {
  readonly #bounds: number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = [...bounds].sort((a, b) => a - b);
    this.#counts = new Float64Array(this.#bounds.length);
  }

  add(v: number): void {
    this.#sum += v;
    this.#count++;
    const b = this.#bounds;
    // Few buckets: a linear scan from the top is as fast as a bisection and simpler.
    for (let i = b.length - 1; i >= 0 && v <= b[i]!; i--) this.#counts[i]!++;
  }

  snapshot(): HistogramSnapshot {
    return { buckets: [...this.#bounds, Infinity], counts: [...this.#counts, this.#count], sum: this.#sum, count: this.#count };
  }
}

/** Sums per second over the last `seconds` seconds (one bucket a second). */
export class RateWindow {
  readonly #seconds: number;
  readonly #stamp: Float64Array;
  readonly #values: Float64Array[];
  readonly #started: number;

  constructor(fields: number, seconds = 10, now = Date.now()) {
    this.#seconds = seconds;
    this.#stamp = new Float64Array(seconds).fill(-1);
    this.#values = Array.from({ length: fields }, () => new Float64Array(seconds));
    this.#started = now;
  }

  /** Adds `values[f]` to field f in the bucket of `now`. */
  add(values: readonly number[], now = Date.now()): void {
    const sec = Math.floor(now / 1000);
    const i = sec % this.#seconds;
    if (this.#stamp[i] !== sec) {
      this.#stamp[i] = sec;
      for (const v of this.#values) v[i] = 0;
    }
    for (let f = 0; f < values.length; f++) this.#values[f]![i]! += values[f]!;
  }

  /** Per-second rates of every field over the window (or since creation, when shorter; at least 1 s). */
  rates(now = Date.now()): number[] {
    const sec = Math.floor(now / 1000);
    const span = Math.max(1, Math.min(this.#seconds, (now - this.#started) / 1000));
    return this.#values.map((v) => {
      let sum = 0;
      for (let i = 0; i < this.#seconds; i++) {
        const age = sec - this.#stamp[i]!;
        if (this.#stamp[i]! >= 0 && age >= 0 && age < this.#seconds) sum += v[i]!;
      }
      return sum / span;
    });
  }

  get seconds(): number {
    return this.#seconds;
  }
}

/** Bucket bounds in seconds for request latencies (1 ms … 60 s). */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Bucket bounds for batch sizes (sequences) and batch tokens. */
export const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
export const TOKEN_BUCKETS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];
