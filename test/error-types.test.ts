/**
 * The error a user gets is the one the README names: TrainingError for training calls on an
 * inference model, UnsupportedModelError for a head the call needs, a BertError naming the files
 * when a folder has no tokenizer, and int64 / typed-array ids accepted as transformers users pass them.
 */
import test from 'ava';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BertError, InvalidFileError, InvalidInputError, UnsupportedModelError, createBatcher, loadModel } from '../src-ts/index.js';
import { TrainingError, createTrainer } from '../src-ts/training/index.js';
import { fixture } from './helpers/fixtures.js';

test('computeGradients and createTrainer on an inference model are TrainingError saying how to load one', async (t) => {
  await using model = await loadModel(fixture('tiny-bert-seqcls'), { threads: 1 });
  const err = await t.throwsAsync(model.computeGradients({ inputIds: [[101, 102]] }, { labels: [0] }), { instanceOf: TrainingError });
  t.is(err!.code, 'ERR_TRAINING');
  t.regex(err!.message, /training: true/);
  t.throws(() => createTrainer(model, { learningRate: 1e-3 }), { instanceOf: TrainingError, message: /training: true/ });
});

test('batcher.classify on a model without a classification head is UnsupportedModelError, as in the pipelines', async (t) => {
  await using model = await loadModel(fixture('tiny-bert-model'), { threads: 1 });
  const batcher = createBatcher(model);
  await t.throwsAsync(batcher.classify('a'), { instanceOf: UnsupportedModelError, message: /ForSequenceClassification/ });
  await batcher.close();
});

test('a folder without tokenizer files: using model.tokenizer is a BertError naming the files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bertkit-notok-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['config.json', 'model.safetensors']) cpSync(join(fixture('tiny-bert-model'), f), join(dir, f));
  await using model = await loadModel(dir, { threads: 1 });
  t.false(model.hasTokenizer);
  const err = t.throws(() => model.tokenizer.encode('hello'), { instanceOf: InvalidFileError });
  t.true(err instanceof BertError);
  t.regex(err!.message, /tokenizer\.json.*vocab\.txt/);
  t.regex(err!.message, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
});

test('ids as BigInt64Array, Int32Array or number rows give the same output; strings say what is expected', async (t) => {
  await using model = await loadModel(fixture('tiny-bert-model'), { threads: 1 });
  const ids = [101, 196, 497, 102];
  const ref = await model.forward({ inputIds: [ids] });
  const big = await model.forward({ inputIds: [BigInt64Array.from(ids.map(BigInt))] as never, attentionMask: [BigInt64Array.from([1n, 1n, 1n, 1n])] as never });
  const i32 = await model.forward({ inputIds: [Int32Array.from(ids)] });
  t.deepEqual(Array.from(big.lastHiddenState.data), Array.from(ref.lastHiddenState.data));
  t.deepEqual(Array.from(i32.lastHiddenState.data), Array.from(ref.lastHiddenState.data));
  await t.throwsAsync(model.forward({ inputIds: [['101', '102']] as never }), {
    instanceOf: InvalidInputError,
    message: /inputIds\[0\]\[0\] must be an integer id \(rows are arrays of numbers, Int32Array or BigInt64Array\), got the string "101"/,
  });
  await t.throwsAsync(model.forward({ inputIds: [[101, 2.5]] }), { instanceOf: InvalidInputError, message: /got 2\.5/ });
});
