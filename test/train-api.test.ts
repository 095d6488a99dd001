/**
 * The training API end to end: save / reload round trips (bertkit and the checkpoint's names),
 * optimizer state save / restore, gradient accumulation, dropout seeding, a finite-difference
 * check through the public API, and the typed errors for bad input.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { InvalidInputError, loadModel, readCheckpoint } from '../src-ts/index.js';
import { TrainingError, createTrainer, fit, initTrainableModel, type Example, type TrainableBertModel } from '../src-ts/training/index.js';
import { fixture } from './helpers/fixtures.js';
import { maxAbsDiff } from './train-helpers.js';

const SEQCLS = () => fixture('tiny-bert-seqcls');
const batch = {
  inputIds: [
    [101, 7, 8, 9, 102, 0],
    [101, 10, 11, 102, 0, 0],
    [101, 12, 13, 14, 15, 102],
    [101, 20, 102, 0, 0, 0],
  ],
  attentionMask: [
    [1, 1, 1, 1, 1, 0],
    [1, 1, 1, 1, 0, 0],
    [1, 1, 1, 1, 1, 1],
    [1, 1, 1, 0, 0, 0],
  ],
};
const labels = { labels: [0, 2, 1, 2] };

async function trainable(dir = SEQCLS()): Promise<TrainableBertModel> {
  const m = (await loadModel(dir, { training: true, threads: 2, device: 'cpu' })) as TrainableBertModel;
  m.setDropout({ hidden: 0, attention: 0, classifier: 0 });
  return m;
}

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bertkit-train-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('fine-tune, save, reload: same outputs in bertkit (inference and training engines)', async (t) => {
  const model = await trainable();
  const trainer = createTrainer(model, { learningRate: 1e-3, totalSteps: 3, weightDecay: 0.01 });
  for (let i = 0; i < 3; i++) await trainer.step(batch, labels);
  const before = await model.forward(batch);
  const state = await model.stateDict();
  const dir = await tmp(t);
  await model.save(dir);
  await model.dispose();

  const files = await readCheckpoint(dir);
  t.deepEqual([...files.tensors.keys()].sort(), Object.keys(state).sort(), 'model.safetensors holds the names the model was loaded with');
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  t.deepEqual(config.architectures, ['BertForSequenceClassification']);
  t.truthy(await readFile(join(dir, 'vocab.txt'), 'utf8'), 'tokenizer files come along');

  const inference = await loadModel(dir, { threads: 2, device: 'cpu' });
  const after = await inference.forward(batch);
  t.true(maxAbsDiff(after.logits!.data, before.logits!.data) <= 1e-5, 'inference engine on the saved folder');
  t.truthy(inference.tokenizer);
  await inference.dispose();

  const again = await trainable(dir);
  const reloaded = await again.stateDict();
  for (const [name, tensor] of Object.entries(state)) t.deepEqual(reloaded[name]!.data, tensor.data, `${name} bit-identical`);
  const same = await again.forward(batch);
  t.deepEqual(same.logits!.data, before.logits!.data);
  await again.dispose();
});

test('a .bin pre-training checkpoint saves under its own names, without the tied decoder copies', async (t) => {
  const dir = fixture('tiny-bert-pretraining-bin');
  const model = await trainable(dir);
  const out = await t.throwsAsync(model.computeGradients(batch, { labels: batch.inputIds }), { instanceOf: InvalidInputError });
  t.regex(out!.message, /nextSentenceLabel/);
  const saveDir = await tmp(t);
  await model.save(saveDir);
  const original = await readCheckpoint(dir);
  const saved = await readCheckpoint(saveDir);
  const expected = [...original.tensors.keys()].filter((n) => !n.startsWith('cls.predictions.decoder.') && n !== 'bert.embeddings.position_ids');
  t.deepEqual([...saved.tensors.keys()].sort(), expected.sort());
  await model.dispose();
});

test('the training engine forward equals the inference engine', async (t) => {
  const model = await trainable(fixture('tiny-bert-mlm'));
  const ref = await loadModel(fixture('tiny-bert-mlm'), { threads: 2, device: 'cpu' });
  const a = await model.forward(batch, { outputHiddenStates: true, outputAttentions: true });
  const b = await ref.forward(batch, { outputHiddenStates: true, outputAttentions: true });
  t.true(maxAbsDiff(a.logits!.data, b.logits!.data) <= 1e-4);
  t.true(maxAbsDiff(a.attentions![1]!.data, b.attentions![1]!.data) <= 1e-5);
  t.true(maxAbsDiff(a.hiddenStates![2]!.data, b.hiddenStates![2]!.data) <= 1e-4);
  await model.dispose();
  await ref.dispose();
});

test('optimizer state save / restore continues the run bit for bit', async (t) => {
  const opts = { learningRate: 1e-3, totalSteps: 6, warmupSteps: 2, weightDecay: 0.01 } as const;
  const a = await trainable();
  const ta = createTrainer(a, opts);
  for (let i = 0; i < 3; i++) await ta.step(batch, labels);
  const dir = await tmp(t);
  await a.save(dir);
  await ta.saveState(dir);
  const r1 = [];
  for (let i = 0; i < 2; i++) r1.push(await ta.step(batch, labels));
  const finalA = await a.stateDict();
  await a.dispose();

  const b = await trainable(dir);
  const tb = createTrainer(b, opts);
  await tb.loadState(dir);
  t.is(tb.globalStep, 3);
  const r2 = [];
  for (let i = 0; i < 2; i++) r2.push(await tb.step(batch, labels));
  t.deepEqual(r2.map((r) => [r.loss, r.learningRate, r.gradNorm]), r1.map((r) => [r.loss, r.learningRate, r.gradNorm]));
  const finalB = await b.stateDict();
  for (const [name, tensor] of Object.entries(finalA)) t.deepEqual(finalB[name]!.data, tensor.data, name);
  await b.dispose();
});

test('gradient accumulation: two halves give the gradient of the whole batch', async (t) => {
  const model = await trainable();
  const whole = await model.computeGradients(batch, labels);
  const half = (i: number) => ({ inputIds: batch.inputIds.slice(i, i + 2), attentionMask: batch.attentionMask.slice(i, i + 2) });
  await model.computeGradients(half(0), { labels: labels.labels.slice(0, 2) }, { lossScale: 0.5, grads: false });
  const acc = await model.computeGradients(half(2), { labels: labels.labels.slice(2, 4) }, { lossScale: 0.5, accumulate: true });
  for (const [name, g] of Object.entries(whole.grads)) {
    t.true(maxAbsDiff(acc.grads[name]!.data, g.data) <= 1e-6, name);
  }
  await model.dispose();
});

test('dropout: seeded and deterministic in training mode, off in eval mode', async (t) => {
  const model = (await loadModel(SEQCLS(), { training: true, threads: 2, device: 'cpu' })) as TrainableBertModel;
  t.deepEqual(model.dropout, { hidden: 0.1, attention: 0.1, classifier: 0.1 }, "config.json's probabilities");
  const loss = async (seed: number) => {
    model.seed(seed);
    return (await model.computeGradients(batch, labels, { grads: false })).loss;
  };
  const a = await loss(1);
  t.is(await loss(1), a);
  t.not(await loss(2), a);
  model.eval();
  const off = (await model.computeGradients(batch, labels, { grads: false })).loss;
  model.setDropout({ hidden: 0, attention: 0, classifier: 0 });
  model.train();
  t.is((await model.computeGradients(batch, labels, { grads: false })).loss, off);
  await model.dispose();
});

test('finite differences through the public API agree with computeGradients', async (t) => {
  // float32 model: the loss (~1) carries ~1e-7 of rounding, so a step of 3e-3 on entries whose
  // gradient is among the largest (|g| > 1e-2) gives differences good to ~1e-4 relative plus the
  // O(eps^2) truncation; 2% separates that from a wrong gradient by orders of magnitude.
  const model = await trainable();
  const { grads, loss } = await model.computeGradients(batch, labels);
  const state = await model.stateDict();
  let checked = 0;
  for (const name of ['classifier.weight', 'bert.encoder.layer.1.output.dense.weight', 'bert.embeddings.LayerNorm.weight', 'bert.pooler.dense.bias']) {
    const g = grads[name]!.data;
    let idx = 0;
    for (let i = 0; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[idx]!)) idx = i;
    const eps = 3e-3;
    const orig = state[name]!.data[idx]!;
    const at = async (v: number) => {
      const copy = Float32Array.from(state[name]!.data);
      copy[idx] = v;
      await model.loadStateDict({ [name]: copy });
      return (await model.computeGradients(batch, labels, { grads: false, outputLogits: false })).loss;
    };
    const fd = ((await at(orig + eps)) - (await at(orig - eps))) / (2 * eps);
    await model.loadStateDict({ [name]: state[name]!.data });
    t.true(Math.abs(fd - g[idx]!) <= 0.02 * Math.abs(g[idx]!), `${name}[${idx}]: finite difference ${fd}, gradient ${g[idx]}`);
    checked++;
  }
  t.is((await model.computeGradients(batch, labels, { grads: false })).loss, loss, 'parameters restored');
  t.is(checked, 4);
  await model.dispose();
});

test('bad input: typed errors', async (t) => {
  const model = await trainable();
  await t.throwsAsync(model.computeGradients(batch, { labels: [0, 1, 2] }), { instanceOf: InvalidInputError, message: /3 entries, the batch has 4 rows/ });
  await t.throwsAsync(model.computeGradients(batch, { labels: [0, 1, 2, 3] }), { instanceOf: InvalidInputError, message: /outside \[0, 3\)/ });
  await t.throwsAsync(model.computeGradients(batch, { labels: [0, 1.5, 2, 0] }), { instanceOf: InvalidInputError });
  await t.throwsAsync(model.computeGradients(batch, {}), { instanceOf: InvalidInputError, message: /needs \{ labels \}/ });
  await t.throwsAsync(model.computeGradients({ inputIds: [[101, 5000, 102]] }, { labels: [0] }), { instanceOf: InvalidInputError, message: /vocabulary/ });
  t.throws(() => createTrainer(model, { learningRate: -1 }), { instanceOf: InvalidInputError });
  t.throws(() => createTrainer(model, { learningRate: 1e-3, schedule: 'linear' }), { instanceOf: InvalidInputError, message: /totalSteps/ });
  await model.dispose();
  await t.throwsAsync(model.computeGradients(batch, labels), { code: 'ERR_DISPOSED' });

  const inference = await loadModel(SEQCLS(), { threads: 1, device: 'cpu' });
  t.throws(() => createTrainer(inference, { learningRate: 1e-3, schedule: 'constant' }), { instanceOf: TrainingError, message: /training: true/ });
  await inference.dispose();

  // A non-finite loss stops training with an error naming the step.
  const tok = (await loadModel(fixture('tiny-bert-tokcls'), { training: true, threads: 1, device: 'cpu' })) as TrainableBertModel;
  const trainer = createTrainer(tok, { learningRate: 1e-3, schedule: 'constant' });
  await trainer.step(batch, { labels: batch.inputIds.map((r) => r.map((_, j) => (j === 1 ? 1 : -100))) });
  const err = await t.throwsAsync(trainer.step(batch, { labels: batch.inputIds.map((r) => r.map(() => -100)) }), { instanceOf: TrainingError });
  t.is(err!.step, 2);
  t.regex(err!.message, /non-finite loss \(NaN\) at step 2/);
  await tok.dispose();
});

test('multiple choice: [batch][choices][length] inputs, cross-entropy over the choices', async (t) => {
  const { model } = await initTrainableModel({
    architecture: 'BertForMultipleChoice',
    config: { vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16 },
    threads: 1,
    seed: 3,
  });
  model.setDropout({ hidden: 0, attention: 0, classifier: 0 });
  const inputs = {
    inputIds: [
      [[2, 5, 6, 3], [2, 7, 8, 3], [2, 9, 3, 0]],
      [[2, 10, 3, 0], [2, 11, 12, 3], [2, 13, 14, 3]],
    ],
    attentionMask: [
      [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0]],
      [[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]],
    ],
  };
  const out = await model.computeGradients(inputs, { labels: [2, 0] });
  t.deepEqual(out.logits!.dims, [2, 3]);
  const z = out.logits!.data;
  let want = 0;
  [2, 0].forEach((y, b) => {
    const row = [z[b * 3]!, z[b * 3 + 1]!, z[b * 3 + 2]!];
    const m = Math.max(...row);
    want += m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) - row[y]!;
  });
  t.true(Math.abs(out.loss - want / 2) < 1e-5);
  t.deepEqual(out.grads['classifier.weight']!.dims, [1, 16]);
  const fwd = await model.forward(inputs);
  t.true(maxAbsDiff(fwd.logits!.data, z) < 1e-5, 'forward gives the same logits');
  await model.dispose();
});

test('fit: early stopping when the evaluation metric stops improving', async (t) => {
  const { model } = await initTrainableModel({
    architecture: 'BertForSequenceClassification',
    config: { vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16, num_labels: 2 },
    threads: 1,
    seed: 3,
  });
  const examples: Example[] = Array.from({ length: 16 }, (_, i) => ({ inputIds: [2, 5 + (i % 7), 3], label: i % 2 }));
  // learning rate 0: the metric never improves after the first evaluation.
  const r = await fit(model, { train: examples, eval: examples, learningRate: 0, batchSize: 4, epochs: 10, evalEvery: 1, earlyStoppingPatience: 2, metric: 'eval_loss' });
  t.true(r.stoppedEarly);
  t.is(r.globalStep, 3, 'best at step 1, two evaluations without improvement');
  t.is(r.best!.step, 1);
  await model.dispose();
});
