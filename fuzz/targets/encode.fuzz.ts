/**
 * Text into encode / encodeBatch / decode, any UTF-16 (lone surrogates included), with options
 * from the first bytes. Beyond typed errors: offsets inside the text and in order, and decode
 * stable (decoding the encoding of a decoded text gives that text back).
 */
import { readFileSync } from 'node:fs';
import { tokenizerFromJSON, tokenizerFromVocab, type Tokenizer } from '../../src-ts/tokenizer/index.js';
import { assert, typed, utf16 } from '../check.js';
import { fixture, utf16Seed } from '../seeds.js';

export const dict = 'text.dict';
export const maxLen = 1 << 20;

const tokenizers: Tokenizer[] = [
  tokenizerFromJSON(readFileSync(fixture('tiny-bert-model', 'tokenizer.json'), 'utf8')),
  tokenizerFromVocab(readFileSync(fixture('tiny-bert-model', 'vocab.txt'), 'utf8'), { doLowerCase: false }),
];

export function seeds(): Buffer[] {
  return [
    'Hello, world!',
    'The quick brown fox [MASK] over the lazy dog.',
    'Ünïcödé café naïve 東京都 🤗 emoji \u200b zero-width',
    '\ud800 lone \udc00 surrogates \ud83d',
    'a\u0301 combining, Ａ fullwidth, ﬁ ligature, \u00a0nbsp\ttab\r\nnewline',
    "don't stop-believing... (1,234.56%)",
  ].map((s) => Buffer.concat([Buffer.from([0, 0]), utf16Seed(s)]));
}

export function fuzz(data: Buffer): void {
  if (data.length < 2) return;
  const flags = data[0]!;
  const tok = tokenizers[flags & 1]!;
  const text = utf16(data.subarray(2));
  const maxLength = data[1]! % 64;
  const pair = flags & 2 ? text.slice(text.length >> 1) : undefined;
  const first = flags & 2 ? text.slice(0, text.length >> 1) : text;
  const options = {
    addSpecialTokens: (flags & 4) === 0,
    ...(flags & 8 ? { truncation: true as const, maxLength: maxLength + 1, stride: (flags >> 6) % Math.max(1, maxLength - 3) } : {}),
    ...(flags & 16 ? { padding: 'longest' as const } : {}),
  };
  const enc = typed(() => tok.encode(first, pair, options));
  if (!enc) return;
  const seq = enc.sequenceIds;
  const offsets = enc.offsets;
  let last = [-1, -1];
  for (let i = 0; i < offsets.length; i++) {
    const s = seq[i];
    if (s === null || s === undefined) continue;
    const src = s === 0 ? first : pair!;
    const [a, b] = offsets[i]!;
    assert(Number.isInteger(a) && Number.isInteger(b) && 0 <= a && a <= b && b <= src.length, `offsets [${a}, ${b}] outside a text of ${src.length}`);
    if (s === last[0]) assert(a >= last[1]!, `offsets go back: ${a} after ${last[1]}`);
    last = [s, a];
  }
  const ids = enc.ids;
  for (const id of ids) assert(id >= 0 && id < tok.vocabSize, `id ${id} outside the vocabulary`);
  const decoded = typed(() => tok.decode(ids, { skipSpecialTokens: true }));
  if (decoded !== undefined && text.length < 4096) {
    const again = typed(() => tok.decode(tok.encode(decoded, { addSpecialTokens: false }).ids, { skipSpecialTokens: true }));
    assert(again === decoded, `decode is not stable: ${JSON.stringify(decoded)} -> ${JSON.stringify(again)}`);
  }
  if (flags & 32) {
    const batch = typed(() => tok.encodeBatch([first, pair ? [first, pair] : first, ''], options));
    if (batch) assert(batch.length === 3, `encodeBatch returned ${batch.length} rows for 3 inputs`);
  }
}
