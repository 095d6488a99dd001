/**
 * Struct-of-arrays token storage. A batch writes every row back to back into one buffer, so the
 * packed engine input is a view of it, and each Encoding is a window (start, length) into it.
 */

export class TokenBuffer {
  ids: Int32Array;
  typeIds: Int32Array;
  /** UTF-16 [start, end) into the sequence the token came from; [0, 0] for added specials. */
  starts: Int32Array;
  ends: Int32Array;
  /** Word index within its sequence, -1 for none. */
  words: Int32Array;
  /**
   * 0 / 1 for tokens of the first / second sequence, -1 for the template's special tokens and
   * padding (which is exactly what the special-tokens mask marks, so it is derived from this).
   */
  seqs: Int8Array;
  /** null: every token is attended (unpadded rows). */
  attention: Int32Array | null = null;
  /**
   * Token strings that differ from the vocabulary's string for their id (added tokens that
   * swallowed whitespace or matched after normalisation, a pad token named differently), by index.
   */
  tokenOverrides: Map<number, string> | null = null;
  length = 0;

  constructor(capacity = 64) {
    const c = Math.max(8, capacity | 0);
    // One allocation for all columns (five Int32 and one Int8 per token): small typed arrays are
    // expensive to allocate one by one, and a single encode() makes one buffer.
    const buf = new ArrayBuffer(c * 21);
    this.ids = new Int32Array(buf, 0, c);
    this.typeIds = new Int32Array(buf, 4 * c, c);
    this.starts = new Int32Array(buf, 8 * c, c);
    this.ends = new Int32Array(buf, 12 * c, c);
    this.words = new Int32Array(buf, 16 * c, c);
    this.seqs = new Int8Array(buf, 20 * c, c);
  }

  get capacity(): number {
    return this.ids.length;
  }

  /** Makes room for `extra` more tokens. */
  reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.ids.length) return;
    let cap = this.ids.length * 2;
    while (cap < need) cap *= 2;
    this.resize(cap);
  }

  private resize(cap: number): void {
    const n = this.length;
    const buf = new ArrayBuffer(cap * 21);
    const move = <T extends Int32Array | Int8Array>(a: T, b: T): T => {
      b.set(a.subarray(0, n));
      return b;
    };
    this.ids = move(this.ids, new Int32Array(buf, 0, cap));
    this.typeIds = move(this.typeIds, new Int32Array(buf, 4 * cap, cap));
    this.starts = move(this.starts, new Int32Array(buf, 8 * cap, cap));
    this.ends = move(this.ends, new Int32Array(buf, 12 * cap, cap));
    this.words = move(this.words, new Int32Array(buf, 16 * cap, cap));
    this.seqs = move(this.seqs, new Int8Array(buf, 20 * cap, cap));
    if (this.attention) this.attention = move(this.attention, new Int32Array(cap));
  }

  /** Appends one sequence token (type and sequence ids are filled per region by `mark`). */
  push(id: number, start: number, end: number, word: number): void {
    let n = this.length;
    if (n === this.ids.length) this.resize(n * 2);
    this.ids[n] = id;
    this.starts[n] = start;
    this.ends[n] = end;
    this.words[n] = word;
    this.length = n + 1;
  }

  setOverride(index: number, token: string): void {
    (this.tokenOverrides ??= new Map()).set(index, token);
  }

  /** Sets type id and sequence id of tokens [from, to). */
  mark(from: number, to: number, typeId: number, seq: number): void {
    this.typeIds.fill(typeId, from, to);
    this.seqs.fill(seq, from, to);
  }

  /** Copies tokens [from, from + n) of `src` to the end of this buffer. */
  append(src: TokenBuffer, from: number, n: number): void {
    if (n <= 0) return;
    this.reserve(n);
    const at = this.length;
    const to = from + n;
    this.ids.set(src.ids.subarray(from, to), at);
    this.typeIds.set(src.typeIds.subarray(from, to), at);
    this.starts.set(src.starts.subarray(from, to), at);
    this.ends.set(src.ends.subarray(from, to), at);
    this.words.set(src.words.subarray(from, to), at);
    this.seqs.set(src.seqs.subarray(from, to), at);
    if (this.attention) {
      if (src.attention) this.attention.set(src.attention.subarray(from, to), at);
      else this.attention.fill(1, at, at + n);
    }
    if (src.tokenOverrides) {
      for (const [i, t] of src.tokenOverrides) if (i >= from && i < to) this.setOverride(at + i - from, t);
    }
    this.length = at + n;
  }
}
