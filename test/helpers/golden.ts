/** Reads a fixture's golden.json + golden.safetensors (inputs I64, outputs F64 upstream, F32 in the repository's copy). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors } from '../../src-ts/weights/index.js';
import { fixture } from './fixtures.js';

export interface GoldenTensor {
  dims: number[];
  data: Float64Array;
}

export interface GoldenCase {
  name: string;
  batchSize: number;
  seqLen: number;
  inputIds: number[][];
  attentionMask: number[][];
  tokenTypeIds: number[][];
  attentionMaskGiven: boolean;
  tokenTypeIdsGiven: boolean;
  outputs: Map<string, GoldenTensor>;
}

export interface Golden {
  modelDir: string;
  architecture: string;
  cases: GoldenCase[];
}

/** A golden tensor's values as float64, whatever it is stored as (F64, F32 or I64). */
export function toFloat64(t: { dtype: string; dims: number[]; data: Uint8Array }): Float64Array {
  const n = t.dims.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  for (let i = 0; i < n; i++) {
    if (t.dtype === 'F64') out[i] = view.getFloat64(i * 8, true);
    else if (t.dtype === 'F32') out[i] = view.getFloat32(i * 4, true);
    else if (t.dtype === 'I64') out[i] = Number(view.getBigInt64(i * 8, true));
    else throw new Error(`golden tensor of dtype ${t.dtype}`);
  }
  return out;
}

export function loadGolden(model: string): Golden {
  const dir = fixture(model);
  const meta = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
  const tensors = parseSafetensors(readFileSync(join(dir, 'golden.safetensors')), 'golden.safetensors');
  const cases: GoldenCase[] = meta.cases.map((c: any) => {
    const outputs = new Map<string, GoldenTensor>();
    for (const field of Object.keys(c.outputs)) {
      const t = tensors.get(`${c.name}/${field}`);
      if (!t) throw new Error(`golden tensor ${c.name}/${field} missing`);
      outputs.set(field, { dims: t.dims, data: toFloat64(t) });
    }
    return {
      name: c.name,
      batchSize: c.batch_size,
      seqLen: c.seq_len,
      inputIds: c.input_ids,
      attentionMask: c.attention_mask,
      tokenTypeIds: c.token_type_ids,
      attentionMaskGiven: c.attention_mask_given,
      tokenTypeIdsGiven: c.token_type_ids_given,
      outputs,
    };
  });
  return { modelDir: dir, architecture: meta.architecture, cases };
}

/**
 * Max |actual - expected| over the entries that are defined: per-token outputs ([B, L, ...] or
 * [B, L]) only where attention_mask is 1; per-sequence outputs everywhere.
 */
export function maxAbsDiff(actual: Float32Array, expected: GoldenTensor, mask: number[][] | null): number {
  const [B, L] = expected.dims;
  const perToken = mask !== null;
  const width = perToken ? expected.data.length / (B! * L!) : 0;
  let worst = 0;
  for (let i = 0; i < expected.data.length; i++) {
    if (perToken) {
      const tok = Math.floor(i / width);
      const b = Math.floor(tok / L!);
      const j = tok % L!;
      if (mask[b]![j] !== 1) continue;
    }
    const d = Math.abs(actual[i]! - expected.data[i]!);
    if (!(d <= worst)) worst = d; // NaN propagates as a failure
  }
  return worst;
}
