#!/usr/bin/env node
// CPU inference: bertkit (float32, bfloat16, int8) against onnxruntime-node and
// @huggingface/transformers on the same BERT-base model and the same inputs, in one run. Each
// contender runs in its own process (its own peak RSS and load time); rounds alternate the
// contenders so that machine drift hits all of them alike; medians over every repeat.
//
//   bench/peers/setup.sh /tmp/bert-base          # once: model + ONNX export + peer packages
//   npm run build:ts && node bench/cpu.mjs --model /tmp/bert-base [--threads 2] [--rounds 3]
//        [--repeats 10] [--shapes 1x128,8x128,32x128,1x512,var32] [--contenders ...] [--json out.json]
//
// Shapes: BxL = B sequences of L tokens; varN = N sequences with lengths uniform in 8..128
// (peers pad them to the longest, as they do for their users; tokens/s counts real tokens).
// "% peak" is useful FLOPs (real tokens) per second over the FMA peak measured by
// build-cmake/peak_fma (npm run test:cpp builds it).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeBatch } from './cpu-inputs.mjs';

const here = import.meta.dirname;
const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    rounds: { type: 'string', default: '3' },
    repeats: { type: 'string', default: '10' },
    shapes: { type: 'string', default: '1x128,8x128,32x128,1x512,var32' },
    contenders: { type: 'string', default: 'bertkit:float32,bertkit:bfloat16,bertkit:int8,ort,transformers.js' },
    json: { type: 'string' },
  },
});
if (!args.model) {
  console.error('usage: node bench/cpu.mjs --model DIR (make one with bench/peers/setup.sh DIR)');
  process.exit(2);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

// BERT-base FLOPs for a sequence of L tokens: 2 per multiply-add, projections + FFN + attention.
const H = 768, I = 3072, LAYERS = 12;
const flopsOfSequence = (L) => L * LAYERS * (2 * (4 * H * H + 2 * H * I) + 4 * L * H);

function peakGflops() {
  const probe = join(here, '..', 'build-cmake', 'peak_fma');
  if (!existsSync(probe)) return null;
  return JSON.parse(execFileSync(probe, [args.threads], { encoding: 'utf8' })).gflops;
}

const contenders = args.contenders.split(',').map((c) => {
  const [name, dtype = 'float32'] = c.split(':');
  return { key: c, name, dtype };
});
const samples = new Map(contenders.map((c) => [c.key, { loads: [], rss: [], times: new Map(), error: null }]));

const peak = peakGflops();
for (let round = 0; round < Number(args.rounds); round++) {
  // Rotate the order every round.
  const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
  for (const c of order) {
    const s = samples.get(c.key);
    if (s.error) continue;
    const r = spawnSync(
      process.execPath,
      [join(here, 'cpu-contender.mjs'), '--contender', c.name, '--dtype', c.dtype, '--model', args.model, '--shapes', args.shapes,
        '--repeats', args.repeats, '--threads', args.threads],
      { encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } },
    );
    if (r.status !== 0) {
      s.error = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
      continue;
    }
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
    s.loads.push(out.loadMs);
    s.rss.push(out.maxRssKb / 1024);
    s.dtypeUsed = out.info?.dtype ?? c.dtype;
    for (const res of out.results) {
      if (!s.times.has(res.shape)) s.times.set(res.shape, []);
      s.times.get(res.shape).push(...res.times);
    }
  }
}

const shapes = args.shapes.split(',');
const rows = [];
for (const c of contenders) {
  const s = samples.get(c.key);
  if (s.error) {
    rows.push({ contender: c.key, error: s.error });
    continue;
  }
  for (const shape of shapes) {
    const batch = makeBatch(shape);
    const times = s.times.get(shape);
    const p50 = median(times);
    const useful = batch.rows.reduce((f, r) => f + flopsOfSequence(r.length), 0);
    rows.push({
      contender: c.key,
      dtype: s.dtypeUsed,
      shape,
      seqPerS: (batch.size / p50) * 1000,
      tokensPerS: (batch.realTokens / p50) * 1000,
      pctPeak: peak ? (useful / (p50 / 1000) / 1e9 / peak) * 100 : null,
      p50Ms: p50,
      p95Ms: pct(times, 95),
      peakRssMb: Math.max(...s.rss),
      loadMs: median(s.loads),
    });
  }
}

const ref = (shape) => rows.find((r) => r.contender === 'ort' && r.shape === shape && !r.error);
console.log(`BERT-base (${args.model}), ${args.threads} threads, ${os.cpus()[0]?.model}, ${new Date().toISOString().slice(0, 10)}, ` +
  `FMA peak ${peak ? `${peak.toFixed(0)} GFLOP/s` : 'not measured (build build-cmake/peak_fma)'}; ${args.rounds} rounds x ${args.repeats} repeats`);
console.log('contender            shape     seq/s   tokens/s  %peak   p50 ms   p95 ms  RSS MB  load ms  x ort');
for (const r of rows) {
  if (r.error) {
    console.log(`${r.contender.padEnd(20)} FAILED: ${r.error}`);
    continue;
  }
  const o = ref(r.shape);
  console.log(
    `${r.contender.padEnd(20)} ${r.shape.padEnd(7)} ${r.seqPerS.toFixed(2).padStart(7)} ${r.tokensPerS.toFixed(0).padStart(10)} ` +
      `${r.pctPeak === null ? '   -' : r.pctPeak.toFixed(0).padStart(5)}% ${r.p50Ms.toFixed(1).padStart(8)} ${r.p95Ms.toFixed(1).padStart(8)} ` +
      `${r.peakRssMb.toFixed(0).padStart(7)} ${r.loadMs.toFixed(0).padStart(8)} ${o ? (r.tokensPerS / o.tokensPerS).toFixed(2).padStart(6) : '     -'}`,
  );
}
if (args.json) writeFileSync(args.json, JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, threads: Number(args.threads), peakGflops: peak, rows }, null, 2));
