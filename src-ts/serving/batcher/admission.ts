/**
 * Admission control: whether a request is taken now or refused at once (OverloadedError), from
 * the bounded queue, the requests in flight and, for a request with a timeout, the wait the queue
 * ahead of it would cost at the measured throughput.
 */
import type { BatcherMetrics } from './stats.js';

/** What admission reads of the batcher's state. */
export interface AdmissionState {
  closed: boolean;
  /** Admitted requests not settled (queued or running). */
  active: number;
  queuedTokens: number;
  runningTokens: number;
  maxConcurrentRequests: number;
  maxQueuedTokens: number;
  maxBatchTokens: number;
  rejectLate: boolean;
  metrics: BatcherMetrics;
}

/**
 * Estimated ms before a request of `tokens` tokens submitted now would finish: the forward in
 * flight, the queue ahead of it and at most one full batch, at the throughput of recent batches
 * (0 before any batch ran).
 */
export function estimatedWaitMs(s: AdmissionState, tokens: number): number {
  const perMs = s.metrics.throughputPerMs();
  if (perMs <= 0) return 0;
  const ahead = s.queuedTokens + s.runningTokens + Math.max(tokens, Math.min(s.maxBatchTokens, s.queuedTokens + tokens));
  return ahead / perMs;
}

/** Why a request of `tokens` tokens would be refused now, or null. */
export function refusal(s: AdmissionState, tokens: number, timeoutMs: number | null): string | null {
  if (s.closed) return 'the batcher is closing';
  if (s.active >= s.maxConcurrentRequests) return `${s.active} requests in flight (maxConcurrentRequests ${s.maxConcurrentRequests})`;
  if (s.queuedTokens + tokens > s.maxQueuedTokens) {
    return `${s.queuedTokens} tokens queued, ${tokens} more would pass maxQueuedTokens ${s.maxQueuedTokens}`;
  }
  if (s.rejectLate && timeoutMs !== null) {
    // With a margin: the estimate comes from recent batches, and the machine may be shared.
    const wait = estimatedWaitMs(s, tokens);
    if (wait > 0.85 * timeoutMs) return `the queue ahead would take ~${Math.round(wait)} ms, about the ${timeoutMs} ms timeout or more`;
  }
  return null;
}

/** The Retry-After an OverloadedError suggests: the time to work off the queue, at least 100 ms. */
export function retryAfterMs(s: AdmissionState): number {
  const capacity = s.metrics.throughputPerMs();
  if (capacity <= 0) return 1000;
  return Math.max(100, Math.ceil(s.queuedTokens / capacity));
}
