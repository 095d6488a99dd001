/**
 * Learning for real: a small random BERT fine-tuned on a synthetic but learnable task (does the
 * sentence contain a word from a hidden set?) goes from chance to >= 95% held-out accuracy, and
 * the run is deterministic for a seed.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Rng, evaluate, fit, initTrainableModel, type Example } from '../src-ts/training/index.js';

const VOCAB = 300;
const FIRST_WORD = 5; // 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK]

function makeData(seed: number, n: number, hidden: Set<number>): Example[] {
  const rng = new Rng(seed);
  const words = Array.from({ length: VOCAB - FIRST_WORD }, (_, i) => i + FIRST_WORD).filter((w) => !hidden.has(w));
  const hiddenList = [...hidden];
  const out: Example[] = [];
  for (let i = 0; i < n; i++) {
    const len = 5 + rng.int(12);
    const s = Array.from({ length: len }, () => words[rng.int(words.length)]!);
    const positive = rng.next() < 0.5;
    if (positive) s[rng.int(len)] = hiddenList[rng.int(hiddenList.length)]!;
    out.push({ inputIds: [2, ...s, 3], label: positive ? 1 : 0 });
  }
  return out;
}

async function run(seed: number, outputDir?: string) {
  const rng = new Rng(7);
  const hidden = new Set<number>();
  while (hidden.size < 12) hidden.add(FIRST_WORD + rng.int(VOCAB - FIRST_WORD));
  const train = makeData(1, 2000, hidden);
  const held = makeData(2, 400, hidden);
  const { model } = await initTrainableModel({
    architecture: 'BertForSequenceClassification',
    config: {
      vocab_size: VOCAB,
      hidden_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      intermediate_size: 128,
      max_position_embeddings: 32,
      num_labels: 2,
      hidden_dropout_prob: 0.1,
      attention_probs_dropout_prob: 0.1,
    },
    threads: 2,
    seed,
  });
  const before = await evaluate(model, held);
  const result = await fit(model, {
    train,
    eval: held,
    epochs: 3,
    batchSize: 32,
    learningRate: 2e-3,
    warmupRatio: 0.1,
    weightDecay: 0.01,
    seed,
    evalEvery: 60,
    ...(outputDir ? { outputDir } : {}),
  });
  const after = await evaluate(model, held);
  await model.dispose();
  return { before, after, result };
}

test('a random BERT learns a hidden-word task from chance to >= 95% held-out accuracy, deterministically', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bertkit-learn-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const t0 = performance.now();
  const a = await run(11, dir);
  const seconds = (performance.now() - t0) / 1000;
  t.log(`accuracy ${a.before.accuracy!.toFixed(3)} -> ${a.after.accuracy!.toFixed(3)} in ${a.result.globalStep} steps, ${seconds.toFixed(1)} s`);
  t.true(a.before.accuracy! < 0.7, `starts near chance (${a.before.accuracy})`);
  t.true(a.after.accuracy! >= 0.95, `learns the task (${a.after.accuracy})`);
  t.true(seconds < 60, `under a minute (${seconds} s)`);
  // Checkpoints, the final model and the loss chart next to them.
  const files = await readdir(dir);
  t.true(files.includes('loss.svg') && files.includes('model.safetensors') && files.includes('log.jsonl'), files.join(', '));
  t.true(files.some((f) => f.startsWith('checkpoint-')));
  t.regex(await readFile(join(dir, 'loss.svg'), 'utf8'), /^<svg[^]*<path d="M/);

  const b = await run(11);
  t.deepEqual(
    b.result.history.map((h) => h.loss ?? h.eval?.eval_loss),
    a.result.history.map((h) => h.loss ?? h.eval?.eval_loss),
    'same seed, same run',
  );
});
