#!/usr/bin/env node
// One contender in its own process (so peak RSS and load time are its own): loads the model,
// warms up, times `repeats` forwards of each shape, prints one JSON line. Run by bench/cpu.mjs.
//
//   node bench/cpu-contender.mjs --contender bertkit|ort|transformers.js --model DIR
//        --shapes 8x128,var32 --repeats 10 --threads 2 [--dtype float32|bfloat16|int8]
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { makeBatch } from './cpu-inputs.mjs';

const { values: args } = parseArgs({
  options: {
    contender: { type: 'string' },
    model: { type: 'string' },
    shapes: { type: 'string' },
    repeats: { type: 'string', default: '10' },
    threads: { type: 'string', default: '2' },
    dtype: { type: 'string', default: 'float32' },
  },
});
const threads = Number(args.threads);
const peers = createRequire(join(import.meta.dirname, 'peers', 'package.json'));

async function bertkit() {
  const { loadModel } = await import('../dist/index.js');
  const options = { device: 'cpu', threads, tokenizer: false };
  if (args.dtype !== 'float32') options.dtype = args.dtype;
  const model = await loadModel(args.model, options);
  return {
    // Padding-free: the packed form (what the tokenizer's `toPacked()` gives).
    run: (batch) => model.forwardPacked(batch.packed),
    info: model.backend,
  };
}

async function ort() {
  const ortPath = peers.resolve('onnxruntime-node');
  const ort = await import(pathToFileURL(ortPath).href);
  const session = await ort.InferenceSession.create(join(args.model, 'onnx', 'model.onnx'), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  return {
    run: (batch) => {
      const feeds = {};
      for (const [name, data] of Object.entries(batch.padded)) feeds[name] = new ort.Tensor('int64', data, [batch.size, batch.length]);
      return session.run(feeds);
    },
    info: { onnxruntime: ort.env?.versions?.node ?? 'onnxruntime-node' },
  };
}

async function transformersJs() {
  const tjsPath = peers.resolve('@huggingface/transformers');
  const { AutoModel, Tensor, env } = await import(pathToFileURL(tjsPath).href);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  const model = await AutoModel.from_pretrained(args.model, {
    local_files_only: true,
    dtype: 'fp32',
    use_external_data_format: true,
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  return {
    run: (batch) => {
      const feeds = {};
      for (const [name, data] of Object.entries(batch.padded)) feeds[name] = new Tensor('int64', data, [batch.size, batch.length]);
      return model(feeds);
    },
    info: { transformersjs: true },
  };
}

const loaders = { bertkit, ort, 'transformers.js': transformersJs };
const t0 = performance.now();
const contender = await loaders[args.contender]();
const loadMs = performance.now() - t0;

const results = [];
for (const shape of args.shapes.split(',')) {
  const batch = makeBatch(shape);
  await contender.run(batch); // warm-up (workspace growth, kernel selection)
  const times = [];
  for (let r = 0; r < Number(args.repeats); r++) {
    const s = performance.now();
    await contender.run(batch);
    times.push(performance.now() - s);
  }
  results.push({ shape, sequences: batch.size, realTokens: batch.realTokens, paddedTokens: batch.size * batch.length, times });
}
console.log(
  JSON.stringify({ contender: args.contender, dtype: args.dtype, loadMs, maxRssKb: process.resourceUsage().maxRSS, info: contender.info, results }),
);
