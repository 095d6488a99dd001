/**
 * Zero mismatches against the tokenizer goldens (test/fixtures/tokenizer, from Hugging
 * Face `tokenizers` / `transformers`; see its README): five tokenizer configurations on 3,000 items,
 * truncation of pairs (2,700 rows, errors included), overflow windows with a stride, and decoding.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { InvalidInputError } from '../src-ts/errors.js';
import { loadTokenizer, tokenizerFromVocab, type Encoding, type Tokenizer } from '../src-ts/tokenizer/index.js';
import { fixture } from './helpers/fixtures.js';

type Row = Record<string, unknown> & { id: number; text: string; text_pair: string | null };

function read(name: string): Row[] {
  return gunzipSync(readFileSync(fixture('tokenizer', name)))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);
}

const folder = fixture('tokenizer', 'bert-base-uncased');
const vocabTxt = readFileSync(fixture('tokenizer', 'bert-base-uncased', 'vocab.txt'), 'utf8');

/** transformers' `tok(text, "")` drops an empty pair; raw `tokenizers` (configuration a) keeps it. */
function pairFor(r: Row, transformers: boolean): string | undefined {
  if (r.text_pair === null) return undefined;
  if (transformers && r.text_pair === '') return undefined;
  return r.text_pair;
}

function view(e: Encoding): Record<string, unknown> {
  return {
    input_ids: Array.from(e.ids),
    token_type_ids: Array.from(e.typeIds),
    attention_mask: Array.from(e.attentionMask),
    tokens: e.tokens,
    offsets_utf16: e.offsets,
    sequence_ids: e.sequenceIds,
    word_ids: e.wordIds,
    special_tokens_mask: Array.from(e.specialTokensMask),
  };
}

function expected(r: Row, fields: string[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f, r[f]]));
}

function compareAll(t: import('ava').ExecutionContext, tok: Tokenizer, rows: Row[], transformers: boolean): void {
  const fields = ['input_ids', 'token_type_ids', 'attention_mask', 'tokens', 'offsets_utf16', 'sequence_ids', 'word_ids'];
  if (rows[0] && 'special_tokens_mask' in rows[0]) fields.push('special_tokens_mask');
  let mismatches = 0;
  let first = '';
  for (const r of rows) {
    const got = view(tok.encode(r.text, pairFor(r, transformers)));
    const want = expected(r, fields);
    const gotSubset = Object.fromEntries(fields.map((f) => [f, got[f]]));
    if (JSON.stringify(gotSubset) !== JSON.stringify(want)) {
      mismatches++;
      if (!first) first = `id ${r.id}: ${JSON.stringify(r.text)}\n got  ${JSON.stringify(gotSubset)}\n want ${JSON.stringify(want)}`;
    }
  }
  t.is(mismatches, 0, first);
}

test('(a) tokenizer.json through loadTokenizer, stored truncation/padding switched off', async (t) => {
  const tok = await loadTokenizer(folder);
  tok.setTruncation(null);
  tok.setPadding(null);
  const rows = read('encode_a_tokenizer_json.jsonl.gz');
  t.is(rows.length, 3000);
  compareAll(t, tok, rows, false);
});

test('(b) vocab.txt, do_lower_case', async (t) => {
  compareAll(t, tokenizerFromVocab(vocabTxt, { doLowerCase: true }), read('encode_b_vocab_lower.jsonl.gz'), true);
  // The same through a folder, reading vocab.txt and the configuration files.
  const fromFolder = await loadTokenizer(folder, { format: 'vocab.txt' });
  compareAll(t, fromFolder, read('encode_b_vocab_lower.jsonl.gz').slice(0, 500), true);
});

test('(c) vocab.txt, cased (no lowercasing, no accent stripping)', (t) => {
  compareAll(t, tokenizerFromVocab(vocabTxt, { doLowerCase: false }), read('encode_c_vocab_cased.jsonl.gz'), true);
});

test('(d) vocab.txt, lowercase keeping accents', (t) => {
  compareAll(t, tokenizerFromVocab(vocabTxt, { doLowerCase: true, stripAccents: false }), read('encode_d_vocab_lower_keep_accents.jsonl.gz'), true);
});

test('(e) vocab.txt, no CJK splitting', (t) => {
  compareAll(t, tokenizerFromVocab(vocabTxt, { doLowerCase: true, tokenizeChineseChars: false }), read('encode_e_vocab_lower_no_chinese_split.jsonl.gz'), true);
});

test('the step-by-step reference pipeline matches the goldens too (b)', (t) => {
  const tok = tokenizerFromVocab(vocabTxt, { doLowerCase: true });
  tok._useReferencePipeline(true);
  compareAll(t, tok, read('encode_b_vocab_lower.jsonl.gz'), true);
});

test('truncation of pairs: longest_first, only_first, only_second at 8/16/32, errors where Hugging Face errors', (t) => {
  const tok = tokenizerFromVocab(vocabTxt, { doLowerCase: true });
  const rows = read('truncation_b.jsonl.gz');
  t.is(rows.length, 2700);
  let mismatches = 0;
  let errors = 0;
  let first = '';
  for (const r of rows) {
    const pair = pairFor(r, true);
    let got: unknown;
    try {
      const e = tok.encode(r.text, pair, { truncation: r['truncation'] as 'longest_first', maxLength: r['max_length'] as number });
      got = { error: false, input_ids: Array.from(e.ids), token_type_ids: Array.from(e.typeIds), tokens: e.tokens, offsets_utf16: e.offsets, sequence_ids: e.sequenceIds };
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      got = { error: true, error_message: err.message };
    }
    const want = r['error']
      ? { error: true, error_message: r['error_message'] }
      : { error: false, ...expected(r, ['input_ids', 'token_type_ids', 'tokens', 'offsets_utf16', 'sequence_ids']) };
    if (r['error']) errors++;
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      mismatches++;
      if (!first) first = `id ${r.id} ${String(r['truncation'])} ${String(r['max_length'])}\n got  ${JSON.stringify(got)}\n want ${JSON.stringify(want)}`;
    }
  }
  t.is(errors, 873);
  t.is(mismatches, 0, first);
});

test('overflow windows with a stride (max_length 16, stride 4)', (t) => {
  const tok = tokenizerFromVocab(vocabTxt, { doLowerCase: true });
  const rows = read('overflow_b.jsonl.gz');
  t.is(rows.length, 300);
  let mismatches = 0;
  let windows = 0;
  for (const r of rows) {
    const e = tok.encode(r.text, { truncation: true, maxLength: r['max_length'] as number, stride: r['stride'] as number });
    const got = [e, ...e.overflowing].map((w) => ({
      input_ids: Array.from(w.ids),
      token_type_ids: Array.from(w.typeIds),
      attention_mask: Array.from(w.attentionMask),
      tokens: w.tokens,
      offsets_utf16: w.offsets,
    }));
    const want = (r['windows'] as Record<string, unknown>[]).map((w) => expected(w as Row, ['input_ids', 'token_type_ids', 'attention_mask', 'tokens', 'offsets_utf16']));
    windows += want.length;
    if (JSON.stringify(got) !== JSON.stringify(want)) mismatches++;
  }
  t.true(windows > 300);
  t.is(mismatches, 0);
  // The same windows as batch rows, with overflowToSampleMapping.
  const batch = tok.encodeBatch(rows.slice(0, 20).map((r) => r.text), { truncation: true, maxLength: 16, stride: 4, returnOverflowing: true });
  const mapping: number[] = [];
  rows.slice(0, 20).forEach((r, i) => (r['overflow_to_sample_mapping'] as number[]).forEach(() => mapping.push(i)));
  t.deepEqual(Array.from(batch.overflowToSampleMapping), mapping);
  t.deepEqual(
    batch.inputIds.map((x) => Array.from(x)),
    rows.slice(0, 20).flatMap((r) => (r['windows'] as { input_ids: number[] }[]).map((w) => w.input_ids)),
  );
});

test('decode: transformers (both clean-ups, with and without specials) and raw tokenizers', async (t) => {
  const b = tokenizerFromVocab(vocabTxt, { doLowerCase: true });
  const a = await loadTokenizer(folder);
  const rows = read('decode.jsonl.gz');
  let mismatches = 0;
  let first = '';
  for (const r of rows) {
    const ids = r['input_ids'] as number[];
    const got: Record<string, string> = {
      b_skip_special_true_cleanup_true: b.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: true }),
      b_skip_special_false_cleanup_true: b.decode(ids, { skipSpecialTokens: false, cleanUpTokenizationSpaces: true }),
      b_skip_special_true_cleanup_false: b.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }),
      b_skip_special_false_cleanup_false: b.decode(ids, { skipSpecialTokens: false, cleanUpTokenizationSpaces: false }),
      a_tokenizers_skip_special_true: a.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }),
      a_tokenizers_skip_special_false: a.decode(ids, { skipSpecialTokens: false, cleanUpTokenizationSpaces: false }),
    };
    for (const [k, v] of Object.entries(got)) {
      if (v !== r[k]) {
        mismatches++;
        if (!first) first = `id ${r.id} ${k}: ${JSON.stringify(v)} vs ${JSON.stringify(r[k])}`;
      }
    }
  }
  t.is(mismatches, 0, first);
});
