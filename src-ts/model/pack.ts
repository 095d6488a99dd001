/**
 * Padded [B][L] input to the engine's packed form, and packed outputs back to padded tensors.
 *
 * Only tokens with attention mask 1 are packed, so no work is spent on padding. Two exceptions
 * keep transformers' results where they are defined by masked positions:
 *  - position 0 of a row whose mask there is 0 (left padding) is packed as a query-only token, so
 *    the pooler, which reads position 0, sees what transformers computes there;
 *  - a row whose mask is all zeros is packed whole, and the engine attends uniformly over it, as
 *    transformers' finfo.min mask does.
 * Position ids are the padded positions (transformers uses 0..L-1 whatever the mask).
 */
import { InvalidInputError } from '../errors.js';
import type { BatchInput } from '../native/types.js';
import type { IntRows, PackedInput } from '../inputs.js';

export interface PackedBatch {
  input: BatchInput;
  /** Number of rows (B) and padded length (L) of the caller's layout. */
  rows: number;
  length: number;
  /** For packed token t: its row and its padded position. */
  tokenRow: Int32Array;
  tokenPos: Int32Array;
  /** True when packing kept every position of every row: packed layout == padded layout. */
  dense: boolean;
}

function checkRows(name: string, rows: unknown, count: number | undefined, length: number | undefined): IntRows {
  if (!Array.isArray(rows)) throw new InvalidInputError(`${name} must be an array of rows`);
  if (count !== undefined && rows.length !== count) {
    throw new InvalidInputError(`${name} has ${rows.length} rows, inputIds has ${count}`);
  }
  for (let b = 0; b < rows.length; b++) {
    const row = rows[b] as unknown;
    if (row === null || typeof row !== 'object' || typeof (row as ArrayLike<number>).length !== 'number') {
      throw new InvalidInputError(`${name}[${b}] must be an array or typed array of integers`);
    }
    const n = (row as ArrayLike<number>).length;
    if (length !== undefined && n !== length) {
      throw new InvalidInputError(
        `${name}[${b}] has ${n} entries, expected ${length}: rows must all have the same length (pad them, or use the packed input form)`,
      );
    }
  }
  return rows as IntRows;
}

/** What a row entry is, for messages ("the string \"2\"", "2.5"). */
function shown(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

/**
 * One id: a number, or a bigint as PyTorch users hold int64 ids (BigInt64Array rows), in int32
 * range. Anything else says what is expected.
 */
function int32(name: string, b: number, j: number, value: unknown): number {
  const v = typeof value === 'bigint' && value >= -2147483648n && value <= 2147483647n ? Number(value) : value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
    throw new InvalidInputError(
      `${name}[${b}][${j}] must be an integer id (rows are arrays of numbers, Int32Array or BigInt64Array), got ${shown(value)}`,
    );
  }
  return v;
}

export interface PackOptions {
  /** Allow rows of different lengths (the tokenizer's unpadded batches): short rows are treated as right-padded. */
  allowRagged?: boolean;
  maxPositionEmbeddings: number;
}

export function packPadded(
  inputIds: unknown,
  attentionMask: unknown,
  tokenTypeIds: unknown,
  opts: PackOptions,
): PackedBatch {
  const ids = checkRows('inputIds', inputIds, undefined, undefined);
  const B = ids.length;
  if (B === 0) throw new InvalidInputError('the batch is empty: inputIds needs at least one row');
  let L = 0;
  for (const r of ids) L = Math.max(L, r.length);
  if (!opts.allowRagged) checkRows('inputIds', ids, B, L);
  for (let b = 0; b < B; b++) {
    if (ids[b]!.length === 0) throw new InvalidInputError(`inputIds[${b}] is empty: every sequence needs at least one token`);
  }
  if (L > opts.maxPositionEmbeddings) {
    throw new InvalidInputError(
      `sequence length ${L} exceeds the model's max_position_embeddings (${opts.maxPositionEmbeddings}); truncate the input (the tokenizer's maxLength/truncation options)`,
    );
  }
  const mask = attentionMask == null ? undefined : checkRows('attentionMask', attentionMask, B, opts.allowRagged ? undefined : L);
  const types = tokenTypeIds == null ? undefined : checkRows('tokenTypeIds', tokenTypeIds, B, opts.allowRagged ? undefined : L);
  if (opts.allowRagged) {
    for (let b = 0; b < B; b++) {
      const n = ids[b]!.length;
      if ((mask && mask[b]!.length !== n) || (types && types[b]!.length !== n)) {
        throw new InvalidInputError(`row ${b}: attentionMask / tokenTypeIds must have as many entries as inputIds`);
      }
    }
  }

  // Count first, then fill typed arrays of the exact size.
  let total = 0;
  const maskAt = (b: number, j: number): number => {
    if (j >= ids[b]!.length) return 0; // beyond a ragged row: padding
    if (!mask) return 1;
    const raw: unknown = mask[b]![j];
    const m = typeof raw === 'bigint' ? Number(raw) : raw;
    if (m !== 0 && m !== 1) throw new InvalidInputError(`attentionMask[${b}][${j}] must be 0 or 1, got ${shown(raw)}`);
    return m;
  };
  const keep = new Uint8Array(B * L); // 0 = drop, 1 = token, 2 = query-only token
  for (let b = 0; b < B; b++) {
    let any = false;
    for (let j = 0; j < L; j++) {
      if (maskAt(b, j) === 1) {
        keep[b * L + j] = 1;
        any = true;
      }
    }
    if (!any) {
      for (let j = 0; j < ids[b]!.length; j++) keep[b * L + j] = 2;
    } else if (keep[b * L] === 0) {
      keep[b * L] = 2;
    }
    for (let j = 0; j < L; j++) if (keep[b * L + j]) total++;
  }

  const inputIdsOut = new Int32Array(total);
  const typesOut = types ? new Int32Array(total) : undefined;
  const positions = new Int32Array(total);
  const maskOut = new Uint8Array(total);
  const cu = new Int32Array(B + 1);
  const tokenRow = new Int32Array(total);
  const tokenPos = new Int32Array(total);
  let t = 0;
  let anyMasked = false;
  for (let b = 0; b < B; b++) {
    const row = ids[b]!;
    for (let j = 0; j < L; j++) {
      const k = keep[b * L + j]!;
      if (k === 0) continue;
      inputIdsOut[t] = int32('inputIds', b, j, row[j]!);
      if (typesOut) typesOut[t] = int32('tokenTypeIds', b, j, types![b]![j]!);
      positions[t] = j;
      maskOut[t] = k === 1 ? 1 : 0;
      if (k !== 1) anyMasked = true;
      tokenRow[t] = b;
      tokenPos[t] = j;
      t++;
    }
    cu[b + 1] = t;
  }
  const input: BatchInput = { input_ids: inputIdsOut, cu_seqlens: cu, position_ids: positions };
  if (typesOut) input.token_type_ids = typesOut;
  if (anyMasked) input.attention_mask = maskOut;
  return { input, rows: B, length: L, tokenRow, tokenPos, dense: total === B * L };
}

/** The caller's packed form, checked and renamed to the native fields. */
export function packedToBatch(p: PackedInput): BatchInput {
  const arr = (name: string, v: unknown, ctor: typeof Int32Array | typeof Uint8Array, required: boolean) => {
    if (v == null) {
      if (required) throw new InvalidInputError(`packed input needs ${name}`);
      return undefined;
    }
    if (!(v instanceof ctor)) throw new InvalidInputError(`packed ${name} must be an ${ctor.name}`);
    return v;
  };
  const input: BatchInput = {
    input_ids: arr('inputIds', p.inputIds, Int32Array, true) as Int32Array,
    cu_seqlens: arr('cuSeqlens', p.cuSeqlens, Int32Array, true) as Int32Array,
  };
  const tt = arr('tokenTypeIds', p.tokenTypeIds, Int32Array, false);
  const pos = arr('positionIds', p.positionIds, Int32Array, false);
  const mask = arr('attentionMask', p.attentionMask, Uint8Array, false);
  if (tt) input.token_type_ids = tt as Int32Array;
  if (pos) input.position_ids = pos as Int32Array;
  if (mask) input.attention_mask = mask as Uint8Array;
  return input;
}

/** Per-token packed rows of `width` floats to a zero-padded [B, L, width] array. */
export function scatterTokens(packed: Float32Array, width: number, p: PackedBatch): Float32Array {
  if (p.dense) return packed;
  const out = new Float32Array(p.rows * p.length * width);
  for (let t = 0; t < p.tokenRow.length; t++) {
    const dst = (p.tokenRow[t]! * p.length + p.tokenPos[t]!) * width;
    out.set(packed.subarray(t * width, (t + 1) * width), dst);
  }
  return out;
}

/** One layer's packed attention blocks ([heads, n, n] per sequence) to [B, heads, L, L]. */
export function scatterAttention(packed: Float32Array, heads: number, p: PackedBatch): Float32Array {
  const L = p.length;
  const out = new Float32Array(p.rows * heads * L * L);
  const cu = p.input.cu_seqlens;
  let off = 0;
  for (let b = 0; b < p.rows; b++) {
    const start = cu[b]!;
    const n = cu[b + 1]! - start;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < n; i++) {
        const qi = p.tokenPos[start + i]!;
        const dstRow = ((b * heads + h) * L + qi) * L;
        const srcRow = off + (h * n + i) * n;
        for (let k = 0; k < n; k++) out[dstRow + p.tokenPos[start + k]!] = packed[srcRow + k]!;
      }
    }
    off += heads * n * n;
  }
  return out;
}
