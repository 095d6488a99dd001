/**
 * The BPE model of `tokenizers` (GPT-2 / RoBERTa byte-level BPE and classic BPE): a word starts
 * as its characters (with continuing_subword_prefix / end_of_word_suffix, byte_fallback, unk),
 * then the adjacent pair of lowest merge rank is merged, leftmost first, until none is left (a
 * linked list and a binary heap with stale entries skipped, as Rust's Word::merge_all). Results are
 * cached per word.
 */
import { InvalidFileError } from '../errors.js';
import { quote } from '../util/quote.js';

/** Ids and ranks are packed as a * ID_K + b in one double (exact below 2^53). */
const ID_K = 0x4000000;
const CACHE_LIMIT = 100_000;

/** Merge pairs (a, b) → (rank, new id): open addressing over Int32Arrays (no boxed keys). */
class MergeTable {
  private readonly ka: Int32Array;
  private readonly kb: Int32Array;
  readonly rank: Int32Array;
  readonly id: Int32Array;
  private readonly mask: number;

  constructor(expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.ka = new Int32Array(cap).fill(-1);
    this.kb = new Int32Array(cap);
    this.rank = new Int32Array(cap);
    this.id = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private slot(a: number, b: number): number {
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) & this.mask;
    for (;;) {
      const k = this.ka[h]!;
      if (k === -1 || (k === a && this.kb[h] === b)) return h;
      h = (h + 1) & this.mask;
    }
  }

  set(a: number, b: number, rank: number, id: number): void {
    const h = this.slot(a, b);
    this.ka[h] = a;
    this.kb[h] = b;
    this.rank[h] = rank;
    this.id[h] = id;
  }

  /** Slot of (a, b), or -1. */
  find(a: number, b: number): number {
    const h = this.slot(a, b);
    return this.ka[h] === -1 ? -1 : h;
  }
}

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
  private readonly merges: MergeTable;
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
    this.merges = new MergeTable(merges.length);
    merges.forEach(([a, b], rank) => {
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      if (ia === undefined || ib === undefined) {
        throw new InvalidFileError(`model.merges[${rank}]: ${quote(ia === undefined ? a : b)} is not in the vocabulary`, file);
      }
      const merged = a + (plen ? b.slice(plen) : b);
      const id = vocab.get(merged);
      if (id === undefined) throw new InvalidFileError(`model.merges[${rank}]: the merge result ${quote(merged)} is not in the vocabulary`, file);
      // A repeated pair takes its last rank, as Rust collects the merges into a map.
      this.merges.set(ia, ib, rank, id);
    });
    if (o.unkToken !== null) {
      const u = vocab.get(o.unkToken);
      this.unkId = u === undefined ? -1 : u;
    } else this.unkId = -1;
    if (o.unkToken !== null && this.unkId < 0) {
      throw new InvalidFileError(`model.unk_token ${quote(o.unkToken)} is not in the vocabulary`, file);
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
    const m = this.merges;
    const consider = (pos: number): void => {
      const nx = next[pos]!;
      if (nx < 0) return;
      const h = m.find(ids[pos]!, ids[nx]!);
      if (h < 0) return;
      push(m.rank[h]! * ID_K + pos, m.id[h]!);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heapKey.length) {
      const [key, newId] = pop();
      const pos = key % ID_K;
      if (!alive[pos]) continue;
      const nx = next[pos]!;
      if (nx < 0) continue;
      const h = m.find(ids[pos]!, ids[nx]!);
      if (h < 0 || m.id[h] !== newId) continue;
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
