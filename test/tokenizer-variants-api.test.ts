/**
 * The byte-level BPE and Unigram tokenizers through the same API as WordPiece (batches, padding,
 * truncation options, decode, vocabulary helpers), and bad input: components that are not
 * implemented are named in an UnsupportedModelError; malformed merges, charsmaps and
 * SentencePiece models are InvalidFileErrors.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidFileError, UnsupportedModelError } from '../src-ts/errors.js';
import { loadTokenizer, tokenizerFromJSON } from '../src-ts/tokenizer/index.js';
import { fixture } from './helpers/fixtures.js';

type Json = Record<string, unknown>;
const read = (folder: string): Json => JSON.parse(readFileSync(fixture('variants', folder, 'tokenizer.json'), 'utf8')) as Json;
const withJson = (folder: string, patch: (j: Json) => Json): string => JSON.stringify(patch(read(folder)));

test('RoBERTa: batch with padding, pairs, truncation options and decode through the Tokenizer API', async (t) => {
  const tok = await loadTokenizer(fixture('variants', 'roberta-model'));
  t.is(tok.modelMaxLength, 64);
  t.is(tok.padTokenId, 1);
  t.is(tok.tokenToId('<mask>'), 4);
  t.is(tok.idToToken(0), '<s>');
  t.is(tok.numSpecialTokensToAdd(true), 4);
  const texts = ['Hello world', 'The old man will explain the results without asking.', ''];
  const batch = tok.encodeBatch(texts, { padding: true });
  const longest = Math.max(...texts.map((x) => tok.encode(x).length));
  for (let i = 0; i < texts.length; i++) {
    const one = tok.encode(texts[i]!);
    t.is(batch.inputIds[i]!.length, longest);
    t.deepEqual(Array.from(batch.inputIds[i]!.subarray(0, one.length)), Array.from(one.ids));
    t.true(Array.from(batch.inputIds[i]!.subarray(one.length)).every((x) => x === 1));
    t.deepEqual(Array.from(batch.attentionMask[i]!), [...Array(one.length).fill(1), ...Array(longest - one.length).fill(0)]);
  }
  const left = tok.encodeBatch(texts, { padding: 'max_length', truncation: true, maxLength: 24, paddingSide: 'left' });
  t.true(left.inputIds.every((r) => r.length === 24 && r[23] === 2));
  t.is(left.inputIds[2]![0], 1);
  // `<mask>` swallows the space before it (lstrip) and its offsets exclude it (trim_offsets).
  const m = tok.encode('a <mask> b');
  t.deepEqual(m.tokens, ['<s>', 'a', ' <mask>', 'Ġb', '</s>']);
  t.deepEqual(m.offsets[2], [2, 8]);
  const pair = tok.encode('question here', 'a much longer context that will need to be cut into windows', { maxLength: 30, truncation: 'only_second', stride: 2 });
  t.is(pair.length, 30);
  t.true(pair.overflowing.length > 0);
  t.true(pair.overflowing.every((w) => w.length <= 30 && w.typeIds.every((x) => x === 0)));
  const rows = tok.encodeBatch([['question here', 'a much longer context that will need to be cut into windows']], { maxLength: 30, truncation: 'only_second', stride: 2, returnOverflowing: true });
  t.is(rows.length, 1 + pair.overflowing.length);
  t.is(tok.decode(tok.encode('Héllo, wörld! 😀').ids, { skipSpecialTokens: true }), 'Héllo, wörld! 😀');
  t.deepEqual(tok.decodeBatch([m.ids], { skipSpecialTokens: true }), ['a b']);
  t.deepEqual(tok.tokenize('Hello'), tok.encode('Hello', { addSpecialTokens: false }).tokens);
});

test('XLM-R and ALBERT: Unigram through the same API (unknown pieces keep their text, type ids, padding)', async (t) => {
  const x = await loadTokenizer(fixture('variants', 'xlmr-model'));
  const e = x.encode('a {b}');
  t.true(e.tokens.includes('{'));
  t.is(e.ids[e.tokens.indexOf('{')], 3);
  t.is(x.idToToken(3), '<unk>');
  const a = await loadTokenizer(fixture('variants', 'albert-model'));
  const p = a.encode('first part', 'second part');
  t.deepEqual(Array.from(p.typeIds), p.sequenceIds.map((s, i) => (s === 1 || (s === null && i === p.length - 1) ? 1 : 0)));
  const b = a.encodeBatch(['one', 'two words here'], { padding: true });
  t.is(b.inputIds[0]!.length, b.inputIds[1]!.length);
  t.is(b.inputIds[0]![b.inputIds[0]!.length - 1], 0);
  t.is(a.decode(a.encode('Hello  there').ids, { skipSpecialTokens: true }), 'hello there');
});

test('components that are not implemented are named', (t) => {
  const cases: [string, (j: Json) => Json, RegExp][] = [
    ['xlmr-model', (j) => ({ ...j, normalizer: { type: 'Nmt' } }), /normalizer "Nmt"/],
    ['xlmr-model', (j) => ({ ...j, normalizer: { type: 'BertNormalizer' } }), /normalizer "BertNormalizer"/],
    ['xlmr-model', (j) => ({ ...j, pre_tokenizer: { type: 'Digits' } }), /pre_tokenizer "Digits"/],
    ['xlmr-model', (j) => ({ ...j, decoder: { type: 'CTC' } }), /decoder "CTC"/],
    ['xlmr-model', (j) => ({ ...j, post_processor: { type: 'Fancy' } }), /post_processor "Fancy"/],
    ['xlmr-model', (j) => ({ ...j, model: { type: 'WordLevel', vocab: {} } }), /model "WordLevel"/],
    ['roberta-model', (j) => ({ ...j, model: { ...(j['model'] as Json), dropout: 0.1 } }), /dropout/],
    ['roberta-model', (j) => ({ ...j, normalizer: { type: 'Replace', pattern: { Regex: '(?<x' }, content: '' } }), /regex/],
  ];
  for (const [folder, patch, message] of cases) {
    t.throws(() => tokenizerFromJSON(withJson(folder, patch)), { instanceOf: UnsupportedModelError, message }, String(message));
  }
});

test('malformed merges, vocabularies and charsmaps are InvalidFileErrors', (t) => {
  const bpe = (m: (model: Json) => Json): string => withJson('roberta-model', (j) => ({ ...j, model: m(j['model'] as Json) }));
  const merges = (model: Json): unknown[] => [...(model['merges'] as unknown[])];
  const cases: [string, RegExp][] = [
    [bpe((m) => ({ ...m, merges: [...merges(m), ['nope', 'x']] })), /"nope" is not in the vocabulary/],
    [bpe((m) => ({ ...m, merges: [...merges(m), 'a b c'] })), /not two tokens/],
    [bpe((m) => ({ ...m, merges: [...merges(m), ['<s>', '<pad>']] })), /merge result "<s><pad>" is not in the vocabulary/],
    [bpe((m) => ({ ...m, merges: [...merges(m), 42] })), /merges\[\d+\]/],
    [bpe((m) => ({ ...m, vocab: [] })), /model.vocab/],
    [withJson('xlmr-model', (j) => ({ ...j, model: { ...(j['model'] as Json), unk_id: 9999 } })), /unk_id 9999/],
    [withJson('xlmr-model', (j) => ({ ...j, model: { ...(j['model'] as Json), vocab: [['a', 'high']] } })), /model.vocab\[0\]/],
  ];
  const charsmap = (b64: string): string => withJson('xlmr-model', (j) => ({ ...j, normalizer: { type: 'Precompiled', precompiled_charsmap: b64 } }));
  const real = (read('xlmr-model')['normalizer'] as Json)['precompiled_charsmap'] as string;
  const bytes = Buffer.from(real, 'base64');
  const corrupt = Buffer.from(bytes);
  for (let i = 4; i < 4 + 4096; i += 4) corrupt.writeUInt32LE((0xfffffc00 | (corrupt.readUInt32LE(i) & 0x3ff)) >>> 0, i);
  const badUtf8 = Buffer.from(bytes);
  badUtf8[badUtf8.length - 2] = 0xff;
  cases.push(
    [charsmap('not base64!'), /not base64/],
    [charsmap(''), /4-byte header/],
    [charsmap(Buffer.from([0xff, 0xff, 0, 0, 1, 2, 3, 4]).toString('base64')), /trie of 65535 bytes/],
    [charsmap(corrupt.toString('base64')), /offset out of range|index out of range/],
    [charsmap(badUtf8.toString('base64')), /not valid UTF-8/],
  );
  for (const [json, message] of cases) t.throws(() => tokenizerFromJSON(json), { instanceOf: InvalidFileError, message }, String(message));
});

test('vocab.json + merges.txt and spiece.model folders: bad files and unsupported classes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bertkit-tok-'));
  try {
    const roberta = fixture('variants', 'roberta-model');
    await writeFile(join(dir, 'vocab.json'), readFileSync(join(roberta, 'vocab.json')));
    await writeFile(join(dir, 'merges.txt'), '#version: 0.2\nh e\nthree parts here\n');
    await t.throwsAsync(loadTokenizer(dir), { instanceOf: InvalidFileError, message: /merges.txt: line 3/ });
    await writeFile(join(dir, 'merges.txt'), readFileSync(join(roberta, 'merges.txt')));
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'CodeGenTokenizer' }));
    await t.throwsAsync(loadTokenizer(dir), { instanceOf: UnsupportedModelError, message: /CodeGenTokenizer/ });
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'GPT2Tokenizer' }));
    const gpt2 = await loadTokenizer(dir);
    // GPT-2 adds no special tokens around the text.
    t.deepEqual(gpt2.encode('Hello there').tokens, gpt2.tokenize('Hello there'));
    t.is(gpt2.numSpecialTokensToAdd(false), 0);
    await rm(join(dir, 'vocab.json'));
    await rm(join(dir, 'merges.txt'));
    await rm(join(dir, 'tokenizer_config.json'));
    await writeFile(join(dir, 'spiece.model'), Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x0f]));
    await t.throwsAsync(loadTokenizer(dir), { instanceOf: InvalidFileError, message: /not a valid SentencePiece model/ });
    const sp = readFileSync(fixture('variants', 'albert-model', 'spiece.model'));
    await writeFile(join(dir, 'spiece.model'), sp.subarray(0, sp.length - 7));
    await t.throwsAsync(loadTokenizer(dir), { instanceOf: InvalidFileError, message: /not a valid SentencePiece model/ });
    await writeFile(join(dir, 'spiece.model'), sp);
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'T5Tokenizer' }));
    await t.throwsAsync(loadTokenizer(dir), { instanceOf: UnsupportedModelError, message: /T5Tokenizer/ });
    await rm(join(dir, 'spiece.model'));
    await writeFile(join(dir, 'sentencepiece.bpe.model'), sp);
    await t.throwsAsync(loadTokenizer(dir), { instanceOf: UnsupportedModelError, message: /sentencepiece.bpe.model/ });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the general pipeline and its step-by-step path agree, and batches equal single calls', async (t) => {
  for (const folder of ['roberta-model', 'xlmr-model', 'albert-model']) {
    const fast = await loadTokenizer(fixture('variants', folder));
    const ref = await loadTokenizer(fixture('variants', folder));
    ref._useReferencePipeline(true);
    const texts = ['Hello  world <mask> [MASK]', 'naïve café 東京 😀😀', '  leading and trailing  ', '', 'a\u0085b\tc\r\nd'];
    const batch = fast.encodeBatch(texts);
    texts.forEach((x, i) => {
      const a = fast.encode(x);
      const b = ref.encode(x);
      t.deepEqual([Array.from(a.ids), a.offsets, a.tokens], [Array.from(b.ids), b.offsets, b.tokens], `${folder} ${JSON.stringify(x)}`);
      t.deepEqual(Array.from(batch.inputIds[i]!), Array.from(a.ids));
    });
  }
});
