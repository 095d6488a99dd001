/**
 * The Unigram model of `tokenizers` (SentencePiece): Viterbi over the pieces that start at each
 * character (a double-array trie), ties kept by the first path found, characters no piece covers
 * scored as unknown (min score - 10) and consecutive unknowns fused into one token, which keeps
 * its text (`Encoding.tokens` shows the text, the id is unk). byte_fallback turns an unknown
 * piece into `<0xXX>` tokens when the vocabulary has them all. Results are cached per word.
 */
import { InvalidFileError } from '../errors.js';
import type { ModelVocab } from './bpe.js';
import { DoubleArray, Trie } from './vocab.js';

const UNK_PENALTY = 10;
const CACHE_LIMIT = 100_000;

/** Tokens of one word: (id, start, end) triples plus the strings that differ from the vocabulary's. */
export interface WordTokens {
  triples: Int32Array;
  /** token index → its string, for unknown pieces. */
  texts: Map<number, string> | null;
}

export class UnigramModel implements ModelVocab {
  readonly map = new Map<string, number>();
  readonly byId: string[];
  private readonly scores: Float64Array;
  private readonly unkId: number;
  private readonly byteFallback: boolean;
  private readonly da: DoubleArray;
  private readonly unkScore: number;
  private readonly cache = new Map<string, WordTokens>();

  constructor(pieces: readonly (readonly [string, number])[], unkId: number | null, byteFallback: boolean, file?: string) {
    this.byId = pieces.map((p) => p[0]);
    this.scores = Float64Array.from(pieces, (p) => p[1]);
    let min = Infinity;
    let units = 0;
    for (let i = 0; i < pieces.length; i++) {
      this.map.set(pieces[i]![0], i);
      if (this.scores[i]! < min) min = this.scores[i]!;
      units += pieces[i]![0].length;
    }
    if (unkId !== null && (unkId < 0 || unkId >= pieces.length)) {
      throw new InvalidFileError(`model.unk_id ${unkId} is outside the vocabulary of ${pieces.length} pieces`, file);
    }
    this.unkId = unkId ?? -1;
    this.byteFallback = byteFallback;
    this.unkScore = (pieces.length ? min : 0) - UNK_PENALTY;
    const trie = new Trie(Math.min(units, 1 << 22));
    for (const [piece] of pieces) {
      if (piece.length === 0) continue;
      const node = trie.insertFrom(0, piece);
      // Later duplicates win, as in the Rust token → id map.
      trie.term[node] = this.map.get(piece)!;
    }
    this.da = new DoubleArray(trie);
  }

  /** The unknown piece's string, if the model has one. */
  get unkToken(): string | undefined {
    return this.unkId < 0 ? undefined : this.byId[this.unkId];
  }

  get size(): number {
    return this.byId.length;
  }

  tokenize(w: string): WordTokens {
    let r = this.cache.get(w);
    if (r !== undefined) return r;
    r = this.compute(w);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(w, r);
    return r;
  }

  private compute(w: string): WordTokens {
    const n = w.length;
    if (n === 0) return { triples: new Int32Array(0), texts: null };
    const score = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const idAt = new Int32Array(n + 1);
    const { alpha, base, check, term } = this.da;
    for (let s = 0; s < n; ) {
      const here = score[s]!;
      const mblen = w.codePointAt(s)! > 0xffff ? 2 : 1;
      let single = false;
      let node = 0;
      for (let j = s; j < n; j++) {
        const code = alpha[w.charCodeAt(j)]!;
        const t = base[node]! + code;
        if (code === 0 || check[t] !== node) break;
        node = t;
        const id = term[t]!;
        if (id < 0) continue;
        const e = j + 1;
        const cand = this.scores[id]! + here;
        if (from[e]! < 0 || cand > score[e]!) {
          score[e] = cand;
          from[e] = s;
          idAt[e] = id;
        }
        if (e - s === mblen) single = true;
      }
      if (!single) {
        const e = s + mblen;
        const cand = this.unkScore + here;
        if (from[e]! < 0 || cand > score[e]!) {
          if (this.unkId < 0) throw new InvalidFileError('the Unigram model has no unk_id but the text has characters outside its vocabulary');
          score[e] = cand;
          from[e] = s;
          idAt[e] = this.unkId;
        }
      }
      s += mblen;
    }
    // Backtrack, fusing runs of unknowns.
    const bounds: number[] = [];
    for (let e = n; e > 0; ) {
      const s = from[e]!;
      if (idAt[e] === this.unkId && bounds.length && bounds[bounds.length - 1] === -1) {
        bounds[bounds.length - 3] = s;
      } else {
        bounds.push(s, e, idAt[e] === this.unkId ? -1 : 0);
      }
      e = s;
    }
    // bounds holds (start, end, unkMark) back to front; the fused runs were extended in place.
    const triples: number[] = [];
    let texts: Map<number, string> | null = null;
    for (let k = bounds.length - 3; k >= 0; k -= 3) {
      const s = bounds[k]!;
      const e = bounds[k + 1]!;
      const piece = w.slice(s, e);
      let id = this.map.get(piece);
      if (id === undefined) {
        if (this.byteFallback) {
          const bytes = new TextEncoder().encode(piece);
          const ids: number[] = [];
          for (const b of bytes) {
            const bid = this.map.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
            if (bid === undefined) break;
            ids.push(bid);
          }
          if (ids.length === bytes.length) {
            for (const bid of ids) triples.push(bid, s, e);
            continue;
          }
        }
        id = this.unkId;
        (texts ??= new Map()).set(triples.length / 3, piece);
      }
      triples.push(id, s, e);
    }
    return { triples: Int32Array.from(triples), texts };
  }
}
