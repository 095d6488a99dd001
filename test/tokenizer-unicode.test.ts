/**
 * Every Unicode code point, and runs of combining marks, against Hugging Face's Rust `tokenizers`
 * (npm binding). This is what keeps the Unicode tables of src-ts/tokenizer/unicode-data.ts honest:
 * the Rust crate's categories are older than Node's ICU, and a Node upgrade could move more
 * characters (see unicode.ts). Each code point appears alone between spaces (its own word: deleted,
 * whitespace, punctuation, or a word) and inside a word (how it normalises there).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { tokenizerFromJSON } from '../src-ts/tokenizer/index.js';
import { CCC_RANKS } from '../src-ts/tokenizer/unicode-data.js';
import { bertBaseUncasedDir } from './helpers/fixtures.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hf = require('tokenizers') as typeof import('tokenizers');

const base = JSON.parse(readFileSync(join(bertBaseUncasedDir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;

function variant(normalizer: Record<string, unknown>): string {
  return JSON.stringify({ ...base, truncation: null, padding: null, normalizer: { ...(base['normalizer'] as object), ...normalizer } });
}

function cpToUtf16(text: string): Int32Array {
  const map = new Int32Array(text.length + 2);
  let cp = 0;
  for (let i = 0; i < text.length; ) {
    map[cp++] = i;
    i += text.codePointAt(i)! > 0xffff ? 2 : 1;
  }
  map[cp] = text.length;
  return map;
}

async function compare(json: string, texts: string[]): Promise<string[]> {
  const ours = tokenizerFromJSON(json);
  const theirs = hf.Tokenizer.fromString(json);
  const encs = await theirs.encodeBatch(texts, { addSpecialTokens: false });
  const bad: string[] = [];
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i]!;
    const e = ours.encode(text, null, { addSpecialTokens: false });
    const m = cpToUtf16(text);
    const h = encs[i]!;
    const ids = h.getIds();
    const offs = h.getOffsets();
    let same = ids.length === e.length;
    for (let k = 0; same && k < ids.length; k++) {
      const [s, en] = offs[k]!;
      same = ids[k] === e.ids[k] && m[s!] === e._buf.starts[e._start + k] && m[en!] === e._buf.ends[e._start + k];
    }
    if (!same) {
      bad.push(JSON.stringify(text).slice(0, 200));
      if (bad.length > 5) break;
    }
  }
  return bad;
}

const CONFIGS: [string, Record<string, unknown>][] = [
  ['uncased', {}],
  ['cased', { lowercase: false, strip_accents: null }],
  ['strip accents, no lowercase', { lowercase: false, strip_accents: true }],
  ['no clean_text', { clean_text: false }],
];

// Code points (all but surrogates, or every `step`-th), 256 per text, each alone and between letters.
function texts(step: number): string[] {
  const out: string[] = [];
  for (let start = 0; start < 0x110000; start += 256 * step) {
    let s = '';
    for (let cp = start; cp < Math.min(start + 256 * step, 0x110000); cp += step) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      s += `${c} a${c}b `;
    }
    if (s) out.push(s);
  }
  return out;
}

test('every code point tokenizes as in tokenizers (uncased: clean_text, CJK, strip_accents, lowercase)', async (t) => {
  t.deepEqual(await compare(variant({}), texts(1)), []);
});

test('every 5th code point tokenizes as in tokenizers (cased, no normaliser rewriting)', async (t) => {
  t.deepEqual(await compare(variant(CONFIGS[1]![1]), texts(5)), []);
});

test('runs of combining marks (canonical reordering) tokenize as in tokenizers', async (t) => {
  // Every non-starter the Rust NFD knows, plus precomposed letters, in random runs after letters.
  const marks: number[] = [];
  for (let i = 0; i < CCC_RANKS.length; i += 3) for (let c = CCC_RANKS[i]!; c <= CCC_RANKS[i + 1]!; c++) marks.push(c);
  const extra = [0x1dfb, 0x1df6, 0x1ac1, 0x302e, 0x1d165, 0x1d16d, 0x0903, 0x0344, 0x0f73, 0x1ec7, 0xe9, 0x1e09, 0x200b, 0xad];
  let seed = 7;
  const r = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const soup: string[] = [];
  for (let i = 0; i < 3000; i++) {
    let s = '';
    for (let w = 0; w < 4; w++) {
      s += r() < 0.5 ? 'ab' : 'Éx';
      const n = 1 + Math.floor(r() * 5);
      for (let k = 0; k < n; k++) s += String.fromCodePoint(r() < 0.8 ? marks[Math.floor(r() * marks.length)]! : extra[Math.floor(r() * extra.length)]!);
      if (r() < 0.5) s += 'c';
      s += r() < 0.8 ? ' ' : '';
    }
    soup.push(s);
  }
  // Reordering only happens under strip_accents.
  for (const [, normalizer] of [CONFIGS[0]!, CONFIGS[2]!]) t.deepEqual(await compare(variant(normalizer), soup), []);
});
