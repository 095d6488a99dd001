/**
 * The tokenizer's API: loading, stored truncation/padding, per-call options, batch and packed
 * output, decoding, and bad input (typed errors, never a hang or crash).
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidFileError, InvalidInputError, UnsupportedModelError } from '../src-ts/errors.js';
import type { PackedInput } from '../src-ts/inputs.js';
import { loadTokenizer, tokenizerFromJSON, tokenizerFromVocab, type Tokenizer } from '../src-ts/tokenizer/index.js';
import { bertBaseUncasedDir } from './helpers/fixtures.js';

const dir = bertBaseUncasedDir;
const tokenizerJson = readFileSync(join(dir, 'tokenizer.json'), 'utf8');
const vocabTxt = readFileSync(join(dir, 'vocab.txt'), 'utf8');

function plain(): Tokenizer {
  const tok = tokenizerFromJSON(tokenizerJson);
  tok.setTruncation(null);
  tok.setPadding(null);
  return tok;
}

function withTempDir(files: Record<string, string>, fn: (d: string) => Promise<void>): Promise<void> {
  const d = mkdtempSync(join(tmpdir(), 'bertkit-tok-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(d, name), content);
  return fn(d).finally(() => rmSync(d, { recursive: true, force: true }));
}

test('contract: encode, tokens, typeIds, attentionMask, offsets, decode', async (t) => {
  const tok = await loadTokenizer(dir);
  const enc = tok.encode('Hello, world!', 'Is it me?', { padding: false, truncation: false });
  t.deepEqual(enc.tokens, ['[CLS]', 'hello', ',', 'world', '!', '[SEP]', 'is', 'it', 'me', '?', '[SEP]']);
  t.deepEqual(Array.from(enc.ids), [101, 7592, 1010, 2088, 999, 102, 2003, 2009, 2033, 1029, 102]);
  t.deepEqual(Array.from(enc.typeIds), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  t.deepEqual(Array.from(enc.attentionMask), Array(11).fill(1));
  t.deepEqual(enc.offsets[1], [0, 5]);
  t.deepEqual(enc.offsets[0], [0, 0]);
  t.deepEqual(enc.sequenceIds, [null, 0, 0, 0, 0, null, 1, 1, 1, 1, null]);
  t.deepEqual(enc.wordIds, [null, 0, 1, 2, 3, null, 0, 1, 2, 3, null]);
  t.deepEqual(enc.overflowing, []);
  t.is(tok.decode(enc.ids, { skipSpecialTokens: true }), 'hello, world! is it me?');
  t.is(tok.decode(enc.ids), '[CLS] hello, world! [SEP] is it me? [SEP]');
  // Offsets are UTF-16 indexes into the caller's string.
  const text = '😀 Zürich 中文 naïve';
  const e = plain().encode(text);
  t.deepEqual(
    e.offsets.slice(1, -1).map(([s, en]) => text.slice(s, en)),
    ['😀', 'Zürich', '中', '文', 'naïve'],
  );
  t.deepEqual(e.tokens.slice(1, -1), ['[UNK]', 'zurich', '中', '文', 'naive']);
});

test("tokenizer.json's stored truncation and padding do not apply unless asked for (transformers' rule)", async (t) => {
  const tok = await loadTokenizer(dir);
  t.is(tok.getTruncation(), null);
  t.is(tok.getPadding(), null);
  t.is(tok.encode('hello world').length, 4);
  const batch = tok.encodeBatch(['hello world', 'word '.repeat(300)], { padding: 'longest' });
  t.deepEqual(batch.encodings.map((e) => e.length), [302, 302]);
  t.is(tok.encode('word '.repeat(300), { truncation: true, maxLength: 128 }).length, 128);
  t.is(tokenizerFromJSON(tokenizerJson).encode('hello world').length, 4);
  t.is(tokenizerFromJSON(tokenizerJson, { useStoredTruncationAndPadding: true }).encode('hello world').length, 128);
});

test('useStoredTruncationAndPadding: tokenizer.json stored truncation (128) and padding (Fixed 128) apply, as in tokenizers', async (t) => {
  const tok = await loadTokenizer(dir, { useStoredTruncationAndPadding: true });
  t.deepEqual(tok.getTruncation(), { maxLength: 128, strategy: 'longest_first', stride: 0, direction: 'right' });
  t.is(tok.getPadding()?.strategy, 'max_length');
  const short = tok.encode('hello world');
  t.is(short.length, 128);
  t.deepEqual(Array.from(short.ids.slice(0, 5)), [101, 7592, 2088, 102, 0]);
  t.is(short.attentionMask.reduce((a, b) => a + b, 0), 4);
  t.is(short.tokens[127], '[PAD]');
  t.is(short.wordIds[127], null);
  t.is(short.specialTokensMask[127], 1);
  const long = tok.encode('word '.repeat(300));
  t.is(long.length, 128);
  t.is(long.ids[127], 102);
  t.true(long.overflowing.length > 0);
  t.is(long.overflowing[0]!.length, 128); // windows are padded too
  // Per call: no padding, other length.
  t.is(tok.encode('hello world', { padding: false }).length, 4);
  t.is(tok.encode('word '.repeat(300), { maxLength: 16 }).length, 128); // truncated to 16, padded to 128
  t.is(tok.encode('word '.repeat(300), { maxLength: 16, padding: false }).length, 16);
  t.is(tok.encode('word '.repeat(300), { truncation: false, padding: false }).length, 302);
  // And against the Rust binding with its defaults.
  const { createRequire } = await import('node:module');
  const hf = createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');
  const rust = hf.Tokenizer.fromFile(join(dir, 'tokenizer.json'));
  for (const text of ['hello world', 'A somewhat longer sentence, with punctuation; and [MASK] tokens!', '']) {
    const r = await rust.encode(text);
    const o = tok.encode(text);
    t.deepEqual(Array.from(o.ids), r.getIds());
    t.deepEqual(Array.from(o.attentionMask), r.getAttentionMask());
    t.deepEqual(o.tokens, r.getTokens());
  }
});

test('vocab.txt folders read tokenizer_config.json: model_max_length for truncation: true', async (t) => {
  const tok = await loadTokenizer(dir, { format: 'vocab.txt' });
  t.is(tok.modelMaxLength, 512);
  t.is(tok.encode('word '.repeat(600), { truncation: true }).length, 512);
  t.is(tok.encode('word '.repeat(600)).length, 602);
  t.true(tok.cleanUpTokenizationSpaces);
  t.is(tok.decode(tok.encode("don't stop").ids, { skipSpecialTokens: true }), "don't stop");
});

test('batch: padded Int32Array rows, attention masks, token types; packed view without copies', (t) => {
  const tok = plain();
  const texts: [string, string][] = [
    ['a short one', 'and its pair'],
    ['a much longer first sequence that goes on and on', 'short'],
    ['x', 'y'],
  ];
  const b = tok.encodeBatch(texts, { padding: true });
  t.is(b.length, 3);
  const L = Math.max(...texts.map(([a, p]) => tok.encode(a, p).length));
  for (let i = 0; i < 3; i++) {
    t.true(b.inputIds[i] instanceof Int32Array);
    t.is(b.inputIds[i]!.length, L);
    t.is(b.attentionMask[i]!.length, L);
    t.is(b.tokenTypeIds[i]!.length, L);
    const single = tok.encode(texts[i]![0], texts[i]![1]);
    t.deepEqual(Array.from(b.inputIds[i]!.subarray(0, single.length)), Array.from(single.ids));
    t.deepEqual(Array.from(b.attentionMask[i]!), [...Array(single.length).fill(1), ...Array(L - single.length).fill(0)]);
  }
  // Packed: the unpadded tokens back to back.
  const packed: PackedInput = b.toPacked();
  const lens = texts.map(([a, p]) => tok.encode(a, p).length);
  t.deepEqual(Array.from(packed.cuSeqlens), [0, lens[0]!, lens[0]! + lens[1]!, lens[0]! + lens[1]! + lens[2]!]);
  t.deepEqual(Array.from(packed.inputIds), texts.flatMap(([a, p]) => Array.from(tok.encode(a, p).ids)));
  t.deepEqual(Array.from(packed.tokenTypeIds!), texts.flatMap(([a, p]) => Array.from(tok.encode(a, p).typeIds)));
  // Without padding, rows and the packed ids share one buffer.
  const u = tok.encodeBatch(['one', 'two three', 'four five six']);
  const pu = u.toPacked();
  t.is(pu.inputIds.buffer, u.inputIds[0]!.buffer);
  t.is(pu.inputIds.length, 3 + 4 + 5);
  t.deepEqual(Array.from(pu.cuSeqlens), [0, 3, 7, 12]);
  // Left padding and multiples.
  const l = tok.encodeBatch(['one', 'two three four'], { padding: 'longest', paddingSide: 'left', padToMultipleOf: 8 });
  t.deepEqual(Array.from(l.inputIds[0]!), [0, 0, 0, 0, 0, 101, 2028, 102]);
  t.deepEqual(Array.from(l.attentionMask[0]!), [0, 0, 0, 0, 0, 1, 1, 1]);
  t.deepEqual(l.encodings[0]!.offsets[5], [0, 0]);
  t.deepEqual(Array.from(l.toPacked().inputIds), [101, 2028, 102, 101, 2048, 2093, 2176, 102]);
  // padding: 'max_length'
  const m = tok.encodeBatch(['one'], { padding: 'max_length', maxLength: 6 });
  t.deepEqual(Array.from(m.inputIds[0]!), [101, 2028, 102, 0, 0, 0]);
});

test('question answering windows: pairs with only_second truncation and a stride, flattened with a sample mapping', (t) => {
  const tok = plain();
  const question = 'Where is the museum?';
  const context = 'The city has a river, a mountain and a museum. '.repeat(6);
  const b = tok.encodeBatch([[question, context], ['Who?', 'Nobody knows.']], {
    truncation: 'only_second',
    maxLength: 24,
    stride: 6,
    returnOverflowing: true,
    padding: 'max_length',
  });
  const first = tok.encode(question, context, { truncation: 'only_second', maxLength: 24, stride: 6 });
  t.is(b.length, 1 + first.overflowing.length + 1);
  t.deepEqual(Array.from(b.overflowToSampleMapping), [...Array(1 + first.overflowing.length).fill(0), 1]);
  for (const row of b.inputIds) t.is(row.length, 24);
  // Each window: [CLS] question [SEP] part of the context [SEP]; consecutive windows overlap by 6.
  const q = tok.encode(question, { addSpecialTokens: false }).length;
  const windows = [first, ...first.overflowing];
  for (const w of windows) {
    t.deepEqual(w.tokens.slice(0, q + 2), ['[CLS]', 'where', 'is', 'the', 'museum', '?', '[SEP]']);
    t.is(w.tokens[w.length - 1], '[SEP]');
  }
  for (let i = 1; i < windows.length; i++) {
    const prev = windows[i - 1]!.ids.slice(q + 2, -1);
    const cur = windows[i]!.ids.slice(q + 2, -1);
    t.deepEqual(Array.from(cur.slice(0, 6)), Array.from(prev.slice(prev.length - 6)));
  }
  // Offsets of context tokens index into the context.
  const w = windows[1]!;
  const k = w.sequenceIds.indexOf(1);
  t.is(context.slice(...w.offsets[k]!).toLowerCase(), w.tokens[k]);
  // Packed rows drop the padding.
  const p = b.toPacked();
  t.is(p.cuSeqlens.length, b.length + 1);
  t.is(p.inputIds.length, b.attentionMask.reduce((a, m) => a + m.reduce((x, y) => x + y, 0), 0));
});

test('truncation errors and option errors are InvalidInputError', (t) => {
  const tok = plain();
  const long = 'word '.repeat(50);
  t.throws(() => tok.encode(long, 'a b', { truncation: 'only_second', maxLength: 10 }), {
    instanceOf: InvalidInputError,
    message: 'Truncation error: Sequence to truncate too short to respect the provided max_length',
  });
  t.throws(() => tok.encode(long, { truncation: 'only_second', maxLength: 10 }), {
    instanceOf: InvalidInputError,
    message: 'Truncation error: Second sequence not provided',
  });
  t.throws(() => tok.encode(long, { maxLength: 10, stride: 9 }), { instanceOf: InvalidInputError, message: /stride set to 9/ });
  t.throws(() => tok.encode(long, 'b', { maxLength: 2 }), { instanceOf: InvalidInputError });
  t.throws(() => tok.encode('x', { maxLength: -1 }), { instanceOf: InvalidInputError });
  t.throws(() => tok.encode('x', { maxLength: 1.5 }), { instanceOf: InvalidInputError });
  t.throws(() => tok.encode('x', { truncation: 'sideways' as never }), { instanceOf: InvalidInputError });
  t.throws(() => tok.encode('x', { padding: 'some' as never }), { instanceOf: InvalidInputError });
  t.throws(() => tok.encode('x', { paddingSide: 'up' as never, padding: true }), { instanceOf: InvalidInputError });
  t.throws(() => tok.encode('x', { addSpecialTokens: 'yes' as never }), { instanceOf: InvalidInputError });
  t.throws(() => tok.encode('x', 'y', { returnOverflowing: true }), { instanceOf: InvalidInputError });
  t.throws(() => tok.encode('x', { truncation: true, maxLength: 12, padding: true, padToMultipleOf: 5 }), { instanceOf: InvalidInputError });
  // Longest-first on a pair: the longer sequence loses tokens first.
  const e = tok.encode('one two three four five six seven eight', 'nine ten', { maxLength: 9 });
  t.deepEqual(e.tokens, ['[CLS]', 'one', 'two', 'three', 'four', '[SEP]', 'nine', 'ten', '[SEP]']);
  // Left truncation keeps the end.
  t.deepEqual(tok.encode('one two three four five', { maxLength: 4, truncationSide: 'left' }).tokens, ['[CLS]', 'four', 'five', '[SEP]']);
});

test('bad input: non-strings, bad ids, bad batch items', (t) => {
  const tok = plain();
  for (const bad of [123, null, undefined, {}, ['a'], Symbol('x'), 5n]) {
    t.throws(() => tok.encode(bad as never), { instanceOf: InvalidInputError });
  }
  t.throws(() => tok.encode('a', 5 as never), { instanceOf: InvalidInputError });
  t.throws(() => tok.encodeBatch('abc' as never), { instanceOf: InvalidInputError });
  t.throws(() => tok.encodeBatch([1] as never), { instanceOf: InvalidInputError });
  t.throws(() => tok.encodeBatch([['a', 2]] as never), { instanceOf: InvalidInputError });
  t.throws(() => tok.encodeBatch([['a', 'b', 'c']] as never), { instanceOf: InvalidInputError });
  t.throws(() => tok.encode('a', null, 'opts' as never), { instanceOf: InvalidInputError });
  t.throws(() => tok.decode('101' as never), { instanceOf: InvalidInputError });
  t.throws(() => tok.decode([101, 1.5]), { instanceOf: InvalidInputError });
  t.throws(() => tok.decode([-1]), { instanceOf: InvalidInputError });
  t.throws(() => tok.decode([NaN]), { instanceOf: InvalidInputError });
  // Ids the vocabulary does not have are dropped, as tokenizers does.
  t.is(tok.decode([7592, 99_999_999, 2088]), 'hello world');
  t.is(tok.decode(new Int32Array([7592, 2088])), 'hello world');
  t.is(tok.decode([]), '');
  // Empty and whitespace-only texts.
  t.deepEqual(tok.encode('').tokens, ['[CLS]', '[SEP]']);
  t.deepEqual(tok.encode(' \t\n\u200b ').tokens, ['[CLS]', '[SEP]']);
  t.deepEqual(tok.encodeBatch([]).inputIds, []);
  t.deepEqual(Array.from(tok.encodeBatch([]).toPacked().cuSeqlens), [0]);
});

test('unpaired surrogates read as U+FFFD (deleted by clean_text), offsets stay in the caller string', (t) => {
  const tok = plain();
  const text = 'ab\ud800cd \udfffx y\ud83d';
  const e = tok.encode(text);
  t.deepEqual(e.tokens, ['[CLS]', 'abc', '##d', 'x', 'y', '[SEP]']);
  t.deepEqual(e.offsets.slice(1, -1), [[0, 4], [4, 5], [7, 8], [9, 10]]);
  t.deepEqual(Array.from(e.ids), Array.from(tok.encode(text.replace(/[\ud800-\udfff]/g, '\ufffd')).ids));
  // Without clean_text, U+FFFD is an unknown word.
  const j = JSON.parse(tokenizerJson) as Record<string, Record<string, unknown>>;
  j['normalizer'] = { ...j['normalizer'], clean_text: false };
  const raw = tokenizerFromJSON(JSON.stringify({ ...j, truncation: null, padding: null }));
  t.deepEqual(raw.encode('a \ud800 b').tokens, ['[CLS]', 'a', '[UNK]', 'b', '[SEP]']);
});

test('a 10 MB string tokenizes (linear time, no crash); a 10 MB word is one [UNK]', (t) => {
  const tok = plain();
  const unit = 'The committee reviewed 42 reports, naïvely! ';
  const big = unit.repeat(Math.ceil(10_000_000 / unit.length));
  const perUnit = tok.encode(unit, { addSpecialTokens: false }).length;
  const e = tok.encode(big);
  t.is(e.length, 2 + perUnit * (big.length / unit.length));
  t.deepEqual(e.offsets[e.length - 2], [big.length - 2, big.length - 1]);
  const word = 'a'.repeat(10_000_000);
  const w = tok.encode(word);
  t.deepEqual(w.tokens, ['[CLS]', '[UNK]', '[SEP]']);
  t.deepEqual(w.offsets[1], [0, 10_000_000]);
  const accented = 'é'.normalize('NFD').repeat(2_000_000);
  t.deepEqual(tok.encode(accented).tokens, ['[CLS]', '[UNK]', '[SEP]']);
  const punct = '!'.repeat(1_000_000);
  t.is(tok.encode(punct).length, 1_000_002);
  // Special-token lookalikes everywhere.
  const brackets = '[MASK'.repeat(200_000);
  t.is(tok.encode(brackets, { addSpecialTokens: false }).length, 400_000);
});

test('vocabularies without [UNK] are InvalidFileError', async (t) => {
  t.throws(() => tokenizerFromVocab('a\nb\n[CLS]\n[SEP]\n'), { instanceOf: InvalidFileError, message: /unknown token "\[UNK\]"/ });
  const j = JSON.parse(tokenizerJson) as { model: { vocab: Record<string, number> } };
  delete j.model.vocab['[UNK]'];
  t.throws(() => tokenizerFromJSON(JSON.stringify(j)), { instanceOf: InvalidFileError });
  await withTempDir({ 'vocab.txt': 'hello\nworld\n' }, async (d) => {
    await t.throwsAsync(loadTokenizer(d), { instanceOf: InvalidFileError });
  });
  // A different unknown token is fine when the vocabulary has it.
  const tok = tokenizerFromVocab('<unk>\nhello\n[CLS]\n[SEP]\n', { unkToken: '<unk>' });
  t.deepEqual(tok.encode('hello there').tokens, ['[CLS]', 'hello', '<unk>', '[SEP]']);
});

test('malformed and unsupported tokenizer.json files', async (t) => {
  const j = (): Record<string, unknown> => JSON.parse(tokenizerJson) as Record<string, unknown>;
  await withTempDir({ 'tokenizer.json': '{"version": "1.0", "model": {' }, async (d) => {
    const err = await t.throwsAsync(loadTokenizer(d), { instanceOf: InvalidFileError });
    t.true(err!.message.includes('tokenizer.json'));
  });
  await withTempDir({}, async (d) => {
    await t.throwsAsync(loadTokenizer(d), { instanceOf: InvalidFileError, message: /no tokenizer files/ });
  });
  await withTempDir({ 'vocab.txt': vocabTxt, 'tokenizer_config.json': '[1, 2' }, async (d) => {
    await t.throwsAsync(loadTokenizer(d), { instanceOf: InvalidFileError, message: /tokenizer_config.json/ });
  });
  await t.throwsAsync(loadTokenizer(42 as never), { instanceOf: InvalidInputError });
  t.throws(() => tokenizerFromJSON('[]'), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON('{}'), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), model: { type: 'BPE', vocab: {}, merges: [] } })), { instanceOf: UnsupportedModelError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), model: { type: 'Unigram', vocab: [] } })), { instanceOf: UnsupportedModelError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), normalizer: { type: 'Sequence', normalizers: [] } })), { instanceOf: UnsupportedModelError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), pre_tokenizer: { type: 'Whitespace' } })), { instanceOf: UnsupportedModelError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), pre_tokenizer: null })), { instanceOf: UnsupportedModelError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), post_processor: { type: 'RobertaProcessing' } })), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), post_processor: { type: 'Unknown' } })), { instanceOf: UnsupportedModelError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), decoder: { type: 'CTC' } })), { instanceOf: UnsupportedModelError, message: /decoder "CTC"/ });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), version: '2.0' })), { instanceOf: UnsupportedModelError });
  const model = (j()['model'] as Record<string, unknown>);
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), model: { ...model, vocab: { a: 'zero', '[UNK]': 1 } } })), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), model: { ...model, vocab: { a: -3, '[UNK]': 1 } } })), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), model: { ...model, vocab: [] } })), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), added_tokens: 'none' })), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), added_tokens: [{ id: 1 }] })), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), truncation: { max_length: 'long' } })), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), padding: { strategy: 'Sometimes' } })), { instanceOf: InvalidFileError });
  t.throws(() => tokenizerFromJSON(JSON.stringify({ ...j(), normalizer: { type: 'BertNormalizer', lowercase: 'yes' } })), { instanceOf: InvalidFileError });
  t.throws(
    () => tokenizerFromJSON(JSON.stringify({ ...j(), post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '[X]', type_id: 0 } }], pair: [], special_tokens: {} } })),
    { instanceOf: InvalidFileError },
  );
  // Older files without a model type are read as WordPiece when they look like one.
  const untyped = { ...model };
  delete untyped['type'];
  t.is(tokenizerFromJSON(JSON.stringify({ ...j(), model: untyped, truncation: null, padding: null })).encode('hello').length, 3);
});

test('never_split keeps whitespace-delimited words whole (slow BertTokenizer semantics)', (t) => {
  const tok = tokenizerFromVocab(vocabTxt, { neverSplit: ['[unused1]', 'Hello'] });
  t.deepEqual(tok.encode('say [unused1] now').tokens, ['[CLS]', 'say', '[unused1]', 'now', '[SEP]']);
  t.deepEqual(tok.encode('say x[unused1] now').tokens, ['[CLS]', 'say', 'x', '[', 'unused', '##1', ']', 'now', '[SEP]']);
  t.deepEqual(tok.encode('a\t[unused1]\u3000b').tokens, ['[CLS]', 'a', '[unused1]', 'b', '[SEP]']);
  t.deepEqual(tok.encode('[unused1].').tokens, ['[CLS]', '[', 'unused', '##1', ']', '.', '[SEP]']);
  // Kept as written: not lowercased, so not in the uncased vocabulary (checked against transformers'
  // BertTokenizerLegacy).
  t.deepEqual(tok.encode('Hello hello').tokens, ['[CLS]', '[UNK]', 'hello', '[SEP]']);
  // Without never_split (the default, and what transformers' fast tokenizer does), it is split.
  t.deepEqual(tokenizerFromVocab(vocabTxt).encode('[unused1]').tokens, ['[CLS]', '[', 'unused', '##1', ']', '[SEP]']);
});

test('vocabulary helpers', (t) => {
  const tok = plain();
  t.is(tok.tokenToId('[MASK]'), 103);
  t.is(tok.tokenToId('hello'), 7592);
  t.is(tok.tokenToId('no-such-token'), undefined);
  t.is(tok.idToToken(7592), 'hello');
  t.is(tok.idToToken(1e9), undefined);
  t.is(tok.vocabSize, 30522);
  t.is(tok.getVocab().get('##ing'), 2075);
  t.is(tok.numSpecialTokensToAdd(false), 2);
  t.is(tok.numSpecialTokensToAdd(true), 3);
  t.is(tok.padTokenId, 0);
  t.deepEqual(tok.tokenize('Tokenization works'), ['token', '##ization', 'works']);
  t.deepEqual(tok.decodeBatch([[7592], [2088]]), ['hello', 'world']);
  t.deepEqual(tok.encode('hi').toJSON()['tokens'], ['[CLS]', 'hi', '[SEP]']);
  t.is(tok.encode('hello world').charToToken(7), 2);
});

test('sparse or huge vocabulary ids do not blow up memory', (t) => {
  const tok = tokenizerFromVocab({ '[UNK]': 0, hello: 2_147_483_000, '[CLS]': 5, '[SEP]': 6 });
  t.deepEqual(Array.from(tok.encode('hello x').ids), [5, 2_147_483_000, 0, 6]);
  t.is(tok.idToToken(2_147_483_000), 'hello');
  t.is(tok.decode([2_147_483_000]), 'hello');
});
