/**
 * Running many sequences through a model: rows are sorted by length, cut into chunks (at most
 * `batchSize` rows and a bounded number of output floats), run packed (no padding anywhere) and
 * handed back one by one with their original index. Packing and the per-row views are
 * model/rows.ts's, shared with the batcher.
 */
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { packRows, RowResult, type Row as PackedRow } from '../model/rows.js';
import type { Encoding } from '../tokenizer/index.js';

/** One sequence to run (model/rows.ts), with the positions whose masked-LM logits are needed. */
export interface Row extends PackedRow {
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
    const packed = packRows(rows, tokens, chunk);
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
