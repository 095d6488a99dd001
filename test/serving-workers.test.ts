/**
 * Worker threads that load models and serve through a batcher, then exit cleanly or are terminated
 * in the middle of the work, again and again: results stay right and the process does not grow.
 * (bench/soak-workers.mjs runs 50 cycles with a bigger model.) Workers run the built package.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createBatcher, loadModel } from '../src-ts/index.js';
import { fixture, repoRoot } from './helpers/fixtures.js';

const dist = pathToFileURL(join(repoRoot, 'dist', 'index.js')).href;
const modelDir = fixture('tiny-bert-model');
const texts = Array.from({ length: 100 }, (_, i) => `the of and ${'to in is '.repeat(i % 7)}${i}`);

// Each worker loads the fixture, makes a ~20 MB model in memory (a leak of its weights would
// show), serves the texts through a batcher, and then disposes everything or keeps working
// until it is terminated.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { loadModel, createModel, createBatcher } = await import(workerData.dist);
  const model = await loadModel(workerData.modelDir, { device: 'cpu', threads: 1 });
  const H = 256, V = 8000, I = 1024, L = 4;
  const t = (dims) => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (Math.random() - 0.5) * 0.04;
    return { dtype: 'F32', dims, data };
  };
  const tensors = { 'embeddings.word_embeddings.weight': t([V, H]), 'embeddings.position_embeddings.weight': t([128, H]),
    'embeddings.token_type_embeddings.weight': t([2, H]), 'embeddings.LayerNorm.weight': t([H]), 'embeddings.LayerNorm.bias': t([H]) };
  for (let l = 0; l < L; l++) {
    const p = 'encoder.layer.' + l + '.';
    const lin = (n, o, i) => { tensors[p + n + '.weight'] = t([o, i]); tensors[p + n + '.bias'] = t([o]); };
    lin('attention.self.query', H, H); lin('attention.self.key', H, H); lin('attention.self.value', H, H);
    lin('attention.output.dense', H, H); lin('intermediate.dense', I, H); lin('output.dense', H, I);
    for (const n of ['attention.output.LayerNorm', 'output.LayerNorm']) { tensors[p + n + '.weight'] = t([H]); tensors[p + n + '.bias'] = t([H]); }
  }
  const big = await createModel({ model_type: 'bert', vocab_size: V, hidden_size: H, num_hidden_layers: L, num_attention_heads: 4,
    intermediate_size: I, max_position_embeddings: 128 }, tensors, { device: 'cpu', threads: 1 });
  const batcher = createBatcher(model);
  const bigBatcher = createBatcher(big);
  const vectors = await Promise.all(workerData.texts.map((x) => batcher.embed(x)));
  await Promise.all(workerData.texts.map((x, i) => bigBatcher.embed({ ids: [101, 1000 + i, 102] })));
  parentPort.postMessage({ first: Array.from(vectors[0]), last: Array.from(vectors.at(-1)) });
  if (workerData.dispose) {
    await batcher.close();
    await bigBatcher.close();
    await model.dispose();
    await big.dispose();
    parentPort.postMessage('disposed');
  } else {
    for (;;) await Promise.all(workerData.texts.map((x) => bigBatcher.embed({ ids: [101, 2000, 102] })));
  }
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
`;

function cycle(dispose: boolean): Promise<{ first: number[]; last: number[] }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerSource, { eval: true, workerData: { dist, modelDir, texts, dispose } });
    let result: { first: number[]; last: number[] } | undefined;
    w.on('message', (m) => {
      if (m.error) return reject(new Error(m.error));
      if (m === 'disposed') return;
      result = m;
      // Terminate in the middle of the work, or let the worker finish and exit on its own.
      if (!dispose) setTimeout(() => void w.terminate(), 30);
    });
    w.once('error', reject);
    w.once('exit', () => (result ? resolve(result) : reject(new Error('the worker exited without a result'))));
  });
}

test('workers that load models and serve, then exit or are terminated: right results, no growth', async (t) => {
  t.true(existsSync(join(repoRoot, 'dist', 'index.js')), 'run `npm run build:ts` first (npm test does)');
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const batcher = createBatcher(model);
  const expectedFirst = Array.from(await batcher.embed(texts[0]!));
  const expectedLast = Array.from(await batcher.embed(texts.at(-1)!));
  await batcher.close();
  const rss: number[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await cycle(i % 2 === 0);
    t.deepEqual(r.first, expectedFirst);
    t.deepEqual(r.last, expectedLast);
    rss.push(process.memoryUsage().rss);
  }
  const mb = rss.map((x) => Math.round(x / 2 ** 20));
  t.log(`RSS after each cycle (MB): ${mb.join(' ')}`);
  // Each worker holds ~20 MB of weights; a leak would add that every cycle: >= 120 MB from cycle
  // 5 to the end. What else moves RSS is the allocator keeping freed memory in the per-thread
  // arenas of the first workers' threads: steps of ~20 MB that stop (observed: up to +67 MB from
  // cycle 2, up to +48 from cycle 4, then flat). So: from cycle 5, to the median of the last
  // three cycles.
  const last = [...mb.slice(-3)].sort((a, b) => a - b)[1]!;
  t.true(last - mb[4]! < 64, `RSS grew from ${mb[4]} to ${last} MB`);
});
