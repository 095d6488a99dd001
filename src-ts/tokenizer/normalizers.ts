/**
 * The `tokenizers` normalisers other than BertNormalizer (which the WordPiece core fuses):
 * Sequence, Precompiled, Replace, Lowercase, NFD/NFKD/NFC/NFKC, StripAccents, Strip, Prepend.
 * Each maps an NStr to an NStr, keeping the alignments `tokenizers` keeps.
 */
import { NStr, codePoints, pushReplacement, transform } from './normalized.js';
import type { Precompiled } from './precompiled.js';
import { cccRank, isCombiningMark, keepsUnderCompat, nfd } from './unicode.js';

export type Normalizer = (ns: NStr) => NStr;

const WS = /\p{White_Space}/u;
const ASCII = /^[\x00-\x7f]*$/;

export function sequence(list: Normalizer[]): Normalizer {
  return (ns) => {
    for (const n of list) ns = n(ns);
    return ns;
  };
}

export function precompiled(p: Precompiled): Normalizer {
  return (ns) => p.normalize(ns);
}

export function replace(pattern: RegExp | string, content: string): Normalizer {
  return (ns) => ns.replace(pattern, content);
}

/** Per character, as Rust's `char::to_lowercase` (no context: Σ → σ always). */
export function lowercase(): Normalizer {
  const cache = new Map<number, number[] | null>();
  return (ns) => {
    const s = ns.s;
    if (ASCII.test(s)) {
      // ASCII lowercases unit for unit, so every alignment stays where it is.
      const low = s.toLowerCase();
      return low === s ? ns : new NStr(low, ns.st, ns.en);
    }
    const cps: number[] = [];
    const changes: number[] = [];
    let changed = false;
    for (const cp of codePoints(s)) {
      let low = cache.get(cp);
      if (low === undefined) {
        const ch = String.fromCodePoint(cp);
        const l = ch.toLowerCase();
        low = l === ch ? null : codePoints(l);
        if (cache.size < 65536) cache.set(cp, low);
      }
      if (low === null) {
        cps.push(cp);
        changes.push(0);
      } else {
        changed = true;
        low.forEach((c, k) => {
          cps.push(c);
          changes.push(k > 0 ? 1 : 0);
        });
      }
    }
    return changed ? transform(ns, cps, changes) : ns;
  };
}

/**
 * NFD / NFKD: each character decomposed (its first output replaces it, the rest are inserted),
 * then each run of non-starters stably sorted by combining class with the edits left in place, as
 * the Rust crate hands them out by position.
 */
export function decompose(form: 'NFD' | 'NFKD'): Normalizer {
  return (ns) => {
    const s = ns.s;
    if (ASCII.test(s) || s.normalize(form) === s) return ns;
    const cps: number[] = [];
    const changes: number[] = [];
    const ranks: number[] = [];
    for (const cp of codePoints(s)) {
      // The Rust tables' decompositions (older Unicode): see unicode.ts.
      const d = form === 'NFD' ? codePoints(nfd(cp)) : keepsUnderCompat(cp) ? [cp] : codePoints(String.fromCodePoint(cp).normalize(form));
      d.forEach((c, k) => {
        cps.push(c);
        changes.push(k > 0 ? 1 : 0);
        ranks.push(cccRank(c));
      });
    }
    for (let i = 0; i < cps.length; ) {
      if (ranks[i] === 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < cps.length && ranks[j] !== 0) j++;
      if (j - i > 1) {
        const idx = Array.from({ length: j - i }, (_, k) => i + k).sort((x, y) => ranks[x]! - ranks[y]! || x - y);
        const sorted = idx.map((k) => cps[k]!);
        for (let k = i; k < j; k++) cps[k] = sorted[k - i]!;
      }
      i = j;
    }
    return transform(ns, cps, changes);
  };
}

/**
 * NFC / NFKC per cluster (a starter, the non-starters after it, and any later starter that composes
 * with it, e.g. Hangul jamo): each cluster's outputs replace its inputs in order. The text is
 * exact; alignments inside a cluster that composes are approximate.
 */
export function compose(form: 'NFC' | 'NFKC'): Normalizer {
  return (ns) => {
    const s = ns.s;
    if (ASCII.test(s) || s.normalize(form) === s) return ns;
    const all = codePoints(s);
    const cps: number[] = [];
    const changes: number[] = [];
    const norm = (xs: number[]): number[] =>
      // Characters the Rust tables (older Unicode) leave whole stay as they are.
      xs.some(keepsUnderCompat) ? xs : codePoints(String.fromCodePoint(...xs).normalize(form));
    for (let i = 0; i < all.length; ) {
      let j = i + 1;
      let done = norm(all.slice(i, j));
      while (j < all.length) {
        if (cccRank(all[j]!) === 0) {
          const joined = norm(all.slice(i, j + 1));
          // A starter joins only when it composes with what is there.
          if (joined.length >= done.length + 1) break;
          done = joined;
        } else done = norm(all.slice(i, j + 1));
        j++;
      }
      pushReplacement(cps, changes, j - i, done);
      i = j;
    }
    return transform(ns, cps, changes);
  };
}

export function stripAccents(): Normalizer {
  return (ns) => (ASCII.test(ns.s) ? ns : ns.filter((cp) => !isCombiningMark(cp)));
}

export function strip(left: boolean, right: boolean): Normalizer {
  return (ns) => {
    const cps = codePoints(ns.s);
    let a = 0;
    let b = cps.length;
    if (left) while (a < b && WS.test(String.fromCodePoint(cps[a]!))) a++;
    if (right) while (b > a && WS.test(String.fromCodePoint(cps[b - 1]!))) b--;
    if (a === 0 && b === cps.length) return ns;
    let ua = 0;
    for (let k = 0; k < a; k++) ua += cps[k]! > 0xffff ? 2 : 1;
    let ub = ua;
    for (let k = a; k < b; k++) ub += cps[k]! > 0xffff ? 2 : 1;
    return ns.slice(ua, ub);
  };
}

export function prepend(prefix: string): Normalizer {
  return (ns) => ns.prepend(prefix);
}
