/**
 * What the BERT attention literature looks at (Clark et al. 2019, "What does BERT look at?"):
 * per layer, the attention mass that goes to [CLS], to [SEP], to the previous / next token and to
 * the token itself; and attention rollout (Abnar & Zuidema 2020) from the last layer to the input.
 */
import type { AttentionData } from './attention.js';

export interface LayerPatterns {
  /** Mean over heads and query tokens of p(i → first token) when the first token is special ([CLS], <s>); else null. */
  cls: number | null;
  /** Mean over heads and query tokens of the total mass on the other special tokens ([SEP], </s>); null when there are none. */
  sep: number | null;
  /** Mean of p(i → i-1) over heads and i ≥ 1 (null for one token). */
  previous: number | null;
  /** Mean of p(i → i+1) over heads and i < L-1 (null for one token). */
  next: number | null;
  /** Mean of p(i → i). */
  self: number;
}

export interface AttentionSummary {
  layers: LayerPatterns[];
  /**
   * Attention rollout: with Ã_l = ½·mean_heads(A_l) + ½·I (rows renormalised), the first token's
   * row of Ã_last ⋯ Ã_1, i.e. how much each input token flows into the first output token.
   */
  rolloutFirst: number[];
  /** The same rollout averaged over every output token's row. */
  rolloutMean: number[];
}

/** Heads-averaged attention of one layer with the residual: ½·A + ½·I, rows summing to 1. */
function residualMean(data: AttentionData, layer: number): Float64Array {
  const L = data.length;
  const H = data.heads;
  const a = data.attentions[layer]!;
  const m = new Float64Array(L * L);
  for (let h = 0; h < H; h++) {
    const base = h * L * L;
    for (let k = 0; k < L * L; k++) m[k]! += a[base + k]!;
  }
  for (let i = 0; i < L; i++) {
    let sum = 0;
    for (let j = 0; j < L; j++) {
      const v = (0.5 * m[i * L + j]!) / H + (i === j ? 0.5 : 0);
      m[i * L + j] = v;
      sum += v;
    }
    for (let j = 0; j < L; j++) m[i * L + j]! /= sum;
  }
  return m;
}

/** v ← v · M for a row vector v. */
function rowTimes(v: Float64Array, m: Float64Array, L: number): Float64Array {
  const out = new Float64Array(L);
  for (let i = 0; i < L; i++) {
    const vi = v[i]!;
    if (vi === 0) continue;
    const row = i * L;
    for (let j = 0; j < L; j++) out[j]! += vi * m[row + j]!;
  }
  return out;
}

export function summarizeAttention(data: AttentionData): AttentionSummary {
  const L = data.length;
  const H = data.heads;
  const firstSpecial = data.special[0] === 1;
  const seps: number[] = [];
  for (let j = firstSpecial ? 1 : 0; j < L; j++) if (data.special[j] === 1) seps.push(j);
  const layers: LayerPatterns[] = [];
  for (let l = 0; l < data.layers; l++) {
    const a = data.attentions[l]!;
    let cls = 0, sep = 0, prev = 0, next = 0, self = 0;
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < L; i++) {
        const row = (h * L + i) * L;
        cls += a[row]!;
        for (const j of seps) sep += a[row + j]!;
        if (i > 0) prev += a[row + i - 1]!;
        if (i < L - 1) next += a[row + i + 1]!;
        self += a[row + i]!;
      }
    }
    const n = H * L;
    const shifted = H * (L - 1);
    layers.push({
      cls: firstSpecial ? cls / n : null,
      sep: seps.length ? sep / n : null,
      previous: L > 1 ? prev / shifted : null,
      next: L > 1 ? next / shifted : null,
      self: self / n,
    });
  }
  // Row vectors through the layers from the last to the first: e₀ᵀ Ã_last ⋯ Ã_1, costing L² per layer.
  let first: Float64Array = new Float64Array(L);
  first[0] = 1;
  let mean: Float64Array = new Float64Array(L).fill(1 / L);
  for (let l = data.layers - 1; l >= 0; l--) {
    const m = residualMean(data, l);
    first = rowTimes(first, m, L);
    mean = rowTimes(mean, m, L);
  }
  return { layers, rolloutFirst: Array.from(first), rolloutMean: Array.from(mean) };
}
