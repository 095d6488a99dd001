/** The tokenizer as transformers users call it: tokenizer(text, pair, options), special tokens as properties. */
import test from 'ava';
import { loadTokenizer, pipeline, BatchEncoding, Encoding } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';

test('tokenizer(...) is encode / encodeBatch', async (t) => {
  const tok = await loadTokenizer(fixture('tiny-bert-seqcls'));
  const one = tok('Hello world', 'a pair', { maxLength: 5 });
  t.true(one instanceof Encoding);
  t.deepEqual(one.ids, tok.encode('Hello world', 'a pair', { maxLength: 5 }).ids);
  t.deepEqual(tok('hello', { addSpecialTokens: false }).tokens, tok.encode('hello', { addSpecialTokens: false }).tokens);
  const batch = tok(['a', ['b', 'c']], { padding: true });
  t.true(batch instanceof BatchEncoding);
  t.deepEqual(batch.inputIds, tok.encodeBatch(['a', ['b', 'c']], { padding: true }).inputIds);
  t.throws(() => tok(['a'] as never, 'b' as never), { message: /\[text, pair\] tuples/ });
  t.true(tok instanceof (await import('../src-ts/tokenizer/index.js')).Tokenizer);
});

test('special tokens and their ids are properties', async (t) => {
  const tok = await loadTokenizer(fixture('tiny-bert-seqcls'));
  t.is(tok.maskToken, '[MASK]');
  t.is(tok.maskTokenId, tok.tokenToId('[MASK]'));
  t.is(tok.clsToken, '[CLS]');
  t.is(tok.sepTokenId, tok.tokenToId('[SEP]'));
  t.is(tok.padToken, '[PAD]');
  t.is(tok.unkTokenId, tok.tokenToId('[UNK]'));
  t.true(tok.allSpecialTokens.includes('[MASK]'));
  t.true(tok.allSpecialIds.includes(tok.clsTokenId!));
});

test('a fill-mask target outside the vocabulary is replaced by its first piece, with one warning', async (t) => {
  await using fill = await pipeline('fill-mask', fixture('tiny-bert-mlm'), { threads: 1 });
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const target = 'zzqqxxunlikelyword';
  await fill('the [MASK] sat', { targets: [target] });
  await fill('the [MASK] sat', { targets: [target] });
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'BERTKIT_FILL_MASK_TARGET');
  t.is(ours.length, 1);
  t.regex(ours[0]!.message, /zzqqxxunlikelyword.*first piece/);
});
