/**
 * The BPE model of `tokenizers` (GPT-2 / RoBERTa byte-level BPE and classic BPE): a word starts
 * as its characters (with continuing_subword_prefix / end_of_word_suffix, byte_fallback, unk),
 * then the adjacent pair of lowest merge rank is merged, leftmost first, until none is left (a
 * linked list and a binary heap with stale entries skipped, as Rust's Word::merge_all). Results are
 * cached per word.
 */
import { InvalidFileError } from '../errors.js';

/** Ids and ranks are packed as a * ID_K + b in one double (exact below 2^53). */
const ID_K = 0x4000000;
const CACHE_LIMIT = 100_000;

export interface BpeOptions {
  unkToken: string | null;
  continuingSubwordPrefix: string;
  endOfWordSuffix: string;
  fuseUnk: boolean;
  byteFallback: boolean;
  ignoreMerges: boolean;
}

export interface ModelVocab {
  readonly map: Map<string, number>;
  readonly byId: (string | undefined)[];
  readonly size: number;
}

export class BpeModel implements ModelVocab {
  readonly map: Map<string, number>;
  readonly byId: (string | undefined)[];
  private readonly merges = new Map<number, number>();
  private readonly o: BpeOptions;
  private readonly unkId: number;
  readonly unkToken: string | null;
  private readonly cache = new Map<string, Int32Array>();

  constructor(vocab: Map<string, number>, merges: readonly (readonly [string, string])[], o: BpeOptions, file?: string) {
    this.map = vocab;
    this.o = o;
    this.unkToken = o.unkToken;
    let maxId = -1;
    for (const id of vocab.values()) {
      if (id >= ID_K) throw new InvalidFileError(`model.vocab: id ${id} is too large for a BPE vocabulary`, file);
      if (id > maxId) maxId = id;
    }
    this.byId = new Array<string | undefined>(maxId + 1).fill(undefined);
    for (const [t, id] of vocab) this.byId[id] = t;
    const plen = o.continuingSubwordPrefix.length;
    merges.forEach(([a, b], rank) => {
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      if (ia === undefined || ib === undefined) {
        throw new InvalidFileError(`model.merges[${rank}]: ${JSON.stringify(ia === undefined ? a : b)} is not in the vocabulary`, file);
      }
      const merged = a + (plen ? b.slice(plen) : b);
      const id = vocab.get(merged);
      if (id === undefined) throw new InvalidFileError(`model.merges[${rank}]: the merge result ${JSON.stringify(merged)} is not in the vocabulary`, file);
      const key = ia * ID_K + ib;
      // A repeated pair takes its last rank, as Rust collects the merges into a map.
      this.merges.set(key, rank * ID_K + id);
    });
    if (o.unkToken !== null) {
      const u = vocab.get(o.unkToken);
      this.unkId = u === undefined ? -1 : u;
    } else this.unkId = -1;
    if (o.unkToken !== null && this.unkId < 0) {
      throw new InvalidFileError(`model.unk_token ${JSON.stringify(o.unkToken)} is not in the vocabulary`, file);
    }
  }

  get size(): number {
    return this.map.size;
  }

  /** Tokens of one word as (id, start, end) triples, offsets in UTF-16 units of `w`. */
  tokenize(w: string): Int32Array {
    let r = this.cache.get(w);
    if (r !== undefined) return r;
    r = this.compute(w);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(w, r);
    return r;
  }

  private compute(w: string): Int32Array {
    if (w.length === 0) return new Int32Array(0);
    const o = this.o;
    if (o.ignoreMerges) {
      const id = this.map.get(w);
      if (id !== undefined) return Int32Array.of(id, 0, w.length);
    }
    const ids: number[] = [];
    const st: number[] = [];
    const en: number[] = [];
    let unkStart = -1;
    let unkEnd = -1;
    const flushUnk = (): void => {
      if (unkStart >= 0) {
        ids.push(this.unkId);
        st.push(unkStart);
        en.push(unkEnd);
        unkStart = -1;
      }
    };
    for (let i = 0; i < w.length; ) {
      const len = w.codePointAt(i)! > 0xffff ? 2 : 1;
      const end = i + len;
      let s = w.slice(i, end);
      if (i > 0 && o.continuingSubwordPrefix) s = o.continuingSubwordPrefix + s;
      if (end === w.length && o.endOfWordSuffix) s += o.endOfWordSuffix;
      const id = this.map.get(s);
      if (id !== undefined) {
        flushUnk();
        ids.push(id);
        st.push(i);
        en.push(end);
      } else {
        let done = false;
        if (o.byteFallback) {
          const bytes = new TextEncoder().encode(s);
          const bIds: number[] = [];
          for (const b of bytes) {
            const bid = this.map.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
            if (bid === undefined) break;
            bIds.push(bid);
          }
          if (bIds.length === bytes.length) {
            for (const bid of bIds) {
              ids.push(bid);
              st.push(i);
              en.push(end);
            }
            done = true;
          }
        }
        if (!done && this.unkId >= 0) {
          if (unkStart >= 0 && o.fuseUnk) unkEnd = end;
          else {
            flushUnk();
            unkStart = i;
            unkEnd = end;
          }
        }
        // Without an unknown token the character is dropped, as in Rust.
      }
      i = end;
    }
    flushUnk();
    return this.mergeAll(ids, st, en);
  }

  private mergeAll(ids: number[], st: number[], en: number[]): Int32Array {
    const n = ids.length;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    // Min-heap of (rank, pos, newId) packed as rank * 2^26 + pos with newId beside.
    const heapKey: number[] = [];
    const heapId: number[] = [];
    const push = (key: number, id: number): void => {
      let k = heapKey.length;
      heapKey.push(key);
      heapId.push(id);
      while (k > 0) {
        const p = (k - 1) >> 1;
        if (heapKey[p]! <= key) break;
        heapKey[k] = heapKey[p]!;
        heapId[k] = heapId[p]!;
        k = p;
      }
      heapKey[k] = key;
      heapId[k] = id;
    };
    const pop = (): [number, number] => {
      const topKey = heapKey[0]!;
      const topId = heapId[0]!;
      const lastKey = heapKey.pop()!;
      const lastId = heapId.pop()!;
      const m = heapKey.length;
      if (m > 0) {
        let k = 0;
        for (;;) {
          let c = 2 * k + 1;
          if (c >= m) break;
          if (c + 1 < m && heapKey[c + 1]! < heapKey[c]!) c++;
          if (heapKey[c]! >= lastKey) break;
          heapKey[k] = heapKey[c]!;
          heapId[k] = heapId[c]!;
          k = c;
        }
        heapKey[k] = lastKey;
        heapId[k] = lastId;
      }
      return [topKey, topId];
    };
    const consider = (pos: number): void => {
      const nx = next[pos]!;
      if (nx < 0) return;
      const v = this.merges.get(ids[pos]! * ID_K + ids[nx]!);
      if (v === undefined) return;
      push(Math.floor(v / ID_K) * ID_K + pos, v % ID_K);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heapKey.length) {
      const [key, newId] = pop();
      const pos = key % ID_K;
      if (!alive[pos]) continue;
      const nx = next[pos]!;
      if (nx < 0) continue;
      const v = this.merges.get(ids[pos]! * ID_K + ids[nx]!);
      if (v === undefined || v % ID_K !== newId) continue;
      ids[pos] = newId;
      en[pos] = en[nx]!;
      alive[nx] = 0;
      next[pos] = next[nx]!;
      if (next[nx]! >= 0) prev[next[nx]!] = pos;
      if (prev[pos]! >= 0) consider(prev[pos]!);
      consider(pos);
    }
    let count = 0;
    for (let i = 0; i < n; i++) if (alive[i]) count++;
    const out = new Int32Array(count * 3);
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (!alive[i]) continue;
      out[k++] = ids[i]!;
      out[k++] = st[i]!;
      out[k++] = en[i]!;
    }
    return out;
  }
}
