#!/usr/bin/env node
// Soak test: 100,000 requests against the example server (batched), the server's RSS sampled
// throughout. Closed loop with --concurrency clients; texts of random vocabulary words with the
// lengths of bench/serving.mjs; 1% of the requests are abandoned by their client mid-flight and
// 1% are too long (413), so the error paths are soaked too. Every request must get an answer.
//
//   npm run build:ts && node bench/soak.mjs --model /tmp/models/bert-small [--requests 100000]
//     [--concurrency 64] [--threads 2] [--json FILE]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    requests: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
    json: { type: 'string' },
  },
});
if (!args.model) {
  console.error('usage: node bench/soak.mjs --model DIR [--requests 100000] [--concurrency 64]');
  process.exit(2);
}
const total = Number(args.requests);
const root = join(import.meta.dirname, '..');

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const words = readFileSync(join(args.model, 'vocab.txt'), 'utf8').split('\n').filter((w) => /^[a-z]{2,}$/.test(w));
const r = rng(7);
const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
const maxLen = JSON.parse(readFileSync(join(args.model, 'config.json'), 'utf8')).max_position_embeddings;
const texts = Array.from({ length: 5000 }, () => {
  const passage = r() < 0.4;
  const n = Math.max(1, Math.min(Math.min(350, maxLen - 2), Math.round((passage ? 60 : 8) * Math.exp((passage ? 0.6 : 0.5) * normal()))));
  return Array.from({ length: n }, () => words[Math.floor(r() * words.length)]).join(' ');
});
const tooLong = Array.from({ length: maxLen + 10 }, () => words[0]).join(' ');

const child = spawn(process.execPath, ['examples/server/main.mjs', '--model', args.model, '--port', '0', '--threads', args.threads, '--max-concurrent-requests', '4096'], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((resolve, reject) => {
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) resolve(m[1]);
  });
  child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
});

function rss() {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
function post(body, abandon) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request(new URL('/embed', url), { method: 'POST', agent: abandon ? false : agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(abandon ? 'abandoned' : 'error'));
    req.end(data, () => abandon && setTimeout(() => req.destroy(), 1));
  });
}

const counts = {};
const samples = [];
let done = 0;
let next = 0;
const t0 = performance.now();
const checkpoints = new Set([1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((p) => Math.round((p / 100) * total)));
let heap = { heapMB: null, externalMB: null };
const sampler = setInterval(() => samples.push({ t: (performance.now() - t0) / 1000, done, rss: rss(), ...heap }), 1000);
// The server's V8 heap and JavaScript-owned buffers, from /metrics every 2 s.
const scraper = setInterval(() => {
  http.get(new URL('/metrics', url), { agent }, (res) => {
    let text = '';
    res.on('data', (d) => (text += d));
    res.on('end', () => {
      const get = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
      heap = { heapMB: get('nodejs_heap_used_bytes'), externalMB: get('nodejs_external_memory_bytes') };
    });
  });
}, 2000);
const marks = [];
await Promise.all(
  Array.from({ length: Number(args.concurrency) }, async () => {
    while (next < total) {
      const i = next++;
      const kind = i % 100 === 37 ? 'abandon' : i % 100 === 73 ? 'long' : 'ok';
      const status = await post({ inputs: kind === 'long' ? tooLong : texts[i % texts.length], truncate: false }, kind === 'abandon');
      counts[`${kind} ${status}`] = (counts[`${kind} ${status}`] ?? 0) + 1;
      done++;
      if (checkpoints.has(done)) {
        marks.push({ requests: done, seconds: (performance.now() - t0) / 1000, rssMB: rss(), ...heap });
        console.error(`${String(done).padStart(7)} requests  ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s  RSS ${rss().toFixed(0)} MB  heap ${heap.heapMB?.toFixed(0)} MB  buffers ${heap.externalMB?.toFixed(0)} MB`);
      }
    }
  }),
);
clearInterval(sampler);
clearInterval(scraper);
const seconds = (performance.now() - t0) / 1000;
child.kill('SIGTERM');
const code = await new Promise((resolve) => child.once('exit', resolve));
agent.destroy();

const at = (frac) => marks.find((m) => m.requests >= frac * total)?.rssMB;
const summary = {
  model: args.model,
  requests: total,
  seconds,
  requestsPerSecond: total / seconds,
  counts,
  rssMB: { at10k: at(0.1), at20pct: at(0.2), at50pct: at(0.5), end: at(1), max: Math.max(...samples.map((s) => s.rss)) },
  growthFrom20pctMB: at(1) - at(0.2),
  exitCode: code,
  marks,
};
console.log(JSON.stringify(summary, null, 2));
if (args.json) writeFileSync(args.json, JSON.stringify({ ...summary, samples }, null, 2));
