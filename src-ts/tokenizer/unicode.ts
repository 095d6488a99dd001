/**
 * Character classes of Hugging Face's BertNormalizer / BertPreTokenizer, as the Rust `tokenizers`
 * crate computes them.
 *
 * Node's ICU is newer than the Unicode tables compiled into `tokenizers` (its `unicode_categories`
 * and `unicode-normalization-alignments` dependencies date from Unicode ~9–12), so the categories
 * that differ between the two are not read from `\p{...}` but from `unicode-data.ts`, generated from
 * the Rust binding itself (see `unicode-data.gen.mjs`, and `test/tokenizer-unicode.test.ts`, which
 * re-checks every code point against the binding). Differences on Node 20.20 / Unicode 17 that the
 * tables absorb:
 *  - punctuation: 141 characters Node calls P* are not punctuation for Rust (assigned after its
 *    tables: U+2E43..U+2E5D, U+1B7D.., ...), and U+166D (now So) and U+111C9 (now Mn) still are;
 *  - nonspacing marks: 488 newer Mn characters (U+1DF6.., U+1AC1.., ...) survive `strip_accents`;
 *  - "other" (deleted by `clean_text`): 20 newer format characters (U+0890, U+0891, U+08E2,
 *    U+110CD, U+13430..U+1343F) are kept;
 *  - NFD: 21 characters with decompositions added in Unicode 13–16 are left whole (NO_DECOMPOSE),
 *    and canonical reordering uses the combining classes the Rust NFD knows (Unicode 9.0, CCC_RANKS):
 *    a newer mark is a starter for it, so it never moves.
 * Whitespace (`char::is_whitespace` = White_Space) and lowercasing (Rust std's `to_lowercase`,
 * context-free, so a final capital sigma becomes σ) agree with Node and use Node's data.
 */
import {
  CCC_RANKS,
  COMBINING_MARK_RANGES,
  MARK_RANGES,
  NO_COMPAT_DECOMPOSE_RANGES,
  NO_DECOMPOSE_RANGES,
  OTHER_RANGES,
  PUNCT_RANGES,
} from './unicode-data.js';

const F_OTHER = 1;
const F_PUNCT = 2;
const F_MARK = 4;
const F_NO_DECOMPOSE = 8;
const F_COMBINING = 16;
const F_NO_COMPAT = 32;

/** Flags for the Basic Multilingual Plane, built once from the range tables. */
const bmp = new Uint8Array(0x10000);
function fill(ranges: readonly number[], flag: number): void {
  for (let i = 0; i < ranges.length; i += 2) {
    const a = ranges[i]!;
    const b = Math.min(ranges[i + 1]!, 0xffff);
    for (let c = a; c <= b; c++) bmp[c]! |= flag;
  }
}
fill(OTHER_RANGES, F_OTHER);
fill(PUNCT_RANGES, F_PUNCT);
fill(MARK_RANGES, F_MARK);
fill(NO_DECOMPOSE_RANGES, F_NO_DECOMPOSE);
fill(COMBINING_MARK_RANGES, F_COMBINING);
fill(NO_COMPAT_DECOMPOSE_RANGES, F_NO_COMPAT);

/** Combining class rank (0 = starter) of BMP code points. */
const bmpCcc = new Uint8Array(0x10000);
for (let i = 0; i < CCC_RANKS.length; i += 3) {
  const b = Math.min(CCC_RANKS[i + 1]!, 0xffff);
  for (let c = CCC_RANKS[i]!; c <= b; c++) bmpCcc[c] = CCC_RANKS[i + 2]!;
}
// ASCII punctuation (Rust `char::is_ascii_punctuation`): !"#$%&'()*+,-./ :;<=>?@ [\]^_` {|}~
for (let c = 0x21; c <= 0x7e; c++) {
  if ((c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b)) bmp[c]! |= F_PUNCT;
}

function inRanges(ranges: readonly number[], cp: number): boolean {
  let lo = 0;
  let hi = (ranges.length >> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < ranges[2 * mid]!) hi = mid - 1;
    else if (cp > ranges[2 * mid + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}

function flags(cp: number): number {
  if (cp < 0x10000) return bmp[cp]!;
  let f = 0;
  if (inRanges(OTHER_RANGES, cp)) f |= F_OTHER;
  if (inRanges(PUNCT_RANGES, cp)) f |= F_PUNCT;
  if (inRanges(MARK_RANGES, cp)) f |= F_MARK;
  if (inRanges(NO_DECOMPOSE_RANGES, cp)) f |= F_NO_DECOMPOSE;
  if (inRanges(COMBINING_MARK_RANGES, cp)) f |= F_COMBINING;
  if (inRanges(NO_COMPAT_DECOMPOSE_RANGES, cp)) f |= F_NO_COMPAT;
  return f;
}

/** Rust `char::is_whitespace` (the White_Space property), which `tokenizers` uses everywhere. */
export function isWhitespace(cp: number): boolean {
  if (cp < 0x80) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d);
  return (
    cp === 0x85 ||
    cp === 0xa0 ||
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/** BertNormalizer `clean_text` deletes these: NUL, U+FFFD and the "other" categories but \t \n \r. */
export function isRemovedByCleanText(cp: number): boolean {
  return cp === 0 || cp === 0xfffd || (flags(cp) & F_OTHER) !== 0;
}

/** BertPreTokenizer's punctuation: ASCII punctuation or the crate's P* categories. */
export function isPunctuation(cp: number): boolean {
  return (flags(cp) & F_PUNCT) !== 0;
}

/** The crate's Mn (nonspacing mark), deleted by `strip_accents` after NFD. */
export function isNonspacingMark(cp: number): boolean {
  return (flags(cp) & F_MARK) !== 0;
}

/** BertNormalizer's "Chinese character" (the CJK Unified Ideographs blocks it lists). */
export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Rank of the canonical combining class the Rust NFD uses (0 for starters). */
export function cccRank(cp: number): number {
  if (cp < 0x10000) return bmpCcc[cp]!;
  let lo = 0;
  let hi = CCC_RANKS.length / 3 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < CCC_RANKS[3 * mid]!) hi = mid - 1;
    else if (cp > CCC_RANKS[3 * mid + 1]!) lo = mid + 1;
    else return CCC_RANKS[3 * mid + 2]!;
  }
  return 0;
}

/** Canonical decomposition of one character as the Rust normaliser does it. */
export function nfd(cp: number): string {
  const s = String.fromCodePoint(cp);
  if (cp < 0xc0 || (flags(cp) & F_NO_DECOMPOSE) !== 0) return s;
  return s.normalize('NFD');
}

/** Rust `char::to_lowercase` (context-free: no final-sigma rule). */
export function lowercase(s: string): string {
  // A single character has no context, so String#toLowerCase cannot apply the final-sigma rule.
  let out = '';
  for (const ch of s) out += ch.toLowerCase();
  return out;
}

/** The StripAccents normaliser's test (`is_combining_mark` of the crate: Mn, Mc, Me). */
export function isCombiningMark(cp: number): boolean {
  return (flags(cp) & F_COMBINING) !== 0;
}

/** NFKD / NFKC of Rust leave this character whole where Node's (newer Unicode) would change it. */
export function keepsUnderCompat(cp: number): boolean {
  return (flags(cp) & F_NO_COMPAT) !== 0;
}
