/**
 * Encodings: what `encode` and `encodeBatch` return. Each is a window into a shared TokenBuffer;
 * its arrays are views created on first access, so a batch of 20,000 rows costs 20,000 small
 * objects, not 140,000 typed arrays.
 */
import type { PackedInput } from '../inputs.js';
import type { TokenBuffer } from './buffer.js';

/** Resolves token strings lazily (ids → vocabulary strings, plus per-buffer overrides). */
export interface TokenNamer {
  defaultToken(id: number): string;
}

/** Shared by every encoding that has no overflow (frozen: an encoding never gains windows). */
const NO_OVERFLOW: Encoding[] = Object.freeze([]) as unknown as Encoding[];

export class Encoding {
  /** @internal */ readonly _buf: TokenBuffer;
  /** @internal */ readonly _start: number;
  /** Number of tokens (padding included). */
  readonly length: number;
  /**
   * The windows cut off by truncation, each with its special tokens, in Hugging Face order (with a
   * `stride`, each window repeats the last `stride` tokens of the previous one).
   */
  readonly overflowing: Encoding[];
  private readonly namer: TokenNamer;
  // Views and arrays built on first access.
  private cIds: Int32Array | undefined = undefined;
  private cTypeIds: Int32Array | undefined = undefined;
  private cAttention: Int32Array | undefined = undefined;
  private cSpecial: Int32Array | undefined = undefined;
  private cOffsets: [number, number][] | undefined = undefined;
  private cTokens: string[] | undefined = undefined;
  private cWordIds: (number | null)[] | undefined = undefined;
  private cSequenceIds: (number | null)[] | undefined = undefined;

  /** @internal */
  constructor(buf: TokenBuffer, start: number, length: number, namer: TokenNamer, overflowing: Encoding[] = NO_OVERFLOW) {
    this._buf = buf;
    this._start = start;
    this.length = length;
    this.namer = namer;
    this.overflowing = overflowing;
  }

  private get end(): number {
    return this._start + this.length;
  }

  /** Token ids. */
  get ids(): Int32Array {
    return (this.cIds ??= this._buf.ids.subarray(this._start, this.end));
  }

  /** Segment (token type) ids: 0 for the first sequence and its specials, 1 for the second. */
  get typeIds(): Int32Array {
    return (this.cTypeIds ??= this._buf.typeIds.subarray(this._start, this.end));
  }

  /** 1 for real tokens, 0 for padding. */
  get attentionMask(): Int32Array {
    if (!this.cAttention) {
      const a = this._buf.attention;
      this.cAttention = a ? a.subarray(this._start, this.end) : new Int32Array(this.length).fill(1);
    }
    return this.cAttention;
  }

  /** 1 for the special tokens the template added and for padding, 0 for tokens of the text. */
  get specialTokensMask(): Int32Array {
    if (!this.cSpecial) {
      const m = new Int32Array(this.length);
      const q = this._buf.seqs;
      for (let i = 0; i < this.length; i++) m[i] = q[this._start + i]! < 0 ? 1 : 0;
      this.cSpecial = m;
    }
    return this.cSpecial;
  }

  /**
   * [start, end) of each token in UTF-16 code units of the sequence it came from, so
   * `text.slice(start, end)` is the token's source; [0, 0] for added special tokens and padding.
   */
  get offsets(): [number, number][] {
    if (!this.cOffsets) {
      const s = this._buf.starts;
      const e = this._buf.ends;
      const out = new Array<[number, number]>(this.length);
      for (let i = 0; i < this.length; i++) out[i] = [s[this._start + i]!, e[this._start + i]!];
      this.cOffsets = out;
    }
    return this.cOffsets;
  }

  /** Token strings (`##` continuation pieces, `[UNK]` for unknown words). */
  get tokens(): string[] {
    if (!this.cTokens) {
      const out = new Array<string>(this.length);
      const ids = this._buf.ids;
      const ov = this._buf.tokenOverrides;
      for (let i = 0; i < this.length; i++) {
        const k = this._start + i;
        out[i] = (ov && ov.get(k)) ?? this.namer.defaultToken(ids[k]!);
      }
      this.cTokens = out;
    }
    return this.cTokens;
  }

  /** Index of the pre-tokenized word each token belongs to, within its sequence; null for specials. */
  get wordIds(): (number | null)[] {
    if (!this.cWordIds) {
      const w = this._buf.words;
      const out = new Array<number | null>(this.length);
      for (let i = 0; i < this.length; i++) {
        const v = w[this._start + i]!;
        out[i] = v < 0 ? null : v;
      }
      this.cWordIds = out;
    }
    return this.cWordIds;
  }

  /** 0 / 1: which sequence each token came from; null for special tokens and padding. */
  get sequenceIds(): (number | null)[] {
    if (!this.cSequenceIds) {
      const q = this._buf.seqs;
      const out = new Array<number | null>(this.length);
      for (let i = 0; i < this.length; i++) {
        const v = q[this._start + i]!;
        out[i] = v < 0 ? null : v;
      }
      this.cSequenceIds = out;
    }
    return this.cSequenceIds;
  }

  /** Index of the token covering UTF-16 position `pos` of sequence `sequence`, or null. */
  charToToken(pos: number, sequence = 0): number | null {
    const b = this._buf;
    for (let i = 0; i < this.length; i++) {
      const k = this._start + i;
      if (b.seqs[k] === sequence && b.starts[k]! <= pos && pos < b.ends[k]!) return i;
    }
    return null;
  }

  toJSON(): Record<string, unknown> {
    return {
      ids: Array.from(this.ids),
      tokens: this.tokens,
      typeIds: Array.from(this.typeIds),
      attentionMask: Array.from(this.attentionMask),
      specialTokensMask: Array.from(this.specialTokensMask),
      offsets: this.offsets,
      wordIds: this.wordIds,
      sequenceIds: this.sequenceIds,
      overflowing: this.overflowing.map((o) => o.toJSON()),
    };
  }
}

/**
 * The result of `encodeBatch`: one Encoding per row, the padded model inputs as rows of Int32Array
 * (`inputIds`, `attentionMask`, `tokenTypeIds`, what `model.forward` takes), and `toPacked()`, the
 * padding-free form the engine runs on.
 */
export class BatchEncoding {
  readonly encodings: Encoding[];
  /**
   * For each row, the index of the input it came from. Rows and inputs correspond one to one unless
   * `returnOverflowing` was set, in which case each input's overflow windows follow it.
   */
  readonly overflowToSampleMapping: Int32Array;
  /** @internal the unpadded rows back to back and where each starts, when available (the common case). */
  private readonly packedSource: { buf: TokenBuffer; cuSeqlens: Int32Array } | null;
  private cache: {
    inputIds?: Int32Array[];
    attentionMask?: Int32Array[];
    tokenTypeIds?: Int32Array[];
    packed?: PackedInput;
  } = {};

  /** @internal */
  constructor(
    encodings: Encoding[],
    overflowToSampleMapping: Int32Array,
    packedSource: { buf: TokenBuffer; cuSeqlens: Int32Array } | null,
  ) {
    this.encodings = encodings;
    this.overflowToSampleMapping = overflowToSampleMapping;
    this.packedSource = packedSource;
  }

  get length(): number {
    return this.encodings.length;
  }

  /** Token ids per row (padded when padding was requested). */
  get inputIds(): Int32Array[] {
    return (this.cache.inputIds ??= this.encodings.map((e) => e.ids));
  }

  /** Attention mask per row: 1 for tokens, 0 for padding. */
  get attentionMask(): Int32Array[] {
    return (this.cache.attentionMask ??= this.encodings.map((e) => e.attentionMask));
  }

  /** Token type ids per row. */
  get tokenTypeIds(): Int32Array[] {
    return (this.cache.tokenTypeIds ??= this.encodings.map((e) => e.typeIds));
  }

  /**
   * All rows' tokens back to back without padding, with `cuSeqlens` marking where each starts.
   * Without padding or overflow rows this shares the batch's own buffers (no copy).
   */
  toPacked(): PackedInput {
    if (this.cache.packed) return this.cache.packed;
    const rows = this.encodings;
    let packed: PackedInput;
    const src = this.packedSource;
    if (src) {
      const n = src.cuSeqlens[rows.length]!;
      packed = {
        inputIds: src.buf.ids.subarray(0, n),
        cuSeqlens: src.cuSeqlens,
        tokenTypeIds: src.buf.typeIds.subarray(0, n),
      };
    } else {
      const cu = new Int32Array(rows.length + 1);
      let n = 0;
      for (let r = 0; r < rows.length; r++) {
        n += countAttended(rows[r]!);
        cu[r + 1] = n;
      }
      const ids = new Int32Array(n);
      const types = new Int32Array(n);
      let k = 0;
      for (const e of rows) {
        const a = e.attentionMask;
        const id = e.ids;
        const ty = e.typeIds;
        for (let i = 0; i < e.length; i++) {
          if (a[i] !== 0) {
            ids[k] = id[i]!;
            types[k] = ty[i]!;
            k++;
          }
        }
      }
      packed = { inputIds: ids, cuSeqlens: cu, tokenTypeIds: types };
    }
    this.cache.packed = packed;
    return packed;
  }
}

function countAttended(e: Encoding): number {
  const buf = e._buf;
  if (!buf.attention) return e.length;
  let n = 0;
  const a = buf.attention;
  for (let i = e._start, end = e._start + e.length; i < end; i++) if (a[i] !== 0) n++;
  return n;
}
