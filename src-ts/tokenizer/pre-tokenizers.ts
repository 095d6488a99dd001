/**
 * The `tokenizers` pre-tokenizers for the non-WordPiece pipeline: ByteLevel (GPT-2 split and the
 * byte-to-unicode alphabet), Metaspace, Split, Whitespace, WhitespaceSplit, BertPreTokenizer and
 * Sequence. Each turns one NStr into its words (NStrs with their alignments), in order.
 */
import { NStr } from './normalized.js';
import { isPunctuation, isWhitespace } from './unicode.js';
import { GPT2_LETTER_RANGES, GPT2_NUMBER_RANGES } from './unicode-data.js';

export type PreTokenizer = (ns: NStr, out: NStr[]) => void;
export type SplitBehavior = 'removed' | 'isolated' | 'merged_with_previous' | 'merged_with_next' | 'contiguous';

function charClass(ranges: readonly number[]): string {
  let out = '';
  for (let i = 0; i < ranges.length; i += 2) out += `\\u{${ranges[i]!.toString(16)}}-\\u{${ranges[i + 1]!.toString(16)}}`;
  return out;
}

/**
 * GPT-2's split. Rust runs it with Oniguruma: its `\s` is Unicode White_Space (U+0085 included,
 * U+FEFF not), and its \p{L} / \p{N} are those of an older Unicode than Node's, so both classes
 * are spelled out from tables measured on the Rust binding (unicode-data.ts).
 */
export const GPT2_SPLIT = (() => {
  const L = charClass(GPT2_LETTER_RANGES);
  const N = charClass(GPT2_NUMBER_RANGES);
  const S = '\\p{White_Space}';
  return new RegExp(`'s|'t|'re|'ve|'m|'ll|'d| ?[${L}]+| ?[${N}]+| ?[^${S}${L}${N}]+|${S}+(?!\\P{White_Space})|${S}+`, 'gu');
})();

/** GPT-2's reversible byte → printable character table. */
export const BYTE_CHARS: string[] = (() => {
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return out;
})();

/** Splits into (start, end, isMatch) pieces covering the whole string. */
function pieces(s: string, re: RegExp | string): number[] {
  const out: number[] = [];
  let last = 0;
  const push = (a: number, b: number): void => {
    if (last < a) out.push(last, a, 0);
    out.push(a, b, 1);
    last = b;
  };
  if (typeof re === 'string') {
    if (re.length > 0) for (let i = s.indexOf(re); i >= 0; i = s.indexOf(re, i + re.length)) push(i, i + re.length);
  } else {
    re.lastIndex = 0;
    for (let m = re.exec(s); m; m = re.exec(s)) {
      if (m[0].length === 0) {
        re.lastIndex = m.index + 1;
        continue;
      }
      push(m.index, m.index + m[0].length);
    }
  }
  if (last < s.length) out.push(last, s.length, 0);
  return out;
}

/** NormalizedString::split: the pieces a behaviour keeps, non-empty, as [start, end) pairs. */
export function splitRanges(s: string, re: RegExp | string, behavior: SplitBehavior, invert = false): number[] {
  const p = pieces(s, re);
  if (invert) for (let k = 2; k < p.length; k += 3) p[k] = p[k] ? 0 : 1;
  const acc: number[] = []; // start, end, removable
  const n = p.length / 3;
  if (behavior === 'isolated' || behavior === 'removed') {
    for (let k = 0; k < n; k++) {
      if (behavior === 'removed' && p[3 * k + 2]) continue;
      acc.push(p[3 * k]!, p[3 * k + 1]!);
    }
  } else if (behavior === 'contiguous' || behavior === 'merged_with_previous') {
    let prev = false;
    for (let k = 0; k < n; k++) {
      const m = p[3 * k + 2] === 1;
      const merge = behavior === 'contiguous' ? m === prev : m && !prev;
      if (merge && acc.length) acc[acc.length - 1] = p[3 * k + 1]!;
      else acc.push(p[3 * k]!, p[3 * k + 1]!);
      prev = m;
    }
  } else {
    const rev: number[] = [];
    let prev = false;
    for (let k = n - 1; k >= 0; k--) {
      const m = p[3 * k + 2] === 1;
      if (m && !prev && rev.length) rev[rev.length - 2] = p[3 * k]!;
      else rev.push(p[3 * k]!, p[3 * k + 1]!);
      prev = m;
    }
    for (let k = rev.length - 2; k >= 0; k -= 2) acc.push(rev[k]!, rev[k + 1]!);
  }
  const out: number[] = [];
  for (let k = 0; k < acc.length; k += 2) if (acc[k]! < acc[k + 1]!) out.push(acc[k]!, acc[k + 1]!);
  return out;
}

function splitInto(ns: NStr, re: RegExp | string, behavior: SplitBehavior, out: NStr[], invert = false): void {
  const r = splitRanges(ns.s, re, behavior, invert);
  if (r.length === 2 && r[0] === 0 && r[1] === ns.length) {
    out.push(ns);
    return;
  }
  for (let k = 0; k < r.length; k += 2) out.push(ns.slice(r[k]!, r[k + 1]!));
}

/** Each character becomes its UTF-8 bytes as BYTE_CHARS, all with the character's span. */
export function byteMap(ns: NStr): NStr {
  const s = ns.s;
  let out = '';
  const st: number[] = [];
  const en: number[] = [];
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    const len = cp > 0xffff ? 2 : 1;
    const a = ns.st[i]!;
    const b = ns.en[i]!;
    const push = (byte: number): void => {
      out += BYTE_CHARS[byte]!;
      st.push(a);
      en.push(b);
    };
    if (cp < 0x80) push(cp);
    else if (cp < 0x800) {
      push(0xc0 | (cp >> 6));
      push(0x80 | (cp & 63));
    } else if (cp < 0x10000) {
      push(0xe0 | (cp >> 12));
      push(0x80 | ((cp >> 6) & 63));
      push(0x80 | (cp & 63));
    } else {
      push(0xf0 | (cp >> 18));
      push(0x80 | ((cp >> 12) & 63));
      push(0x80 | ((cp >> 6) & 63));
      push(0x80 | (cp & 63));
    }
    i += len;
  }
  return new NStr(out, st, en);
}

export function byteLevel(addPrefixSpace: boolean, useRegex: boolean): PreTokenizer {
  return (ns, out) => {
    if (addPrefixSpace && !ns.s.startsWith(' ')) ns = ns.prepend(' ');
    const parts: NStr[] = [];
    if (useRegex) splitInto(ns, GPT2_SPLIT, 'isolated', parts);
    else if (ns.length) parts.push(ns);
    for (const p of parts) out.push(byteMap(p));
  };
}

export function metaspace(replacement: string, prependScheme: 'always' | 'first' | 'never', split: boolean): PreTokenizer {
  return (ns, out) => {
    ns = ns.replace(' ', replacement);
    if (prependScheme !== 'never' && !ns.s.startsWith(replacement)) {
      if (prependScheme === 'always' || (ns.length > 0 && ns.st[0] === 0)) ns = ns.prepend(replacement);
    }
    if (split) splitInto(ns, replacement, 'merged_with_next', out);
    else if (ns.length) out.push(ns);
  };
}

export function splitPre(pattern: RegExp | string, behavior: SplitBehavior, invert: boolean): PreTokenizer {
  return (ns, out) => splitInto(ns, pattern, behavior, out, invert);
}

export function whitespaceSplit(): PreTokenizer {
  return (ns, out) => splitInto(ns, /\p{White_Space}+/gu, 'removed', out);
}

/** `\w+|[^\w\s]+` with Rust's Unicode \w and \s; the whitespace between is dropped. */
export function whitespace(): PreTokenizer {
  return (ns, out) =>
    splitInto(ns, /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+/gu, 'removed', out, true);
}

/** Whitespace removed, each punctuation character a word of its own (BERT's basic split). */
export function bertPre(): PreTokenizer {
  return (ns, out) => {
    const s = ns.s;
    let ws = -1;
    for (let i = 0; i < s.length; ) {
      const cp = s.codePointAt(i)!;
      const len = cp > 0xffff ? 2 : 1;
      if (isWhitespace(cp) || isPunctuation(cp)) {
        if (ws >= 0) out.push(ns.slice(ws, i));
        ws = -1;
        if (!isWhitespace(cp)) out.push(ns.slice(i, i + len));
      } else if (ws < 0) ws = i;
      i += len;
    }
    if (ws >= 0) out.push(ns.slice(ws, s.length));
  };
}

export function sequencePre(list: PreTokenizer[]): PreTokenizer {
  return (ns, out) => {
    let cur = [ns];
    for (const p of list) {
      const next: NStr[] = [];
      for (const c of cur) p(c, next);
      cur = next;
    }
    for (const c of cur) out.push(c);
  };
}
