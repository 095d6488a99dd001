/** Prometheus text exposition (format 0.0.4) of a batcher's stats, and a small writer for more. */
import type { BatcherStats } from './batcher.js';
import type { HistogramSnapshot } from './stats.js';

export type Labels = Record<string, string>;

function labelText(labels: Labels | undefined, extra?: Labels): string {
  const all = { ...labels, ...extra };
  const keys = Object.keys(all);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${String(all[k]).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',')}}`;
}

function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

/** Accumulates metric families; `toString()` gives the exposition text. */
export class PrometheusText {
  #lines: string[] = [];
  #seen = new Set<string>();

  #head(name: string, type: string, help: string): void {
    if (this.#seen.has(name)) return;
    this.#seen.add(name);
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }

  /** One sample, or one per label set. */
  counter(name: string, help: string, samples: number | [Labels, number][]): this {
    return this.#samples(name, 'counter', help, samples);
  }

  gauge(name: string, help: string, samples: number | [Labels, number][]): this {
    return this.#samples(name, 'gauge', help, samples);
  }

  #samples(name: string, type: string, help: string, samples: number | [Labels, number][]): this {
    this.#head(name, type, help);
    if (typeof samples === 'number') this.#lines.push(`${name} ${num(samples)}`);
    else for (const [l, v] of samples) this.#lines.push(`${name}${labelText(l)} ${num(v)}`);
    return this;
  }

  histogram(name: string, help: string, h: HistogramSnapshot, labels?: Labels): this {
    this.#head(name, 'histogram', help);
    h.buckets.forEach((le, i) => this.#lines.push(`${name}_bucket${labelText(labels, { le: num(le) })} ${num(h.counts[i]!)}`));
    this.#lines.push(`${name}_sum${labelText(labels)} ${num(h.sum)}`, `${name}_count${labelText(labels)} ${num(h.count)}`);
    return this;
  }

  toString(): string {
    return this.#lines.join('\n') + '\n';
  }
}

/**
 * Writes a batcher's stats as Prometheus metrics named `<prefix>_…` (default `bertkit_batcher`):
 * queue gauges, request outcomes, batch and token counters, and histograms of request, queue and
 * forward durations and of batch sizes.
 */
export function writeBatcherMetrics(out: PrometheusText, s: BatcherStats, prefix = 'bertkit_batcher', labels?: Labels): PrometheusText {
  const p = prefix;
  const one = (v: number): [Labels, number][] => [[labels ?? {}, v]];
  out.gauge(`${p}_queue_requests`, 'Requests waiting to be batched.', one(s.queue.requests));
  out.gauge(`${p}_queue_sequences`, 'Sequences waiting to be batched.', one(s.queue.sequences));
  out.gauge(`${p}_queue_tokens`, 'Tokens waiting to be batched.', one(s.queue.tokens));
  out.gauge(`${p}_active_requests`, 'Admitted requests not finished (queued or running).', one(s.activeRequests));
  out.gauge(`${p}_running_sequences`, 'Sequences in the forward in flight.', one(s.running?.sequences ?? 0));
  out.gauge(`${p}_running_tokens`, 'Tokens in the forward in flight.', one(s.running?.tokens ?? 0));
  const t = s.totals;
  out.counter(`${p}_requests_total`, 'Requests by outcome (rejected: refused by admission control).', [
    [{ ...labels, outcome: 'succeeded' }, t.succeeded],
    [{ ...labels, outcome: 'failed' }, t.failed],
    [{ ...labels, outcome: 'aborted' }, t.aborted],
    [{ ...labels, outcome: 'timed_out' }, t.timedOut],
    [{ ...labels, outcome: 'rejected' }, t.rejected],
  ]);
  out.counter(`${p}_batches_total`, 'Forwards run.', one(t.batches));
  out.counter(`${p}_sequences_total`, 'Sequences run.', one(t.sequences));
  out.counter(`${p}_tokens_total`, 'Tokens run.', one(t.tokens));
  out.gauge(`${p}_tokens_per_second`, `Tokens per second over the last ${s.window.seconds} s.`, one(s.window.tokensPerSecond));
  out.gauge(`${p}_requests_per_second`, `Requests completed per second over the last ${s.window.seconds} s.`, one(s.window.requestsPerSecond));
  out.gauge(`${p}_utilization`, `Fraction of the last ${s.window.seconds} s a forward was running.`, one(s.window.utilization));
  out.gauge(`${p}_capacity_tokens_per_second`, 'Tokens per second of forward time over recent batches.', one(s.capacityTokensPerSecond));
  out.gauge(`${p}_max_queued_tokens`, 'Admission limit on queued tokens.', one(s.limits.maxQueuedTokens));
  out.gauge(`${p}_max_concurrent_requests`, 'Admission limit on requests in flight.', one(s.limits.maxConcurrentRequests));
  out.histogram(`${p}_request_duration_seconds`, 'Time from submission to result, successful requests.', s.histograms.requestSeconds, labels);
  out.histogram(`${p}_queue_duration_seconds`, 'Time from submission to the first forward that took the request.', s.histograms.queueSeconds, labels);
  out.histogram(`${p}_forward_duration_seconds`, 'Duration of each forward.', s.histograms.forwardSeconds, labels);
  out.histogram(`${p}_batch_sequences`, 'Sequences per forward.', s.histograms.batchSequences, labels);
  out.histogram(`${p}_batch_tokens`, 'Tokens per forward.', s.histograms.batchTokens, labels);
  return out;
}

/** The batcher's stats as Prometheus exposition text. */
export function formatPrometheus(stats: BatcherStats, options: { prefix?: string; labels?: Labels } = {}): string {
  return writeBatcherMetrics(new PrometheusText(), stats, options.prefix, options.labels).toString();
}
