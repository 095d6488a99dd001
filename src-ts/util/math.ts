/**
 * The numeric helpers the pipelines, the batcher and the trainer share. Computed in float64, as
 * the pipelines' reference results are; this module imports nothing, so any layer may use it.
 */

/** Softmax in float64 over `x[from, from + n)`. */
export function softmax(x: ArrayLike<number>, from = 0, n = x.length - from): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[from + i]! > max) max = x[from + i]!;
  const out = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[from + i]! - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) out[i]! /= sum;
  return out;
}

export function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** Indices of `scores` sorted by score, highest first; ties keep index order. */
export function argsortDesc(scores: ArrayLike<number>): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  return idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** Scores from logits as transformers' classification pipelines apply them. */
export function applyFunction(logits: ArrayLike<number>, fn: 'softmax' | 'sigmoid' | 'none'): number[] {
  if (fn === 'softmax') return Array.from(softmax(logits));
  if (fn === 'sigmoid') return Array.from(logits, sigmoid);
  return Array.from(logits);
}
