/**
 * SentencePiece's `Precompiled` normaliser (the `precompiled_charsmap` of tokenizer.json, e.g.
 * nmt_nfkc): a darts-clone double-array trie over UTF-8 bytes whose leaves index NUL-terminated
 * replacement strings. Applied as `tokenizers` (spm_precompiled) does: per extended grapheme
 * cluster, the shortest prefix match replaces the whole cluster (when it is under 6 bytes),
 * otherwise each character is looked up on its own.
 */
import { InvalidFileError } from '../errors.js';
import { NStr, codePoints, pushReplacement, transform } from './normalized.js';

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class Precompiled {
  private readonly array: Uint32Array;
  private readonly normalized: Uint8Array;
  /** Per BMP unit: undefined = not looked up yet, null = no entry, else the replacement's code points. */
  private readonly single = new Array<number[] | null | undefined>(0x10000);
  private segmenter: Intl.Segmenter | null = null;

  /** Parses and validates the charsmap (base64 in tokenizer.json). */
  constructor(charsmap: Uint8Array, file?: string) {
    const bad = (why: string): never => {
      throw new InvalidFileError(`normalizer Precompiled: malformed precompiled_charsmap (${why})`, file);
    };
    if (charsmap.length < 4) bad('shorter than its 4-byte header');
    const dv = new DataView(charsmap.buffer, charsmap.byteOffset, charsmap.byteLength);
    const trieSize = dv.getUint32(0, true);
    const units = Math.floor(trieSize / 4);
    if (4 + units * 4 > charsmap.length) bad(`trie of ${trieSize} bytes in ${charsmap.length - 4}`);
    if (units === 0) bad('empty trie');
    this.array = new Uint32Array(units);
    for (let i = 0; i < units; i++) this.array[i] = dv.getUint32(4 + 4 * i, true);
    this.normalized = charsmap.subarray(4 + units * 4);
    try {
      utf8d.decode(this.normalized);
    } catch {
      bad('replacement strings are not valid UTF-8');
    }
    this.validate(bad);
  }

  /** Walks every reachable node once: children inside the array, leaves pointing into the strings. */
  private validate(bad: (why: string) => never): void {
    const a = this.array;
    const n = a.length;
    // Positions of children blocks (a node's children sit at base ^ label; its value, if it has
    // one, at base itself). darts-clone lays blocks out 256 units wide, inside the array.
    const seen = new Uint8Array(n);
    const stack = [offset(a[0]!)];
    while (stack.length) {
      const base = stack.pop()!;
      if ((base | 0xff) >= n) bad('node offset out of range');
      for (let c = 1; c < 256; c++) {
        const child = base ^ c;
        if (label(a[child]!) !== c) continue;
        const next = child ^ offset(a[child]!);
        if (next >= n) bad('node offset out of range');
        if (hasLeaf(a[child]!) && value(a[next]!) >= this.normalized.length) bad('replacement index out of range');
        if (!seen[next]) {
          seen[next] = 1;
          stack.push(next);
        }
      }
    }
  }

  /** The replacement of the shortest entry that is a prefix of `bytes`, or null. */
  private lookup(bytes: Uint8Array): number[] | null {
    const a = this.array;
    let pos = offset(a[0]!);
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!;
      if (c === 0) break;
      pos ^= c;
      if (pos >= a.length) return null;
      const unit = a[pos]!;
      if (label(unit) !== c) return null;
      pos ^= offset(unit);
      if (hasLeaf(unit)) {
        const start = value(a[pos]!);
        let end = start;
        while (end < this.normalized.length && this.normalized[end] !== 0) end++;
        return codePoints(utf8d.decode(this.normalized.subarray(start, end)));
      }
    }
    return null;
  }

  private lookupChar(s: string): number[] | null {
    if (s.length === 1) {
      const u = s.charCodeAt(0);
      let r = this.single[u];
      if (r === undefined) this.single[u] = r = this.lookup(utf8.encode(s));
      return r;
    }
    return this.lookup(utf8.encode(s));
  }

  normalize(ns: NStr): NStr {
    const s = ns.s;
    const cps: number[] = [];
    const changes: number[] = [];
    let modified = false;
    const oneChar = (ch: string): void => {
      const r = this.lookupChar(ch);
      if (r) {
        modified = true;
        pushReplacement(cps, changes, 1, r);
      } else {
        cps.push(ch.codePointAt(0)!);
        changes.push(0);
      }
    };
    const grapheme = (g: string): void => {
      if (g.length === 1 || (g.length === 2 && g.codePointAt(0)! > 0xffff)) {
        oneChar(g);
        return;
      }
      const bytes = utf8.encode(g);
      if (bytes.length < 6) {
        const r = this.lookup(bytes);
        if (r) {
          modified = true;
          pushReplacement(cps, changes, codePoints(g).length, r);
          return;
        }
      }
      for (const ch of g) oneChar(ch);
    };
    // A grapheme break precedes every ASCII unit except LF after CR, and an ASCII unit followed
    // by ASCII (or the end) is a grapheme of its own; only non-ASCII stretches need segmenting.
    let i = 0;
    while (i < s.length) {
      const u = s.charCodeAt(i);
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (u < 0x80 && next < 0x80 && !(u === 0x0d && next === 0x0a)) {
        oneChar(s[i]!);
        i++;
        continue;
      }
      let j = i + 1;
      while (j < s.length && !(s.charCodeAt(j) < 0x80 && !(s.charCodeAt(j) === 0x0a && s.charCodeAt(j - 1) === 0x0d))) j++;
      this.segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
      for (const seg of this.segmenter.segment(s.slice(i, j))) grapheme(seg.segment);
      i = j;
    }
    return modified ? transform(ns, cps, changes) : ns;
  }
}

function hasLeaf(u: number): boolean {
  return ((u >>> 8) & 1) === 1;
}
function value(u: number): number {
  return u & 0x7fffffff;
}
function label(u: number): number {
  return (u & 0x800000ff) >>> 0;
}
function offset(u: number): number {
  return (u >>> 10) << ((u & (1 << 9)) >>> 6);
}
