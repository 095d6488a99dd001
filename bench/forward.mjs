#!/usr/bin/env node
// Forward-pass throughput of a BERT-base-shaped model (random weights made in memory, so no
// download and no files): tokens/s and latency at batch 1 and 8 x seq 128 (and whatever
// --shapes asks for). Medians over repeats; run on a quiet machine and compare ratios, not
// single numbers.
//
//   node bench/forward.mjs [--threads N] [--repeats N] [--shapes 1x128,8x128] [--layers 12]
//                          [--hidden 768] [--heads 12] [--intermediate 3072] [--json]
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createModel, cpuInfo } from '../dist/index.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '0' },
    repeats: { type: 'string', default: '10' },
    shapes: { type: 'string', default: '1x128,8x128' },
    layers: { type: 'string', default: '12' },
    hidden: { type: 'string', default: '768' },
    heads: { type: 'string', default: '12' },
    intermediate: { type: 'string', default: '3072' },
    json: { type: 'boolean', default: false },
  },
});

const H = Number(args.hidden);
const I = Number(args.intermediate);
const layers = Number(args.layers);
const config = {
  architectures: ['BertModel'],
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: H,
  num_hidden_layers: layers,
  num_attention_heads: Number(args.heads),
  intermediate_size: I,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  hidden_act: 'gelu',
  layer_norm_eps: 1e-12,
};

// Seeded xorshift: the same weights every run.
let seed = 0x9e3779b9;
function rand() {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
function tensor(dims, scale = 0.02, offset = 0) {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = offset + (rand() * 2 - 1) * scale * 1.7320508;
  return { dtype: 'F32', dims, data };
}

const tensors = {
  'embeddings.word_embeddings.weight': tensor([30522, H]),
  'embeddings.position_embeddings.weight': tensor([512, H]),
  'embeddings.token_type_embeddings.weight': tensor([2, H]),
  'embeddings.LayerNorm.weight': tensor([H], 0.1, 1),
  'embeddings.LayerNorm.bias': tensor([H]),
  'pooler.dense.weight': tensor([H, H]),
  'pooler.dense.bias': tensor([H]),
};
for (let l = 0; l < layers; l++) {
  const p = `encoder.layer.${l}.`;
  for (const [name, out, inp] of [
    ['attention.self.query', H, H],
    ['attention.self.key', H, H],
    ['attention.self.value', H, H],
    ['attention.output.dense', H, H],
    ['intermediate.dense', I, H],
    ['output.dense', H, I],
  ]) {
    tensors[`${p}${name}.weight`] = tensor([out, inp]);
    tensors[`${p}${name}.bias`] = tensor([out]);
  }
  for (const ln of ['attention.output.LayerNorm', 'output.LayerNorm']) {
    tensors[`${p}${ln}.weight`] = tensor([H], 0.1, 1);
    tensors[`${p}${ln}.bias`] = tensor([H]);
  }
}

const t0 = performance.now();
const model = await createModel(config, tensors, { device: 'cpu', threads: Number(args.threads) });
const loadMs = performance.now() - t0;

function batch(b, l) {
  const inputIds = [];
  for (let i = 0; i < b; i++) {
    const row = new Int32Array(l);
    row[0] = 101;
    for (let j = 1; j < l - 1; j++) row[j] = 1000 + Math.floor(rand() * 29000);
    row[l - 1] = 102;
    inputIds.push(row);
  }
  return { inputIds };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const flopsPerToken = (L) =>
  // 2 FLOPs per multiply-add: QKV + output projection + FFN, plus attention scores and context.
  layers * (2 * (4 * H * H + 2 * H * I) + 4 * L * H);

const results = [];
for (const shape of args.shapes.split(',')) {
  const [b, l] = shape.split('x').map(Number);
  const input = batch(b, l);
  await model.forward(input); // warm-up: grows the workspace
  const times = [];
  for (let r = 0; r < Number(args.repeats); r++) {
    const s = performance.now();
    await model.forward(input);
    times.push(performance.now() - s);
  }
  const ms = median(times);
  const tokens = b * l;
  results.push({
    shape,
    batch: b,
    seq: l,
    p50_ms: ms,
    min_ms: Math.min(...times),
    tokens_per_s: (tokens / ms) * 1000,
    seq_per_s: (b / ms) * 1000,
    gflops: (flopsPerToken(l) * tokens) / ms / 1e6,
  });
}

const info = cpuInfo();
const summary = {
  date: new Date().toISOString(),
  cpu: os.cpus()[0]?.model,
  cores: info.cores,
  isa: model.backend.isa,
  threads: model.backend.threads,
  node: process.version,
  model: `BERT-base shape (${layers} layers, hidden ${H}), random weights, fp32`,
  load_ms: Math.round(loadMs),
  results,
};
if (args.json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  console.log(`${summary.model}; ${summary.cpu}, ${summary.threads} threads, kernels ${summary.isa}; load ${summary.load_ms} ms`);
  console.log('shape     p50 ms    min ms   tokens/s    seq/s   GFLOP/s');
  for (const r of results) {
    console.log(
      `${r.shape.padEnd(8)} ${r.p50_ms.toFixed(1).padStart(8)} ${r.min_ms.toFixed(1).padStart(9)} ${r.tokens_per_s.toFixed(0).padStart(10)} ${r.seq_per_s.toFixed(2).padStart(8)} ${r.gflops.toFixed(0).padStart(9)}`,
    );
  }
}
await model.dispose();
