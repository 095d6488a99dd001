#!/usr/bin/env node
// Worker-thread soak: --cycles times (default 50), a worker loads a model from its folder, serves
// texts through a batcher, and then either disposes everything and exits, or is terminated in the
// middle of its forwards (alternately). The main thread's RSS is printed after each cycle; a leak
// of the model (weights, workspace, thread pool) would show as steady growth.
//
//   npm run build:ts && node bench/soak-workers.mjs --model /tmp/models/bert-small [--cycles 50]
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    cycles: { type: 'string', default: '50' },
    threads: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
if (!args.model) {
  console.error('usage: node bench/soak-workers.mjs --model DIR [--cycles 50]');
  process.exit(2);
}
const dist = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'index.js')).href;
const words = readFileSync(join(args.model, 'vocab.txt'), 'utf8').split('\n').filter((w) => /^[a-z]{2,}$/.test(w));
const texts = Array.from({ length: 64 }, (_, i) => Array.from({ length: 4 + (i % 40) }, (_, k) => words[(i * 31 + k * 7) % words.length]).join(' '));

const source = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { loadModel, createBatcher } = await import(workerData.dist);
  const model = await loadModel(workerData.model, { device: 'cpu', threads: workerData.threads });
  const batcher = createBatcher(model);
  const v = await Promise.all(workerData.texts.map((x) => batcher.embed(x)));
  parentPort.postMessage({ checksum: v.reduce((a, x) => a + x[0], 0) });
  if (workerData.dispose) {
    await batcher.close();
    await model.dispose();
    parentPort.postMessage('disposed');
  } else {
    for (;;) await Promise.all(workerData.texts.map((x) => batcher.embed(x)));
  }
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
`;

function cycle(dispose) {
  return new Promise((resolve, reject) => {
    const w = new Worker(source, { eval: true, workerData: { dist, model: args.model, threads: Number(args.threads), texts, dispose } });
    let result;
    w.on('message', (m) => {
      if (m.error) return reject(new Error(m.error));
      if (m === 'disposed') return;
      result = m;
      if (!dispose) setTimeout(() => void w.terminate(), 20);
    });
    w.once('error', reject);
    w.once('exit', () => (result ? resolve(result) : reject(new Error('worker exited without a result'))));
  });
}

const cycles = Number(args.cycles);
const rss = [];
let checksum;
for (let i = 0; i < cycles; i++) {
  const r = await cycle(i % 2 === 0);
  if (checksum === undefined) checksum = r.checksum;
  else if (Math.abs(r.checksum - checksum) > 1e-4) throw new Error(`cycle ${i}: results differ (${r.checksum} vs ${checksum})`);
  rss.push(process.memoryUsage().rss / 2 ** 20);
  if ((i + 1) % 5 === 0) console.error(`cycle ${String(i + 1).padStart(3)}: RSS ${rss.at(-1).toFixed(0)} MB`);
}
// Least-squares slope over the second half (after allocator arenas have settled).
const half = rss.slice(Math.floor(cycles / 2));
const n = half.length;
const mx = (n - 1) / 2;
const my = half.reduce((a, b) => a + b, 0) / n;
const slope = half.reduce((a, y, x) => a + (x - mx) * (y - my), 0) / half.reduce((a, _, x) => a + (x - mx) ** 2, 0);
const summary = {
  model: args.model,
  cycles,
  rssMB: { after1: rss[0], after10: rss[9], after25: rss[24], last: rss.at(-1), max: Math.max(...rss) },
  slopeMBPerCycleSecondHalf: slope,
  modelFileMB: statSync(join(args.model, 'model.safetensors')).size / 2 ** 20,
};
console.log(JSON.stringify(summary, null, 2));
if (args.json) writeFileSync(args.json, JSON.stringify({ ...summary, rss }, null, 2));
