#!/usr/bin/env node
// The Node side of the GPU check (bench/gpu/run.sh runs it; see bench/gpu/README.md): what a
// forward costs through the addon next to the engine's own time for the same shape, and the
// batcher against one forward per request.
//
//   node bench/gpu/node-bench.mjs --engine OUT/bertkit.json --out OUT/node.json --md OUT/node.md
//        [--dtype float16] [--iters 20] [--shapes 128x128,32x512] [--clients 256] [--rounds 3]
//
// 1. Node vs engine: BERT-base (seeded random weights, std 0.02) on CUDA, forwardPacked() p50
//    over `iters` after 3 warm-ups (the second captures the CUDA graph), at each shape, with
//      - BertModel: lastHiddenState (+ the small poolerOutput) returned, vs bench_gpu's
//        p50_last_ms (last_hidden_state into a host array);
//      - BertForSequenceClassification: per-sequence logits only, vs bench_gpu's p50_pooled_ms
//        (pooler_output only).
//    The issue's bars: <= 1.15x with lastHiddenState, <= 1.05x with per-sequence outputs.
// 2. The batcher: `clients` concurrent callers each embedding one 128-token sequence (token ids,
//    mean pooling), `rounds` times after one warm-up round; against the same requests each run
//    as its own forwardPacked() (the model queues them: one forward per request). Throughput
//    (requests/s) and p50/p99 latency of a request; the bar: batched >= 5x.
// Needs the built dist/ and the CUDA addon (BERTKIT_CUDA_ADDON, which run.sh sets).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = { engine: '', out: '', md: '', dtype: 'float16', iters: 20, shapes: '128x128,32x512', clients: 256, rounds: 3, device: 'cuda' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in args) || i + 1 >= process.argv.length) {
    console.error(`unknown or incomplete option ${process.argv[i]}`);
    process.exit(2);
  }
  args[k] = typeof args[k] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const { createModel, createBatcher, cudaStatus } = await import(pathToFileURL(join(root, 'dist', 'index.js')).href);
const { BERT_BASE, randomBertConfig, randomBertTensors, xorshift } = await import(pathToFileURL(join(root, 'dist', 'cli', 'random-bert.js')).href);

const status = cudaStatus();
console.log(`cudaStatus: ${JSON.stringify({ available: status.available, reasons: status.reasons })}`);
if (args.device === 'cuda' && !status.available) {
  console.error('node-bench: no CUDA device through the addon');
  process.exit(1);
}

const shape = args.device === 'cpu' ? { layers: 2, hidden: 128, heads: 2, intermediate: 512, vocab: 30522, maxPositions: 512 } : BERT_BASE;
const tensors = randomBertTensors(shape, 12345);
const opts = { device: args.device, dtype: args.device === 'cpu' ? 'float32' : args.dtype };
const base = await createModel(randomBertConfig(shape), tensors, opts);
const rand = xorshift(777);
const clsTensors = { ...tensors, 'classifier.weight': { dtype: 'F32', dims: [2, shape.hidden], data: Float32Array.from({ length: 2 * shape.hidden }, () => (rand() * 2 - 1) * 0.0346) }, 'classifier.bias': { dtype: 'F32', dims: [2], data: new Float32Array(2) } };
const cls = await createModel({ ...randomBertConfig(shape), architectures: ['BertForSequenceClassification'], num_labels: 2 }, clsTensors, opts);
console.log(`backend: ${JSON.stringify(base.backend)}`);

function packed(batch, seq, seed) {
  const r = xorshift(seed);
  const ids = new Int32Array(batch * seq);
  const cu = new Int32Array(batch + 1);
  for (let b = 0; b < batch; b++) {
    cu[b + 1] = (b + 1) * seq;
    for (let t = 0; t < seq; t++) ids[b * seq + t] = t === 0 ? 101 : t === seq - 1 ? 102 : 1000 + Math.floor(r() * 29000);
  }
  return { inputIds: ids, cuSeqlens: cu };
}
const pct = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
async function p50(fn) {
  const t = [];
  for (let i = 0; i < 3 + args.iters; i++) {
    const a = performance.now();
    await fn();
    if (i >= 3) t.push(performance.now() - a);
  }
  t.sort((x, y) => x - y);
  return pct(t, 0.5);
}

let engine = null;
if (args.engine) {
  try {
    engine = JSON.parse(readFileSync(args.engine, 'utf8')).models.find((m) => m.model === 'bert-base') ?? null;
  } catch (e) {
    console.log(`engine times unavailable (${e.message})`);
  }
}

const result = { backend: base.backend, dtype: opts.dtype, iters: args.iters, shapes: [], batcher: null };
for (const id of args.shapes.split(',')) {
  const [batch, seq] = id.split('x').map(Number);
  const input = packed(batch, seq, batch * 31 + seq);
  const last = await p50(() => base.forwardPacked(input));
  const pooled = await p50(() => cls.forwardPacked(input));
  const e = engine?.cases.find((c) => c.id === id);
  const row = { id, node_last_ms: last, node_pooled_ms: pooled, engine_ms: e?.p50_ms ?? null, engine_last_ms: e?.p50_last_ms || null, engine_pooled_ms: e?.p50_pooled_ms || null };
  row.ratio_last = row.engine_last_ms ? last / row.engine_last_ms : null;
  row.ratio_pooled = row.engine_pooled_ms ? pooled / row.engine_pooled_ms : null;
  result.shapes.push(row);
  console.log(`${id}: Node lastHiddenState ${last.toFixed(3)} ms (engine ${row.engine_last_ms?.toFixed(3) ?? '?'} ms, ${row.ratio_last?.toFixed(3) ?? '?'}x); Node per-sequence logits ${pooled.toFixed(3)} ms (engine pooled ${row.engine_pooled_ms?.toFixed(3) ?? '?'} ms, ${row.ratio_pooled?.toFixed(3) ?? '?'}x)`);
}

// The batcher row.
{
  const seq = 128;
  const requests = Array.from({ length: args.clients }, (_, i) => {
    const p = packed(1, seq, 9000 + i);
    return { single: p, ids: p.inputIds };
  });
  const batcher = createBatcher(base, { maxBatchTokens: 32768, maxBatchSize: 256, maxConcurrentRequests: 4 * args.clients, maxQueuedTokens: 4 * args.clients * seq });
  async function round(call) {
    const lat = [];
    const t0 = performance.now();
    await Promise.all(requests.map(async (r) => {
      const a = performance.now();
      await call(r);
      lat.push(performance.now() - a);
    }));
    return { wall: performance.now() - t0, lat };
  }
  async function measure(call) {
    await round(call);  // warm-up (and graph capture of the shapes seen)
    const lat = [];
    let wall = 0;
    for (let i = 0; i < args.rounds; i++) {
      const r = await round(call);
      wall += r.wall;
      lat.push(...r.lat);
    }
    lat.sort((x, y) => x - y);
    return { requests_per_s: (args.rounds * args.clients) / (wall / 1e3), p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99) };
  }
  const batched = await measure((r) => batcher.embed({ ids: r.ids }));
  const single = await measure((r) => base.forwardPacked(r.single));
  await batcher.close();
  result.batcher = { clients: args.clients, seq, rounds: args.rounds, batched, single, speedup: batched.requests_per_s / single.requests_per_s };
  console.log(`batcher: ${args.clients} clients x 1 x ${seq} tokens: batched ${batched.requests_per_s.toFixed(0)} req/s (p50 ${batched.p50_ms.toFixed(1)} ms, p99 ${batched.p99_ms.toFixed(1)} ms); one forward per request ${single.requests_per_s.toFixed(0)} req/s (p50 ${single.p50_ms.toFixed(1)} ms, p99 ${single.p99_ms.toFixed(1)} ms); ${result.batcher.speedup.toFixed(2)}x`);
}
await base.dispose();
await cls.dispose();

const verdict = (ok) => (ok == null ? '?' : ok ? 'PASS' : 'FAIL');
const md = [
  `### Through Node (${opts.dtype}, ${shape === BERT_BASE ? 'BERT-base' : `${shape.layers} layers x ${shape.hidden}`}, ${base.backend.gemm ?? base.backend.name}${base.backend.gemmReason ? `: ${base.backend.gemmReason}` : ''})`,
  '',
  '| shape | engine, last_hidden_state ms | Node, lastHiddenState ms | ratio (bar 1.15) | engine, pooler only ms | Node, per-sequence logits ms | ratio (bar 1.05) |',
  '|---|---|---|---|---|---|---|',
  ...result.shapes.map((r) => `| ${r.id} | ${r.engine_last_ms?.toFixed(2) ?? '?'} | ${r.node_last_ms.toFixed(2)} | ${r.ratio_last?.toFixed(3) ?? '?'} ${verdict(r.ratio_last == null ? null : r.ratio_last <= 1.15)} | ${r.engine_pooled_ms?.toFixed(2) ?? '?'} | ${r.node_pooled_ms.toFixed(2)} | ${r.ratio_pooled?.toFixed(3) ?? '?'} ${verdict(r.ratio_pooled == null ? null : r.ratio_pooled <= 1.05)} |`),
  '',
  `Batcher: ${result.batcher.clients} concurrent clients, one ${result.batcher.seq}-token sequence each (embed), ${result.batcher.rounds} rounds: ` +
    `**${result.batcher.batched.requests_per_s.toFixed(0)} req/s** (p50 ${result.batcher.batched.p50_ms.toFixed(1)} ms, p99 ${result.batcher.batched.p99_ms.toFixed(1)} ms) ` +
    `vs one forward per request ${result.batcher.single.requests_per_s.toFixed(0)} req/s (p99 ${result.batcher.single.p99_ms.toFixed(1)} ms): ` +
    `${result.batcher.speedup.toFixed(2)}x ${verdict(result.batcher.speedup >= 5)} (bar 5x)`,
  '',
];
if (args.out) writeFileSync(args.out, JSON.stringify(result, null, 2));
if (args.md) writeFileSync(args.md, md.join('\n'));
console.log(md.join('\n'));
