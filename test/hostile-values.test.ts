/**
 * Values in files and data that break error reporting or lookups rather than parsing (found by
 * fuzzing config.json; the same pattern fixed wherever it was): nesting deep enough to overflow
 * JSON.stringify / String() while an error message is built, and keys that name
 * Object.prototype's members. Each must end in the typed error, never a RangeError or garbage.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { ConfigError, InvalidFileError, UnsupportedModelError, parseConfig } from '../src-ts/index.js';
import { tokenizerFromJSON, tokenizerFromVocab } from '../src-ts/tokenizer/index.js';
import { buildLabelMap, textClassificationExamples } from '../src-ts/training/index.js';
import { quote } from '../src-ts/util/quote.js';
import { parseSafetensors } from '../src-ts/weights/index.js';
import { fixture } from './helpers/fixtures.js';

const deep = (n = 20000) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown;

test('quote: JSON, cut short, and never throws', (t) => {
  t.is(quote('a"b'), '"a\\"b"');
  t.is(quote(12), '12');
  t.is(quote(undefined), 'undefined');
  t.is(quote(10n), 'bigint');
  t.is(quote('x'.repeat(500)).length, 101);
  t.regex(quote(deep()), /too deeply nested/);
});

test('config.json: a deeply nested model_type or id2label value is a typed error', (t) => {
  t.throws(() => parseConfig({ model_type: deep() }), { instanceOf: UnsupportedModelError, message: /model_type \[…\]/ });
  t.throws(() => parseConfig({ id2label: { 0: deep() } }), { instanceOf: ConfigError, message: /id2label/ });
  t.throws(() => parseConfig({ hidden_act: deep() }), { instanceOf: UnsupportedModelError });
  t.throws(() => parseConfig({ hidden_size: deep() }), { instanceOf: ConfigError });
});

test('safetensors: a deeply nested shape is an InvalidFileError', (t) => {
  const h = Buffer.from(`{"w":{"dtype":"F32","shape":${'['.repeat(20000)}${']'.repeat(20000)},"data_offsets":[0,4]}}`);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  t.throws(() => parseSafetensors(Buffer.concat([len, h, Buffer.alloc(4)]), 'x.safetensors'), { instanceOf: InvalidFileError, message: /shape/ });
});

test('tokenizer.json: deep values and Object.prototype names are typed errors', (t) => {
  const base = JSON.parse(readFileSync(fixture('tiny-bert-model', 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  for (const strategy of ['constructor', 'toString', '__proto__', deep()]) {
    t.throws(() => tokenizerFromJSON({ ...base, truncation: { max_length: 8, strategy, stride: 0, direction: 'Right' } }), { instanceOf: InvalidFileError, message: /truncation strategy/ });
  }
  t.throws(() => tokenizerFromJSON({ ...base, normalizer: { type: deep() } }), { instanceOf: UnsupportedModelError });
  t.throws(() => tokenizerFromJSON({ ...base, model: { type: deep() } }), { instanceOf: UnsupportedModelError });
  // The stored strategy names still work.
  const tok = tokenizerFromJSON({ ...base, truncation: { max_length: 4, strategy: 'OnlyFirst', stride: 0, direction: 'Right' } }, { useStoredTruncationAndPadding: true });
  t.is(tok.getTruncation()?.strategy, 'only_first');
});

test('training labels: "__proto__" and "constructor" are labels; a nested value is not one', (t) => {
  const map = buildLabelMap(['constructor', '__proto__', 'toString', 'b']);
  t.deepEqual(Object.keys(map.label2id).sort(), ['__proto__', 'b', 'constructor', 'toString']);
  t.deepEqual(Object.values(map.label2id).sort(), [0, 1, 2, 3]);
  const tokenizer = tokenizerFromVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'a']);
  const examples = textClassificationExamples(
    [
      { text: 'a', label: '__proto__' },
      { text: 'a', label: 'constructor' },
    ],
    tokenizer,
  );
  t.deepEqual(
    examples.examples.map((e) => e.label),
    [0, 1],
  );
  const known = buildLabelMap(['x', 'y']);
  t.throws(() => textClassificationExamples([{ text: 'a', label: 'constructor' }], tokenizer, { labels: known }), { message: /unknown label "constructor"/ });
  t.throws(() => textClassificationExamples([{ text: 'a', label: deep() }], tokenizer, { labels: known }), { message: /unknown label/ });
});
