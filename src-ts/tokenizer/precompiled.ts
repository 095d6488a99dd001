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
  /** Per BMP unit: 0 not known yet, 1 no entry starts with this character, 2 some entry does. */
  private readonly prefix = new Uint8Array(0x10000);

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

  /**
   * Checks every unit once (linear, not a walk): a node's children sit at base ^ label and its
   * value, if it has one, at base itself; darts-clone lays these blocks out 256 units wide inside
   * the array, and unused units are 0. So every unit that carries a label must point at a block
   * inside the array, and every leaf at a replacement string.
   */
  private validate(bad: (why: string) => never): void {
    const a = this.array;
    const n = a.length;
    if ((offset(a[0]!) | 0xff) >= n) bad('node offset out of range');
    for (let i = 1; i < n; i++) {
      const u = a[i]!;
      const c = label(u);
      if (c === 0 || c > 0xff) continue;
      const next = i ^ offset(u);
      if ((next | 0xff) >= n) bad('node offset out of range');
      if (hasLeaf(u) && value(a[next]!) >= this.normalized.length) bad('replacement index out of range');
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
        if (start >= this.normalized.length) return null;
        let end = start;
        while (end < this.normalized.length && this.normalized[end] !== 0) end++;
        return codePoints(utf8d.decode(this.normalized.subarray(start, end)));
      }
    }
    return null;
  }

  /** Whether some entry starts with the character `ch` (only then can its grapheme matter). */
  private isPrefix(ch: string): boolean {
    const u = ch.length === 1 ? ch.charCodeAt(0) : -1;
    if (u >= 0 && this.prefix[u] !== 0) return this.prefix[u] === 2;
    const a = this.array;
    const bytes = utf8.encode(ch);
    let pos = offset(a[0]!);
    let ok = true;
    for (let i = 0; i < bytes.length && ok; i++) {
      pos ^= bytes[i]!;
      if (pos >= a.length || label(a[pos]!) !== bytes[i]) ok = false;
      else pos ^= offset(a[pos]!);
    }
    if (u >= 0) this.prefix[u] = ok ? 2 : 1;
    return ok;
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

  /**
   * True when nothing can change: no character has a replacement, and none that starts an entry
   * is followed by a character that could extend its grapheme (non-ASCII, or LF after CR).
   */
  private unchanged(s: string): boolean {
    for (let i = 0; i < s.length; ) {
      const len = s.codePointAt(i)! > 0xffff ? 2 : 1;
      const ch = len === 1 ? s[i]! : s.slice(i, i + 2);
      if (this.lookupChar(ch)) return false;
      const next = i + len < s.length ? s.charCodeAt(i + len) : -1;
      if ((next >= 0x80 || (next === 0x0a && ch === '\r')) && this.isPrefix(ch)) return false;
      i += len;
    }
    return true;
  }

  normalize(ns: NStr): NStr {
    const s = ns.s;
    if (this.unchanged(s)) return ns;
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
      // A grapheme is looked up whole only when an entry starts with its first character; when no
      // character of the stretch starts an entry, character by character gives the same result.
      let needs = false;
      for (let k = i; k < j && !needs; ) {
        const len = s.codePointAt(k)! > 0xffff ? 2 : 1;
        needs = this.isPrefix(s.slice(k, k + len));
        k += len;
      }
      if (needs) {
        this.segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
        for (const seg of this.segmenter.segment(s.slice(i, j))) grapheme(seg.segment);
      } else {
        for (let k = i; k < j; ) {
          const len = s.codePointAt(k)! > 0xffff ? 2 : 1;
          oneChar(s.slice(k, k + len));
          k += len;
        }
      }
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
