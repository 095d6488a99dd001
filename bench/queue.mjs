#!/usr/bin/env node
// The job queue's cost: the same corpus embedded (a) in one process through the batcher, chunks of
// --chunk texts, 4 chunks at a time (what a worker does, without the queue), (b) through Redis by
// one `bertkit worker` process (--concurrency 4) fed by the corpus runner, (c) by two workers with
// half the threads each. Every contender is its own process, started and warmed before it is
// timed; contenders alternate within each round and the figures are medians over rounds. Times
// are from the first chunk submitted to the last row on disk; model loading is not timed.
//
//   npm run build:ts && node bench/queue.mjs [--model DIR | --shape small|minilm-l6|minilm-l12|base]
//     [--rows 2048] [--chunk 64] [--rounds 3] [--threads 2] [--encoding float32|float16] [--json FILE]
//
// Without --model it writes a model of --shape (default bert-small: 4 layers, hidden 256, 4 heads,
// intermediate 1024; the MiniLM shapes are all-MiniLM-L6/L12-v2's: hidden 384, 12 heads,
// intermediate 1536; base is bert-base's) with the bert-base-uncased vocabulary and seeded random
// weights to a temporary folder: the queue's cost per job is fixed, so the model's size decides
// what share of the work it is. Texts are
// random vocabulary words, 8 to 60 each. redis-server (Debian's; .ci/setup-redis) runs on a free
// 127.0.0.1 port without persistence.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    shape: { type: 'string', default: 'small' },
    rows: { type: 'string', default: '2048' },
    chunk: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    json: { type: 'string' },
    encoding: { type: 'string', default: 'float32' },
    'direct-child': { type: 'boolean' },
  },
});
const bertkit = await import(join(root, 'dist', 'index.js'));
const cli = join(root, 'dist', 'cli', 'main.js');
const chunk = Number(args.chunk);
const SHAPES = {
  small: { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024 },
  'minilm-l6': { hidden_size: 384, num_hidden_layers: 6, num_attention_heads: 12, intermediate_size: 1536 },
  'minilm-l12': { hidden_size: 384, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 1536 },
  base: { hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072 },
};
if (!args.model && !Object.hasOwn(SHAPES, args.shape)) throw new Error(`--shape: one of ${Object.keys(SHAPES).join(', ')}`);
const threads = Number(args.threads);

/**
 * CPU time (user + system, all threads) a process has used, in ms, from /proc: on a machine shared
 * with other jobs, CPU time moves much less than wall time (ticks of 10 ms; runs last seconds).
 */
function cpuMs(pid) {
  const { readFileSync } = require('node:fs');
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** JSON Lines record of a row, as `bertkit embed` writes it (both contenders pay for it). */
const record = (text, v) => `${JSON.stringify({ text, embedding: Array.from(v, (x) => Number(x.toPrecision(9))) })}\n`;

/** (a), run as a child: the batcher in-process over the corpus, 4 chunks at a time, written in order. */
async function directChild() {
  const { readFileSync, openSync, writeSync, closeSync } = await import('node:fs');
  const texts = readFileSync(process.env.BENCH_CORPUS, 'utf8').trim().split('\n').map((l) => JSON.parse(l).text);
  const model = await bertkit.loadModel(process.env.BENCH_MODEL, { threads });
  const batcher = bertkit.createBatcher(model);
  await batcher.embed(texts.slice(0, chunk), { truncate: true });
  const fd = openSync(process.env.BENCH_OUT, 'w');
  const c0 = cpuMs(process.pid);
  const t0 = performance.now();
  const chunks = [];
  for (let at = 0; at < texts.length; at += chunk) chunks.push(texts.slice(at, at + chunk));
  const done = new Array(chunks.length);
  let next = 0;
  const lane = async () => {
    while (next < chunks.length) {
      const i = next++;
      done[i] = batcher.embed(chunks[i], { truncate: true });
      await done[i];
    }
  };
  const lanes = Promise.all([lane(), lane(), lane(), lane()]);
  for (let i = 0; i < chunks.length; i++) {
    while (done[i] === undefined) await new Promise((r) => setImmediate(r));
    const vectors = await done[i];
    writeSync(fd, chunks[i].map((t, k) => record(t, vectors[k])).join(''));
  }
  await lanes;
  closeSync(fd);
  process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, cpu: cpuMs(process.pid) - c0 })}\n`);
  await batcher.close();
  await model.dispose();
}

if (args['direct-child']) {
  await directChild();
  process.exit(0);
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const children = [];
function start(cmd, argv, env = {}) {
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const until = (re) =>
    new Promise((resolve, reject) => {
      const t = setInterval(() => {
        if (re.test(out)) (clearInterval(t), resolve(out));
        else if (child.exitCode !== null) (clearInterval(t), reject(new Error(`${cmd} exited:\n${out}`)));
      }, 10);
    });
  const exited = new Promise((resolve) => child.once('close', resolve));
  return { child, until, exited, output: () => out };
}

const dir = mkdtempSync(join(tmpdir(), 'bertkit-bench-queue-'));
let redis;
try {
  // ---- model and corpus ------------------------------------------------------------------------
  let modelDir = args.model;
  const vocabDir = join(root, 'test', 'fixtures', 'tokenizer', 'bert-base-uncased');
  if (!modelDir) {
    modelDir = join(dir, args.shape);
    const tokenizer = await bertkit.loadTokenizer(vocabDir);
    const { model } = await bertkit.initTrainableModel({
      architecture: 'BertModel',
      config: { vocab_size: 30522, ...SHAPES[args.shape], max_position_embeddings: 512 },
      tokenizer,
      seed: 1,
    });
    await model.save(modelDir);
    await model.dispose();
  }
  const { readFileSync } = await import('node:fs');
  const vocab = readFileSync(join(vocabDir, 'vocab.txt'), 'utf8').split('\n').filter((w) => /^[a-z]{3,}$/.test(w));
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const rows = Number(args.rows);
  const lines = Array.from({ length: rows }, () => JSON.stringify({ text: Array.from({ length: 8 + Math.floor(rand() * 53) }, () => vocab[Math.floor(rand() * vocab.length)]).join(' ') }));
  const corpus = join(dir, 'corpus.jsonl');
  writeFileSync(corpus, lines.join('\n') + '\n');

  // ---- redis -----------------------------------------------------------------------------------
  const port = await freePort();
  redis = start(process.env.BERTKIT_REDIS_SERVER ?? 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no']);
  await redis.until(/Ready to accept connections/);
  const url = `redis://127.0.0.1:${port}`;

  const direct = async () => {
    const p = start(process.execPath, [fileURLToPath(import.meta.url), '--direct-child', '--chunk', String(chunk), '--threads', String(threads)], { BENCH_CORPUS: corpus, BENCH_MODEL: modelDir, BENCH_OUT: join(dir, 'direct.jsonl') });
    await p.exited;
    return JSON.parse(p.output().trim().split('\n').pop());
  };

  let q = 0;
  const queued = async (workers) => {
    const queue = `bench${++q}`;
    const ws = Array.from({ length: workers }, () =>
      start(process.execPath, [cli, 'worker', '--redis', url, '--queue', queue, '-m', modelDir, '--task', 'embed', '--concurrency', '4', '--threads', String(Math.max(1, Math.floor(threads / workers))), '--quiet']),
    );
    await Promise.all(ws.map((w) => w.until(/ready/)));
    const client = await bertkit.createJobClient({ redis: url, queue });
    // Warm-up: one chunk through each worker's model.
    await Promise.all(ws.map((_, i) => client.embed(lines.slice(i * chunk, (i + 1) * chunk).map((l) => `${JSON.parse(l).text} warm`), { truncate: true })));
    const out = join(dir, `${queue}.jsonl`);
    const pids = [redis.child.pid, ...ws.map((w) => w.child.pid)];
    const c0 = pids.map(cpuMs);
    const p0 = process.cpuUsage();
    const t0 = performance.now();
    const summary = await bertkit.runCorpus({
      client,
      task: 'embed',
      rows: (async function* () {
        for (let i = 0; i < lines.length; i++) yield { value: JSON.parse(lines[i]).text, where: `row ${i}` };
      })(),
      output: out,
      chunkSize: chunk,
      maxInFlight: 16,
      options: { truncate: true },
      encoding: args.encoding,
      record: (_row, text, v) => ({ text, embedding: Array.from(v, (x) => Number(x.toPrecision(9))) }),
    });
    const ms = performance.now() - t0;
    const pu = process.cpuUsage(p0);
    const cpu = pids.map((pid, i) => cpuMs(pid) - c0[i]);
    const total = { ms, cpu: cpu.reduce((a, b) => a + b, 0) + (pu.user + pu.system) / 1000, redis: cpu[0], producer: (pu.user + pu.system) / 1000 };
    if (summary.rows !== rows || summary.failed !== 0) throw new Error(`queue run: ${JSON.stringify(summary)}`);
    // The same rows as the in-process run, to the last digit written.
    if (args.encoding === 'float32' && readFileSync(out, 'utf8') !== readFileSync(join(dir, 'direct.jsonl'), 'utf8')) console.error(`${queue}: output differs from the in-process run`);
    await client.close();
    ws.forEach((w) => w.child.kill('SIGTERM'));
    await Promise.all(ws.map((w) => w.exited));
    return total;
  };

  const results = { direct: [], one: [], two: [] };
  for (let r = 0; r < Number(args.rounds); r++) {
    results.direct.push(await direct());
    results.one.push(await queued(1));
    results.two.push(await queued(2));
    const f = (x) => `${x.ms.toFixed(0)} ms (cpu ${x.cpu.toFixed(0)} ms)`;
    console.error(`round ${r + 1}: direct ${f(results.direct.at(-1))}, 1 worker ${f(results.one.at(-1))}, 2 workers ${f(results.two.at(-1))}`);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const jobs = Math.ceil(rows / chunk);
  const m = (k, f) => median(results[k].map((x) => x[f]));
  const summary = {
    model: args.model ?? args.shape,
    rows,
    chunk,
    jobs,
    encoding: args.encoding,
    threads,
    wall_ms: { direct: m('direct', 'ms'), one_worker: m('one', 'ms'), two_workers: m('two', 'ms') },
    cpu_ms: { direct: m('direct', 'cpu'), one_worker: m('one', 'cpu'), two_workers: m('two', 'cpu') },
    one_worker_cpu_ms: { redis: m('one', 'redis'), producer: m('one', 'producer') },
    rows_per_s: { direct: (rows / m('direct', 'ms')) * 1000, one_worker: (rows / m('one', 'ms')) * 1000, two_workers: (rows / m('two', 'ms')) * 1000 },
    wall_overhead_pct: ((m('one', 'ms') - m('direct', 'ms')) / m('direct', 'ms')) * 100,
    cpu_overhead_pct: ((m('one', 'cpu') - m('direct', 'cpu')) / m('direct', 'cpu')) * 100,
    cpu_ms_per_job: (m('one', 'cpu') - m('direct', 'cpu')) / jobs,
    rounds: results,
  };
  console.log(JSON.stringify(summary, null, 2));
  if (args.json) writeFileSync(args.json, JSON.stringify(summary, null, 2));
} finally {
  // Whatever is left after an error (workers first: they would reconnect to a Redis that is gone).
  for (const c of children) if (c !== redis?.child && c.exitCode === null) c.kill('SIGKILL');
  redis?.child.kill('SIGTERM');
  await redis?.exited;
  rmSync(dir, { recursive: true, force: true });
}
