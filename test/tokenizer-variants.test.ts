/**
 * Exact parity with `tokenizers` on the BERT-variant tokenizer goldens: WordPiece (DistilBERT,
 * ELECTRA), byte-level BPE (RoBERTa, and GPT-2's real 50k merges), SentencePiece Unigram (XLM-R
 * with the nmt_nfkc Precompiled charsmap, ALBERT). Every encode row (ids, tokens, type ids,
 * masks, UTF-16 offsets, sequence ids), both decodes, and every truncation/overflow window.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { loadTokenizer, tokenizerFromJSON, type Encoding, type Tokenizer } from '../src-ts/tokenizer/index.js';
import { fixture } from './helpers/fixtures.js';

interface Row {
  id: number;
  text: string;
  text_pair: string | null;
  input_ids: number[];
  tokens: string[];
  token_type_ids?: number[];
  attention_mask: number[];
  special_tokens_mask: number[];
  offsets_utf16: [number, number][];
  sequence_ids: (number | null)[];
  decode_skip_special_true?: string;
  decode_skip_special_false?: string;
}

interface TruncRow {
  id: number;
  text: string;
  text_pair: string | null;
  max_length: number;
  stride: number;
  strategy: 'longest_first';
  windows: Row[];
}

const FOLDERS: Record<string, string | null> = {
  'wp-uncased': 'distilbert-model',
  'wp-cased': 'electra-model',
  bbpe: 'roberta-model',
  'xlmr-spm': 'xlmr-model',
  'albert-spm': 'albert-model',
  'gpt2-roberta': null,
};

function readJsonl<T>(name: string): T[] {
  const text = gunzipSync(readFileSync(fixture('variants', 'tokenizer', name))).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

async function load(key: string): Promise<Tokenizer> {
  const folder = FOLDERS[key];
  if (folder) return loadTokenizer(fixture('variants', folder));
  const json = gunzipSync(readFileSync(fixture('variants', 'tokenizer', 'gpt2-roberta', 'tokenizer.json.gz'))).toString('utf8');
  return tokenizerFromJSON(json);
}

/**
 * The first field of an encoding that differs from the golden, or null. Goldens of the
 * RoBERTa-style tokenizers omit type ids: they are 0 on main encodings; overflow windows of a
 * pair keep 1 on the second sequence in `tokenizers` (checked by hand), so they are not compared.
 */
function diff(e: Encoding, g: Row, overflow = false): string | null {
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  const checks: [string, unknown, unknown][] = [
    ['input_ids', Array.from(e.ids), g.input_ids],
    ['tokens', e.tokens, g.tokens],
    ['token_type_ids', Array.from(e.typeIds), g.token_type_ids ?? (overflow ? Array.from(e.typeIds) : g.input_ids.map(() => 0))],
    ['attention_mask', Array.from(e.attentionMask), g.attention_mask],
    ['special_tokens_mask', Array.from(e.specialTokensMask), g.special_tokens_mask],
    ['offsets_utf16', e.offsets, g.offsets_utf16],
    ['sequence_ids', e.sequenceIds, g.sequence_ids],
  ];
  for (const [name, ours, theirs] of checks) {
    if (!same(ours, theirs)) return `${name}: ours ${JSON.stringify(ours)} golden ${JSON.stringify(theirs)}`;
  }
  return null;
}

const NO_LIMITS = { truncation: false, padding: false } as const;

for (const key of Object.keys(FOLDERS)) {
  test(`${key}: every encode and decode golden matches tokenizers`, async (t) => {
    const tok = await load(key);
    const rows = readJsonl<Row>(`encode_${key}.jsonl.gz`);
    t.true(rows.length >= 450);
    const bad: string[] = [];
    for (const r of rows) {
      const enc = r.text_pair === null ? tok.encode(r.text, NO_LIMITS) : tok.encode(r.text, r.text_pair, NO_LIMITS);
      const d = diff(enc, r);
      if (d) bad.push(`row ${r.id} ${JSON.stringify(r.text)}: ${d}`);
      for (const skip of [true, false]) {
        const want = skip ? r.decode_skip_special_true : r.decode_skip_special_false;
        const got = tok.decode(r.input_ids, { skipSpecialTokens: skip, cleanUpTokenizationSpaces: false });
        if (got !== want) bad.push(`row ${r.id} decode(skip=${skip}): ours ${JSON.stringify(got)} golden ${JSON.stringify(want)}`);
      }
    }
    t.deepEqual(bad.slice(0, 5), [], `${bad.length} mismatches`);
  });

  test(`${key}: every truncation / overflow golden matches tokenizers 0.22`, async (t) => {
    const tok = await load(key);
    const rows = readJsonl<TruncRow>(`truncation_${key}.jsonl.gz`);
    t.is(rows.length, 100);
    const bad: string[] = [];
    for (const r of rows) {
      const o = { maxLength: r.max_length, stride: r.stride, truncation: r.strategy, padding: false } as const;
      const enc = r.text_pair === null ? tok.encode(r.text, o) : tok.encode(r.text, r.text_pair, o);
      const windows = [enc, ...enc.overflowing];
      if (windows.length !== r.windows.length) {
        bad.push(`row ${r.id}: ${windows.length} windows, golden ${r.windows.length}`);
        continue;
      }
      windows.forEach((w, i) => {
        const d = diff(w, r.windows[i]!, i > 0);
        if (d) bad.push(`row ${r.id} window ${i}: ${d}`);
      });
    }
    t.deepEqual(bad.slice(0, 5), [], `${bad.length} mismatches`);
  });
}

// Folders without tokenizer.json: the converters build the same tokenizer from the classic files.
for (const [key, folder, format] of [
  ['bbpe', 'roberta-model', 'vocab.json'],
  ['albert-spm', 'albert-model', 'spiece.model'],
] as const) {
  test(`${folder} read from ${format} (no tokenizer.json) matches every ${key} encode and decode golden`, async (t) => {
    const tok = await loadTokenizer(fixture('variants', folder), { format });
    const bad: string[] = [];
    for (const r of readJsonl<Row>(`encode_${key}.jsonl.gz`)) {
      const enc = r.text_pair === null ? tok.encode(r.text, NO_LIMITS) : tok.encode(r.text, r.text_pair, NO_LIMITS);
      const d = diff(enc, r);
      if (d) bad.push(`row ${r.id} ${JSON.stringify(r.text)}: ${d}`);
      const got = tok.decode(r.input_ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false });
      if (got !== r.decode_skip_special_true) bad.push(`row ${r.id} decode: ${JSON.stringify(got)}`);
    }
    t.deepEqual(bad.slice(0, 5), [], `${bad.length} mismatches`);
  });
}
