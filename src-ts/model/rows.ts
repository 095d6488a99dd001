/**
 * Packed runs of many sequences, shared by the pipelines (pipelines/run.ts) and the batcher
 * (serving/): rows packed into one padding-free forward, and each row's outputs viewed back out
 * of it. Per-token outputs of a row are `length` consecutive rows of the packed [T, width] array;
 * per-sequence outputs are row `b` of [B, width].
 */
import { InvalidInputError } from '../errors.js';
import type { PackedInput } from '../inputs.js';
import type { ModelOutput } from './outputs.js';

/** One sequence to run: ids, segment ids and, when it has padding, its attention mask. */
export interface Row {
  ids: ArrayLike<number>;
  typeIds: ArrayLike<number>;
  /** 1 = token, 0 = padding (computed, attended by nobody, as transformers does); omitted: all ones. */
  mask?: ArrayLike<number> | null;
}

/**
 * Packs `rows` (in the order `order` gives, default as they are) into one forward's input;
 * `total` is their token count.
 */
export function packRows(rows: readonly Row[], total: number, order?: readonly number[]): PackedInput {
  const count = order ? order.length : rows.length;
  const inputIds = new Int32Array(total);
  const tokenTypeIds = new Int32Array(total);
  const cuSeqlens = new Int32Array(count + 1);
  let mask: Uint8Array | undefined;
  let t = 0;
  for (let b = 0; b < count; b++) {
    const index = order ? order[b]! : b;
    const r = rows[index]!;
    const n = r.ids.length;
    if (r.typeIds.length !== n || (r.mask && r.mask.length !== n)) {
      throw new InvalidInputError(`row ${index}: inputIds, tokenTypeIds and attentionMask must have the same length`);
    }
    // set() converts any array-like as element-wise assignment would.
    inputIds.set(r.ids, t);
    tokenTypeIds.set(r.typeIds, t);
    if (r.mask) {
      mask ??= new Uint8Array(total).fill(1);
      for (let i = 0; i < n; i++) mask[t + i] = r.mask[i] ? 1 : 0;
    }
    t += n;
    cuSeqlens[b + 1] = t;
  }
  if (t !== total) throw new InvalidInputError(`the rows hold ${t} tokens, not ${total}`);
  return mask ? { inputIds, cuSeqlens, tokenTypeIds, attentionMask: mask } : { inputIds, cuSeqlens, tokenTypeIds };
}

type TokenField = 'lastHiddenState' | 'logits' | 'predictionLogits' | 'startLogits' | 'endLogits';
type SequenceField = 'poolerOutput' | 'logits' | 'seqRelationshipLogits' | 'sopLogits';

/** The outputs of one row of a packed run: views into the run's output arrays. */
export class RowResult {
  constructor(
    private readonly out: ModelOutput,
    /** Row position within its run and first token within the run's tokens. */
    readonly b: number,
    readonly t0: number,
    readonly length: number,
    private readonly runTokens: number,
    /** Where this row's selected (logitsTokens) rows start among the run's, and how many it has. */
    private readonly s0 = 0,
    private readonly selectedCount = 0,
  ) {}

  has(field: keyof ModelOutput): boolean {
    return this.out[field] !== undefined;
  }

  /** The masked-LM logits of the row's selected positions, in order: `count * vocab` values. */
  selected(field: 'logits' | 'predictionLogits'): Float32Array {
    const t = this.#output(field);
    const width = t.dims[1]!;
    return t.data.subarray(this.s0 * width, (this.s0 + this.selectedCount) * width);
  }

  /** A per-token output: `length * width` values. */
  tokens(field: TokenField): Float32Array {
    const t = this.#output(field);
    const width = t.data.length / this.runTokens;
    return t.data.subarray(this.t0 * width, (this.t0 + this.length) * width);
  }

  /** A per-sequence output: `width` values. */
  sequence(field: SequenceField): Float32Array {
    const t = this.#output(field);
    const width = t.data.length / t.dims[0]!;
    return t.data.subarray(this.b * width, (this.b + 1) * width);
  }

  #output(field: keyof ModelOutput): { dims: number[]; data: Float32Array } {
    const t = this.out[field];
    if (!t || Array.isArray(t)) throw new InvalidInputError(`the model has no ${field} output`);
    return t;
  }
}
