/**
 * Model inputs. Two forms reach `model.forward`:
 *  - padded, as in transformers: `inputIds[B][L]` (+ `attentionMask`, `tokenTypeIds`);
 *  - packed (padding-free): all tokens of all sequences concatenated, plus sequence offsets.
 * The engine only ever sees the packed form; padded input is packed in `model/pack.ts`. A leaf
 * (types only): the tokenizer produces these shapes and the model takes them.
 */

export type IntRows = ArrayLike<number>[];

/** Padded input with Hugging Face semantics (rows of equal length L). */
export interface PaddedInput {
  inputIds: IntRows;
  /** 1 = real token, 0 = padding. Defaults to all ones. */
  attentionMask?: IntRows;
  /** Segment ids. Defaults to all zeros. */
  tokenTypeIds?: IntRows;
}

/**
 * Padding-free input: `inputIds` holds the tokens of every sequence back to back and
 * `cuSeqlens` (B + 1 entries, starting at 0, ending at the token count) marks where each starts.
 */
export interface PackedInput {
  inputIds: Int32Array;
  cuSeqlens: Int32Array;
  /** Per token; defaults to zeros. */
  tokenTypeIds?: Int32Array;
  /** Per token; defaults to 0..n-1 within each sequence. */
  positionIds?: Int32Array;
  /**
   * Per token; 1 = an ordinary token, 0 = a token that is computed (it attends to the others) but
   * that no token attends to, like a padded position in transformers. Defaults to all ones.
   */
  attentionMask?: Uint8Array;
}
