#!/usr/bin/env node
/**
 * Regenerates `unicode-data.ts` from the behaviour of Hugging Face's Rust `tokenizers` (the npm
 * binding, a devDependency): every code point is pushed through the BertNormalizer stages and the
 * BertPreTokenizer one at a time, and the sets where Rust's answer cannot be read off Node's own
 * Unicode data are written out as ranges.
 *
 *   node src-ts/tokenizer/unicode-data.gen.mjs > src-ts/tokenizer/unicode-data.ts
 *
 * Why tables at all: `tokenizers` classifies characters with the `unicode_categories` crate and
 * decomposes with `unicode-normalization-alignments`, both frozen at an old Unicode version
 * (about 9.0–12.0), while Node's ICU follows the latest one (Unicode 17 in Node 20.20). Characters
 * assigned or re-categorised since then (e.g. U+2E43.. new punctuation, U+1DF6.. new combining marks,
 * U+166D which moved from Po to So, U+111C9 from Po to Mn, the Kirat Rai / Gurung Khema / Tulu-Tigalari
 * letters with new canonical decompositions) would otherwise tokenize differently from Hugging Face,
 * and differently again on the next Node. Lowercasing (Rust's std `char::to_lowercase`) and White_Space
 * match Node exactly, so they are not tabulated.
 */
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const t = require('tokenizers');

const clean = t.bertNormalizer({ cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false });
const strip = t.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false });
const lower = t.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true });
const pre = t.bertPreTokenizer();

const other = [];
const punct = [];
const mark = [];
const noDecompose = [];
const lowerDiff = [];
const wsDiff = [];
const isWs = (c) => /\p{White_Space}/u.test(c);
const MAX = 0x10ffff;
// First pass: the sets observed directly.
const stripOut = new Map();
for (let cp = 0; cp <= MAX; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const c = String.fromCodePoint(cp);
  const a = clean.normalizeString(c);
  if (a === '' && cp !== 0 && cp !== 0xfffd) other.push(cp);
  else if (a === ' ' && !isWs(c)) wsDiff.push(cp);
  else if (a !== c && a !== ' ' && a !== '') throw new Error(`unexpected clean_text output for U+${cp.toString(16)}`);
  const s = strip.normalizeString(c);
  if (s === '') mark.push(cp);
  stripOut.set(cp, s);
  if (lower.normalizeString(c) !== c.toLowerCase()) lowerDiff.push(cp);
  const p = pre.preTokenizeString('a' + c + 'b');
  if (p.length === 3 && cp >= 0x80) punct.push(cp);
  if ((p.length === 2) !== isWs(c)) wsDiff.push(cp);
}
// Second pass: NFD as Node does it, filtered with the crate's nonspacing marks, against Rust.
const markSet = new Set(mark);
for (let cp = 0x80; cp <= MAX; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const c = String.fromCodePoint(cp);
  const mine = [...c.normalize('NFD')].filter((x) => !markSet.has(x.codePointAt(0))).join('');
  const rust = stripOut.get(cp);
  if (mine === rust) continue;
  if (rust === c || (rust === '' && markSet.has(cp))) noDecompose.push(cp);
  else throw new Error(`unexplained strip_accents difference at U+${cp.toString(16)}`);
}
// Canonical combining classes as the Rust NFD knows them (Unicode 9.0), as ranks: only their order
// matters (canonical reordering is a stable sort of each run of non-starters by class). Found by
// asking the Rust NFD itself: X is a non-starter if it moves past U+0334 (class 1) or U+0345 (class
// 240) is moved past it; the non-starters are then sorted with "does NFD swap X and Y" as comparator.
const nfdRust = t.nfdNormalizer();
const nonStarters = [];
for (let cp = 0x80; cp <= MAX; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const x = String.fromCodePoint(cp);
  if (nfdRust.normalizeString(x) !== x) continue;
  if (nfdRust.normalizeString('a' + x + '\u0334') === 'a\u0334' + x || nfdRust.normalizeString('a\u0345' + x) === 'a' + x + '\u0345') {
    nonStarters.push(cp);
  }
}
const cccCmp = (a, b) => {
  const A = String.fromCodePoint(a);
  const B = String.fromCodePoint(b);
  if (nfdRust.normalizeString('a' + A + B) === 'a' + B + A) return 1;
  if (nfdRust.normalizeString('a' + B + A) === 'a' + A + B) return -1;
  return 0;
};
const byClass = [...nonStarters].sort(cccCmp);
const rankOf = new Map();
let rank = 0;
for (let i = 0; i < byClass.length; i++) {
  if (i === 0 || cccCmp(byClass[i - 1], byClass[i]) !== 0) rank++;
  rankOf.set(byClass[i], rank);
}
if (rank > 255) throw new Error('too many combining classes');
const cccRanges = [];
for (const cp of nonStarters) {
  const r = rankOf.get(cp);
  const last = cccRanges[cccRanges.length - 1];
  if (last && last[1] === cp - 1 && last[2] === r) last[1] = cp;
  else cccRanges.push([cp, cp, r]);
}

// The StripAccents normaliser's `is_combining_mark` (Mn, Mc, Me of the crate's Unicode), and the
// characters Node decomposes under NFKD / NFKC that Rust leaves whole (every difference is of that kind).
const stripNorm = t.stripAccentsNormalizer();
const nfkdRust = t.nfkdNormalizer();
const nfkcRust = t.nfkcNormalizer();
const combining = [];
const noCompat = [];
for (let cp = 0; cp <= MAX; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const c = String.fromCodePoint(cp);
  if (stripNorm.normalizeString('a' + c) === 'a') combining.push(cp);
  let whole = false;
  for (const [n, form] of [[nfkdRust, 'NFKD'], [nfkcRust, 'NFKC']]) {
    const r = n.normalizeString(c);
    if (r === c.normalize(form)) continue;
    if (r !== c) throw new Error(`unexplained ${form} difference at U+${cp.toString(16)}`);
    whole = true;
  }
  if (whole) noCompat.push(cp);
}

// The classes of the ByteLevel pre-tokenizer's GPT-2 regex, as its Oniguruma (older Unicode) has
// them: \p{L} ("a" + X stays one piece), \p{N} ("1" + X), and \s, checked to be White_Space.
const byteLevel = t.byteLevelPreTokenizer(false, true);
const gptLetters = [];
const gptNumbers = [];
for (let cp = 0; cp <= MAX; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const c = String.fromCodePoint(cp);
  if (byteLevel.preTokenizeString('a' + c).length === 1) gptLetters.push(cp);
  if (byteLevel.preTokenizeString('1' + c).length === 1) gptNumbers.push(cp);
  const space = byteLevel.preTokenizeString(c + c + 'y').length === 3;
  if (cp !== 0x20 && space !== isWs(c)) throw new Error(`GPT-2 split \\s differs from White_Space at U+${cp.toString(16)}`);
}

if (lowerDiff.length) throw new Error(`lowercase differs from Node at ${lowerDiff.map((x) => x.toString(16))}`);
if (wsDiff.length) throw new Error(`whitespace differs from Node at ${wsDiff.map((x) => x.toString(16))}`);

function ranges(list) {
  const out = [];
  for (const x of list) {
    if (out.length && out[out.length - 1][1] === x - 1) out[out.length - 1][1] = x;
    else out.push([x, x]);
  }
  return out;
}
function emit(name, doc, list) {
  const r = ranges(list);
  const items = r.map(([a, b]) => `0x${a.toString(16)}, 0x${b.toString(16)}`);
  const lines = [];
  for (let i = 0; i < items.length; i += 6) lines.push('  ' + items.slice(i, i + 6).join(', ') + ',');
  return `/** ${doc} (${list.length} code points, ${r.length} ranges) */\nexport const ${name}: readonly number[] = [\n${lines.join('\n')}\n];\n`;
}
process.stdout.write(`// Generated by unicode-data.gen.mjs from tokenizers ${require('tokenizers/package.json').version} on Node ${process.versions.node} (Unicode ${process.versions.unicode}). Do not edit.
// Inclusive [start, end] code point ranges, flattened.

${emit('OTHER_RANGES', 'Characters `clean_text` deletes (the crate\'s `is_other`: Cc, Cf, Co, as of its Unicode version), besides U+0000 and U+FFFD; \\t \\n \\r are excluded', other)}
${emit('PUNCT_RANGES', 'Non-ASCII characters BertPreTokenizer isolates as punctuation (the crate\'s `is_punctuation`: Pc Pd Pe Pf Pi Po Ps)', punct)}
${emit('MARK_RANGES', 'Characters `strip_accents` deletes after NFD (the crate\'s `is_mark_nonspacing`: Mn)', mark)}
/** Canonical combining class ranks of the Rust NFD's non-starters (${nonStarters.length} code points): [start, end, rank] triples */
export const CCC_RANKS: readonly number[] = [
${(() => {
  const items = cccRanges.map(([a, b, r]) => `0x${a.toString(16)}, 0x${b.toString(16)}, ${r}`);
  const lines = [];
  for (let i = 0; i < items.length; i += 6) lines.push('  ' + items.slice(i, i + 6).join(', ') + ',');
  return lines.join('\n');
})()}
];

${emit('NO_DECOMPOSE_RANGES', 'Characters Node decomposes under NFD but the Rust normaliser (older Unicode) leaves whole', noDecompose)}
${emit('COMBINING_MARK_RANGES', 'Characters the StripAccents normaliser deletes (the crate\'s `is_combining_mark`: Mn, Mc, Me)', combining)}
${emit('GPT2_LETTER_RANGES', 'The GPT-2 split regex\'s \\p{L} as Rust\'s Oniguruma has it', gptLetters)}
${emit('GPT2_NUMBER_RANGES', 'The GPT-2 split regex\'s \\p{N} as Rust\'s Oniguruma has it', gptNumbers)}
${emit('NO_COMPAT_DECOMPOSE_RANGES', 'Characters Node changes under NFKD or NFKC but the Rust normalisers (older Unicode) leave whole', noCompat)}`);
