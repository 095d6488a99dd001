/**
 * The addon is context-aware: it loads in several worker threads at once, each with its own
 * models, and a worker that exits (even mid-forward) leaves the process healthy. Workers run the
 * built package (dist/), as an application's workers would.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loadModel } from '../src-ts/index.js';
import { fixture, repoRoot } from './helpers/fixtures.js';
import { loadGolden } from './helpers/golden.js';

const dist = pathToFileURL(join(repoRoot, 'dist', 'index.js')).href;
const modelDir = fixture('tiny-bert-model');
const c = loadGolden('tiny-bert-model').cases.find((x) => x.name === 'padded_batch')!;

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { loadModel } = await import(workerData.dist);
  const model = await loadModel(workerData.modelDir, { device: 'cpu', threads: 1 });
  const results = [];
  for (let i = 0; i < workerData.repeats; i++) {
    const out = await model.forward(workerData.input);
    results.push(Array.from(out.poolerOutput.data));
  }
  if (workerData.dispose) await model.dispose();
  parentPort.postMessage(results);
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
`;

function runWorker(data: Record<string, unknown>): Promise<number[][]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerSource, { eval: true, workerData: { dist, modelDir, ...data } });
    w.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    w.once('error', reject);
  });
}

const input = { inputIds: c.inputIds, attentionMask: c.attentionMask, tokenTypeIds: c.tokenTypeIds };

test('two worker threads load and run models at the same time', async (t) => {
  t.true(existsSync(join(repoRoot, 'dist', 'index.js')), 'run `npm run build:ts` first (npm test does)');
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const expected = Array.from((await model.forward(input)).poolerOutput!.data);
  const [a, b] = await Promise.all([
    runWorker({ input, repeats: 5, dispose: true }),
    runWorker({ input, repeats: 5, dispose: false }), // left to the finalizers when the worker exits
  ]);
  for (const r of [...a, ...b]) t.deepEqual(r, expected);
});

test('terminating a worker in the middle of a forward leaves the process healthy', async (t) => {
  const w = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const { loadModel } = await import(workerData.dist);
      const model = await loadModel(workerData.modelDir, { device: 'cpu', threads: 1 });
      parentPort.postMessage('loaded');
      for (;;) await model.forward(workerData.input);
    })();
    `,
    { eval: true, workerData: { dist, modelDir, input } },
  );
  await new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  });
  await new Promise((r) => setTimeout(r, 20));
  const code = await w.terminate();
  t.is(code, 1);
  // Load and run again in this thread and in a fresh worker.
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const out = await model.forward(input);
  t.is(out.poolerOutput!.data.length, 4 * 64);
  const [again] = await runWorker({ input, repeats: 1, dispose: true });
  t.deepEqual(again, Array.from(out.poolerOutput!.data));
});
