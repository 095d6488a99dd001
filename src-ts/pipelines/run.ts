/**
 * Running many sequences through a model: rows are sorted by length, cut into chunks (at most
 * `batchSize` rows and a bounded number of output floats), run packed (no padding anywhere) and
 * handed back one by one with their original index.
 */
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import type { PackedInput } from '../model/inputs.js';
import type { ModelOutput } from '../model/outputs.js';
import type { Encoding } from '../tokenizer/index.js';

/** One sequence to run: ids, segment ids and, when it has padding, its attention mask. */
export interface Row {
  ids: ArrayLike<number>;
  typeIds: ArrayLike<number>;
  /** 1 = token, 0 = padding (computed, attended by nobody, as transformers does); omitted: all ones. */
  mask?: ArrayLike<number> | null;
  /**
   * Masked-LM models: the positions whose vocabulary logits are needed (see RowResult.selected);
   * the MLM head then runs on those tokens only.
   */
  logitsAt?: readonly number[];
}

export function rowFromEncoding(e: Encoding): Row {
  const mask = e.attentionMask;
  let padded = false;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] === 0) {
      padded = true;
      break;
    }
  }
  return { ids: e.ids, typeIds: e.typeIds, mask: padded ? mask : null };
}

type TokenField = 'lastHiddenState' | 'logits' | 'predictionLogits' | 'startLogits' | 'endLogits';
type SequenceField = 'poolerOutput' | 'logits' | 'seqRelationshipLogits';

/** The outputs of one row: views into its chunk's output arrays. */
export class RowResult {
  constructor(
    private readonly out: ModelOutput,
    /** Row position within its chunk and first token within the chunk's tokens. */
    private readonly b: number,
    private readonly t0: number,
    readonly length: number,
    private readonly chunkTokens: number,
    /** Where this row's logitsAt rows start among the chunk's selected rows. */
    private readonly s0 = 0,
    private readonly selectedCount = 0,
  ) {}

  /** The masked-LM logits of the row's `logitsAt` positions, in that order: `count * vocab` values. */
  selected(field: 'logits' | 'predictionLogits'): Float32Array {
    const t = this.out[field];
    if (!t) throw new InvalidInputError(`the model has no ${field} output`);
    const width = t.dims[1]!;
    return t.data.subarray(this.s0 * width, (this.s0 + this.selectedCount) * width);
  }

  /** A per-token output: `length * width` values. */
  tokens(field: TokenField): Float32Array {
    const t = this.out[field];
    if (!t) throw new InvalidInputError(`the model has no ${field} output`);
    const width = t.data.length / this.chunkTokens;
    return t.data.subarray(this.t0 * width, (this.t0 + this.length) * width);
  }

  /** A per-sequence output: `width` values. */
  sequence(field: SequenceField): Float32Array {
    const t = this.out[field];
    if (!t) throw new InvalidInputError(`the model has no ${field} output`);
    const width = t.data.length / t.dims[0]!;
    return t.data.subarray(this.b * width, (this.b + 1) * width);
  }
}

export interface RunOptions {
  batchSize: number;
  /**
   * Floats the per-token outputs may take per token (e.g. the vocabulary size for a masked LM):
   * chunks are cut so that one chunk's outputs stay near 256 MiB.
   */
  floatsPerToken?: number;
  /** What to call an input in error messages ('input', 'window', …). */
  what?: string;
  /** Maps a row index to the index reported in messages. */
  reportIndex?: (row: number) => number;
  /** What to do about an input that is too long (default: the tokenizeOptions truncation hint). */
  tooLongHint?: string;
}

const CHUNK_FLOATS = 64 * 1024 * 1024;

/**
 * Runs every row, longest first, and calls `onRow(index, result)` for each (in chunk order, not
 * input order); a chunk's outputs are released once its rows are handled unless `onRow` keeps
 * views into them.
 */
export async function runRows(model: BertModel, rows: readonly Row[], opts: RunOptions, onRow: (index: number, result: RowResult) => void): Promise<void> {
  if (rows.length === 0) return;
  const maxLen = model.config.encoder.maxSequenceLength;
  for (let i = 0; i < rows.length; i++) {
    const n = rows[i]!.ids.length;
    const at = opts.reportIndex ? opts.reportIndex(i) : i;
    const what = opts.what ?? 'input';
    if (n === 0) throw new InvalidInputError(`${what} ${at} has no tokens`);
    if (n > maxLen) {
      throw new InvalidInputError(
        `${what} ${at} has ${n} tokens, more than the model's ${maxLen} positions (max_position_embeddings): ` +
          (opts.tooLongHint ?? 'shorten it or pass tokenizeOptions: { truncation: true }'),
      );
    }
  }
  const order = rows.map((_, i) => i).sort((a, b) => rows[b]!.ids.length - rows[a]!.ids.length || a - b);
  const perToken = Math.max(1, opts.floatsPerToken ?? model.config.hidden_size);
  const tokenBudget = Math.max(maxLen, Math.floor(CHUNK_FLOATS / perToken));
  let k = 0;
  while (k < order.length) {
    const chunk: number[] = [];
    let tokens = 0;
    while (k < order.length && chunk.length < opts.batchSize) {
      const n = rows[order[k]!]!.ids.length;
      if (chunk.length > 0 && tokens + n > tokenBudget) break;
      chunk.push(order[k]!);
      tokens += n;
      k++;
    }
    const packed = packRows(rows, chunk, tokens);
    const cu = packed.cuSeqlens;
    // Rows that name their logits positions: the MLM head runs on those tokens only.
    const select = chunk.some((i) => rows[i]!.logitsAt);
    const firstSelected = new Int32Array(chunk.length + 1);
    const logitsTokens: number[] = [];
    if (select) {
      chunk.forEach((i, b) => {
        for (const pos of rows[i]!.logitsAt ?? []) logitsTokens.push(cu[b]! + pos);
        firstSelected[b + 1] = logitsTokens.length;
      });
    }
    const out = await model.forwardPacked(packed, select ? { logitsTokens: Int32Array.from(logitsTokens) } : {});
    for (let b = 0; b < chunk.length; b++) {
      const s0 = firstSelected[b]!;
      onRow(chunk[b]!, new RowResult(out, b, cu[b]!, cu[b + 1]! - cu[b]!, tokens, s0, firstSelected[b + 1]! - s0));
    }
  }
}

function packRows(rows: readonly Row[], chunk: number[], total: number): PackedInput {
  const inputIds = new Int32Array(total);
  const tokenTypeIds = new Int32Array(total);
  const cuSeqlens = new Int32Array(chunk.length + 1);
  let mask: Uint8Array | undefined;
  if (chunk.some((i) => rows[i]!.mask)) mask = new Uint8Array(total).fill(1);
  let t = 0;
  for (let b = 0; b < chunk.length; b++) {
    const r = rows[chunk[b]!]!;
    const n = r.ids.length;
    if (r.typeIds.length !== n || (r.mask && r.mask.length !== n)) {
      throw new InvalidInputError(`row ${chunk[b]}: inputIds, tokenTypeIds and attentionMask must have the same length`);
    }
    for (let i = 0; i < n; i++) {
      inputIds[t + i] = r.ids[i]!;
      tokenTypeIds[t + i] = r.typeIds[i]!;
    }
    if (r.mask && mask) for (let i = 0; i < n; i++) mask[t + i] = r.mask[i] ? 1 : 0;
    t += n;
    cuSeqlens[b + 1] = t;
  }
  return mask ? { inputIds, cuSeqlens, tokenTypeIds, attentionMask: mask } : { inputIds, cuSeqlens, tokenTypeIds };
}
