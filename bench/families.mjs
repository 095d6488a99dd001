#!/usr/bin/env node
// The families at base size in one process, alternated round by round so that machine noise hits
// them alike: BERT-base, RoBERTa-base and ALBERT-base (its 12 layer applications of one shared
// layer), random weights made in memory (src-ts/cli/random-bert.ts), one batch of B x L random
// ids. Prints each one's median and best time and its useful GFLOP/s (the encoder's
// multiply-adds: same count for the three, ALBERT's shared layer counted at every application),
// to compare with the FMA peak of build-cmake/peak_fma. `npm run build:ts` first.
//
//   node bench/families.mjs [--rounds 9] [--threads 2] [--batch 8] [--seq 128] [--types bert,roberta,albert]
import { parseArgs } from 'node:util';
import { BERT_BASE, VARIANT_BASES, createRandomBert, createRandomVariant } from '../dist/cli/random-bert.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    threads: { type: 'string', default: '0' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '128' },
    types: { type: 'string', default: 'bert,roberta,albert' },
  },
});
const rounds = Number(values.rounds), B = Number(values.batch), L = Number(values.seq);
const types = values.types.split(',');
const options = { threads: Number(values.threads), tokenizer: false };
const models = {};
for (const t of types) models[t] = t === 'bert' ? await createRandomBert(BERT_BASE, options) : await createRandomVariant(t, VARIANT_BASES[t].shape, options);
let s = 7;
const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
const inputIds = Array.from({ length: B }, () => Array.from({ length: L }, () => 5 + Math.floor(rand() * 20000)));
const times = Object.fromEntries(types.map((t) => [t, []]));
for (const t of types) await models[t].forward({ inputIds });
for (let r = 0; r < rounds; r++) {
  for (const t of types) {
    const t0 = performance.now();
    await models[t].forward({ inputIds });
    times[t].push(performance.now() - t0);
  }
}
for (const t of types) {
  const c = models[t].config, H = c.hidden_size, I = c.intermediate_size, n = c.encoder.layerApplications;
  const flops = 2 * B * L * n * (4 * H * H + 2 * H * I) + 4 * B * L * L * H * n;
  const v = [...times[t]].sort((a, b) => a - b);
  const med = v[v.length >> 1];
  console.log(`${t.padEnd(8)} median ${med.toFixed(0).padStart(6)} ms  best ${v[0].toFixed(0).padStart(6)} ms  ${(flops / med / 1e6).toFixed(0).padStart(4)} GFLOP/s (median)  ${(flops / v[0] / 1e6).toFixed(0).padStart(4)} (best)`);
  await models[t].dispose();
}
