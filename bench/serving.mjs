#!/usr/bin/env node
// Serving benchmark: an open-loop load generator on 127.0.0.1 against the example server
// (examples/server) with the batcher, the same server without it (--batching off: one forward per
// request through the pipelines), and transformers.js called per request (bench/serving-peer.mjs).
// Every contender is its own process, started fresh for each phase and stopped after it; the
// contenders alternate within each round and the figures reported are medians over rounds.
//
//   npm run build:ts && node bench/serving.mjs --model /tmp/models/bert-small [--rounds 3]
//     [--duration 10] [--contenders batched,direct,transformers.js] [--threads 2]
//     [--timeout-ms N] [--max-batch-tokens N] [--max-wait-ms N] [--capacity R] [--json FILE]
//
// Load: one text per request (POST /embed {inputs, truncate: true}), Poisson arrivals at a fixed
// rate (open loop: a request is sent at its time whatever is outstanding; latency counts from that
// time), texts of random vocabulary words, 60% queries (lognormal word count, median 8) and 40%
// passages (median 60, at most 350 words). Phases, from C = the batched server's capacity
// (measured first, closed loop, unless --capacity is given):
//   half      offered 0.5 C, every contender
//   saturate  offered 1.25 C, every contender: throughput = 200 responses within the arrival window / its length
//   overload  offered 3 C, the batched server only: rejections, latency of the admitted, memory
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    contenders: { type: 'string', default: 'batched,direct,transformers.js' },
    phases: { type: 'string', default: 'half,saturate,overload' },
    threads: { type: 'string', default: '2' },
    'timeout-ms': { type: 'string' },
    'max-batch-tokens': { type: 'string' },
    'max-wait-ms': { type: 'string', default: '2' },
    'max-concurrent-requests': { type: 'string', default: '4096' },
    capacity: { type: 'string' },
    seed: { type: 'string', default: '1' },
    json: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
if (!args.model) {
  console.error('usage: node bench/serving.mjs --model DIR [--rounds 3] [--duration 10] ...');
  process.exit(2);
}
const root = join(import.meta.dirname, '..');
const rounds = Number(args.rounds);
const duration = Number(args.duration);
const contenders = args.contenders.split(',');
const phases = args.phases.split(',');
const log = (...a) => args.quiet || console.error(...a);

// ---- texts ----------------------------------------------------------------------------------------
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

function makeTexts(count, seed) {
  const r = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return Array.from({ length: count }, () => {
    const passage = r() < 0.4;
    const n = Math.max(1, Math.min(350, Math.round((passage ? 60 : 8) * Math.exp((passage ? 0.6 : 0.5) * normal()))));
    return Array.from({ length: n }, () => words[Math.floor(r() * words.length)]).join(' ');
  });
}

// ---- processes --------------------------------------------------------------------------------------
function commandFor(contender, port = 0) {
  const threads = args.threads;
  if (contender === 'transformers.js') return ['bench/serving-peer.mjs', '--model', args.model, '--port', String(port), '--threads', threads];
  const a = ['examples/server/main.mjs', '--model', args.model, '--port', String(port), '--threads', threads, '--max-client-batch-size', '64'];
  if (contender === 'direct') a.push('--batching', 'off');
  else {
    a.push('--max-wait-ms', args['max-wait-ms'], '--max-concurrent-requests', args['max-concurrent-requests']);
    if (args['max-batch-tokens']) a.push('--max-batch-tokens', args['max-batch-tokens']);
  }
  if (args['timeout-ms']) a.push('--timeout-ms', args['timeout-ms']);
  return a;
}

async function startServer(contender) {
  const t0 = performance.now();
  const child = spawn(process.execPath, commandFor(contender), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`${contender} exited (${code}) before listening:\n${stderr}`)));
  });
  return { child, url, loadMs: performance.now() - t0, stderr: () => stderr };
}

/** SIGTERM, and how long the server takes to exit (SIGKILL after `graceMs`). */
async function stopServer(server, graceMs) {
  const t0 = performance.now();
  const exited = new Promise((resolve) => server.child.once('exit', (code, signal) => resolve({ code, signal })));
  server.child.kill('SIGTERM');
  let timer;
  const killed = new Promise((resolve) => {
    timer = setTimeout(() => {
      server.child.kill('SIGKILL');
      resolve(null);
    }, graceMs);
  });
  const first = await Promise.race([exited, killed]);
  clearTimeout(timer);
  const result = first ?? (await exited);
  return { ...result, ms: performance.now() - t0, forced: first === null };
}

function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// ---- HTTP -----------------------------------------------------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 4096, maxFreeSockets: 4096 });

function request(url, method, path, body) {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(new URL(path, url), { method, agent, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), end: performance.now() }));
      res.on('error', (e) => resolve({ status: 0, error: e.message, end: performance.now() }));
    });
    req.on('error', (e) => resolve({ status: 0, error: e.message, end: performance.now() }));
    req.end(data);
  });
}

/** Parses a Prometheus text into name{labels} -> value. */
function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

async function scrape(url) {
  const r = await request(url, 'GET', '/metrics');
  return r.status === 200 ? parseMetrics(r.body) : new Map();
}

/** A quantile from the difference of two scrapes of a cumulative histogram (linear within a bucket). */
function histogramQuantile(before, after, name, q) {
  const buckets = [];
  for (const [k, v] of after) {
    const m = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"`).exec(k);
    if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), v - (before.get(k) ?? 0)]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (!total) return null;
  const target = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of buckets) {
    if (c >= target) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (target - prevCount)) / Math.max(1, c - prevCount);
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

function delta(before, after, key) {
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

// ---- load ---------------------------------------------------------------------------------------------------
/** Open loop: Poisson arrivals at `rate` for `seconds`; waits up to `graceMs` for the last answers. */
async function openLoop(url, rate, seconds, texts, seed, graceMs, onTick) {
  const r = rng(seed);
  const times = [];
  for (let t = -Math.log(1 - r()) / rate; t < seconds; t += -Math.log(1 - r()) / rate) times.push(t * 1000);
  const results = new Array(times.length);
  const start = performance.now() + 20;
  let next = 0;
  let outstanding = 0;
  let allSent;
  const sentAll = new Promise((resolve) => (allSent = resolve));
  const fire = (i) => {
    outstanding++;
    const at = start + times[i];
    request(url, 'POST', '/embed', { inputs: texts[i % texts.length], truncate: true }).then((res) => {
      outstanding--;
      results[i] = { at, ...res, latency: res.end - at };
    });
  };
  const tick = () => {
    const now = performance.now();
    while (next < times.length && start + times[next] <= now) fire(next++);
    onTick?.();
    if (next < times.length) setTimeout(tick, Math.max(0, Math.min(5, start + times[next] - performance.now())));
    else allSent();
  };
  setTimeout(tick, 20);
  await sentAll;
  const windowEnd = start + seconds * 1000;
  const deadline = performance.now() + graceMs;
  while (outstanding > 0 && performance.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  // What came back by now (answers that arrive after the server is stopped are not counted).
  return { start, windowEnd, sent: times.length, results: results.slice(), unanswered: outstanding };
}

/** Closed loop with `concurrency` clients for `seconds`: requests per second answered 200. */
async function closedLoop(url, concurrency, seconds, texts) {
  const end = performance.now() + seconds * 1000;
  let ok = 0;
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const res = await request(url, 'POST', '/embed', { inputs: texts[i++ % texts.length], truncate: true });
        if (res.status === 200) ok++;
      }
    }),
  );
  return ok / seconds;
}

function summarize(run, contender, phase, rate, metricsBefore, metricsAfter, rss, stop, loadMs) {
  const ok = [];
  const rejected = [];
  let timeouts = 0;
  let errors = 0;
  let okInWindow = 0;
  const errorSamples = new Set();
  for (const r of run.results) {
    if (!r) continue;
    if (r.status === 200) {
      ok.push(r.latency);
      if (r.end <= run.windowEnd) okInWindow++;
    } else if (r.status === 503) {
      if (/"error_type":"timeout"/.test(r.body)) timeouts++;
      else rejected.push(r.latency);
    } else {
      errors++;
      if (errorSamples.size < 3) errorSamples.add(`${r.status} ${r.error ?? r.body?.slice(0, 120)}`);
    }
  }
  ok.sort((a, b) => a - b);
  rejected.sort((a, b) => a - b);
  const b = metricsBefore;
  const a = metricsAfter;
  const batches = delta(b, a, 'bertkit_batcher_batches_total');
  return {
    contender,
    phase,
    offered: rate,
    sent: run.sent,
    ok: ok.length,
    throughput: okInWindow / (duration),
    p50: percentile(ok, 0.5),
    p99: percentile(ok, 0.99),
    rejected: rejected.length,
    rejectP99: percentile(rejected, 0.99),
    timeouts,
    errors,
    errorSamples: [...errorSamples],
    unanswered: run.unanswered,
    loopP99: histogramQuantile(b, a, 'bertkit_event_loop_delay_seconds', 0.99),
    loopMax: histogramQuantile(b, a, 'bertkit_event_loop_delay_seconds', 1),
    batches,
    meanBatch: batches ? delta(b, a, 'bertkit_batcher_sequences_total') / batches : null,
    meanForwardMs: batches ? (delta(b, a, 'bertkit_batcher_forward_duration_seconds_sum') / batches) * 1000 : null,
    forwardP99Ms: batches ? histogramQuantile(b, a, 'bertkit_batcher_forward_duration_seconds', 0.99) * 1000 : null,
    rssStart: rss.start,
    rssMax: rss.max,
    rssEnd: rss.end,
    loadMs,
    shutdownMs: stop.ms,
    shutdownForced: stop.forced,
    exitCode: stop.code,
  };
}

async function runPhase(contender, phase, rate, texts, seed) {
  const server = await startServer(contender);
  // Warm up: a few requests of every length class.
  await Promise.all(texts.slice(0, 16).map((t) => request(server.url, 'POST', '/embed', { inputs: t, truncate: true })));
  const before = await scrape(server.url);
  const rss = { start: rssOf(server.child.pid), max: 0, end: 0 };
  let lastSample = 0;
  const sample = () => {
    const now = performance.now();
    if (now - lastSample < 200) return;
    lastSample = now;
    rss.max = Math.max(rss.max, rssOf(server.child.pid));
  };
  const timeoutMs = Number(args['timeout-ms'] ?? 30000);
  // The batched server answers everything within its timeout; the others keep a backlog past
  // saturation, counted as unanswered when the server is stopped.
  const grace = contender === 'batched' ? timeoutMs + 3000 : 3000;
  const run = await openLoop(server.url, rate, duration, texts, seed, grace, sample);
  rss.end = rssOf(server.child.pid);
  rss.max = Math.max(rss.max, rss.end);
  const after = await scrape(server.url);
  // Graceful shutdown is part of what is measured for the batched server; the others may hold a backlog.
  const stop = await stopServer(server, contender === 'batched' ? 30000 : 2000);
  return summarize(run, contender, phase, rate, before, after, rss, stop, server.loadMs);
}

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

// ---- main ---------------------------------------------------------------------------------------------------
const texts = makeTexts(20000, Number(args.seed));
const tokenCounts = texts.map((t) => t.split(' ').length + 2).sort((a, b) => a - b);
log(`texts: mean ${(tokenCounts.reduce((a, b) => a + b, 0) / tokenCounts.length).toFixed(1)} tokens, p50 ${percentile(tokenCounts, 0.5)}, p90 ${percentile(tokenCounts, 0.9)}, p99 ${percentile(tokenCounts, 0.99)}`);

let capacity = args.capacity ? Number(args.capacity) : null;
if (capacity === null) {
  const server = await startServer('batched');
  await closedLoop(server.url, 64, 2, texts);
  capacity = await closedLoop(server.url, 256, 8, texts);
  await stopServer(server, 30000);
  log(`batched capacity (closed loop, 256 clients): ${capacity.toFixed(1)} requests/s`);
}
const rates = { half: 0.5 * capacity, saturate: 1.25 * capacity, overload: 3 * capacity };
const results = [];
for (let round = 0; round < rounds; round++) {
  for (const phase of phases) {
    const who = phase === 'overload' ? contenders.filter((c) => c === 'batched') : contenders;
    // Rotate the order each round.
    const order = who.map((_, i) => who[(i + round) % who.length]);
    for (const contender of order) {
      const rate = rates[phase];
      const r = await runPhase(contender, phase, rate, texts, Number(args.seed) * 1000 + round);
      r.round = round;
      results.push(r);
      log(
        `round ${round} ${phase.padEnd(8)} ${contender.padEnd(15)} offered ${rate.toFixed(0).padStart(5)}/s  ok ${r.throughput.toFixed(1).padStart(6)}/s  p50 ${r.p50?.toFixed(0)} ms  p99 ${r.p99?.toFixed(0)} ms  rejected ${r.rejected} (p99 ${r.rejectP99?.toFixed(0) ?? '-'} ms)  timeouts ${r.timeouts}  errors ${r.errors}  unanswered ${r.unanswered}  loop p99 ${r.loopP99 === null ? '-' : (r.loopP99 * 1000).toFixed(1)} ms  batch ${r.meanBatch?.toFixed(1) ?? '-'}  fwd ${r.meanForwardMs?.toFixed(0) ?? '-'} ms  rss ${(r.rssStart / 2 ** 20).toFixed(0)}→${(r.rssMax / 2 ** 20).toFixed(0)} MB  stop ${r.shutdownMs.toFixed(0)} ms${r.shutdownForced ? ' (killed)' : ''}${r.errorSamples.length ? '  ' + r.errorSamples.join(' | ') : ''}`,
      );
    }
  }
}

// Medians over rounds, and per-round throughput ratios.
const table = [];
for (const phase of phases) {
  for (const contender of contenders) {
    const rs = results.filter((r) => r.phase === phase && r.contender === contender);
    if (!rs.length) continue;
    const row = { phase, contender, offered: rs[0].offered };
    for (const k of ['throughput', 'p50', 'p99', 'rejected', 'rejectP99', 'timeouts', 'errors', 'unanswered', 'loopP99', 'meanBatch', 'meanForwardMs', 'forwardP99Ms', 'rssMax', 'shutdownMs']) row[k] = median(rs.map((r) => r[k]));
    row.loopP99Max = Math.max(...rs.map((r) => r.loopP99 ?? 0));
    table.push(row);
  }
}
const ratios = {};
for (const other of contenders.filter((c) => c !== 'batched')) {
  const per = [];
  for (let round = 0; round < rounds; round++) {
    const b = results.find((r) => r.phase === 'saturate' && r.contender === 'batched' && r.round === round);
    const o = results.find((r) => r.phase === 'saturate' && r.contender === other && r.round === round);
    if (b && o && o.throughput > 0) per.push(b.throughput / o.throughput);
  }
  ratios[other] = { perRound: per, median: median(per) };
}

const fmt = (x, d = 0) => (x === null || x === undefined ? '–' : x.toFixed(d));
console.log(`\nmodel ${args.model}; ${rounds} rounds of ${duration} s per phase; batched capacity C = ${capacity.toFixed(1)} req/s`);
console.log('| phase | contender | offered req/s | throughput req/s | p50 ms | p99 ms | rejected (503) | rejection p99 ms | timeouts | errors | unanswered | loop delay p99 ms (worst round) | mean batch | forward mean / p99 ms | RSS max MB |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of table) {
  console.log(
    `| ${r.phase} | ${r.contender} | ${fmt(r.offered)} | ${fmt(r.throughput, 1)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.rejected)} | ${fmt(r.rejectP99)} | ${fmt(r.timeouts)} | ${fmt(r.errors)} | ${fmt(r.unanswered)} | ${r.loopP99 === null ? '–' : `${fmt(r.loopP99 * 1000, 1)} (${fmt(r.loopP99Max * 1000, 1)})`} | ${fmt(r.meanBatch, 1)} | ${r.meanForwardMs === null ? '–' : `${fmt(r.meanForwardMs)} / ${fmt(r.forwardP99Ms)}`} | ${fmt(r.rssMax / 2 ** 20)} |`,
  );
}
for (const [other, r] of Object.entries(ratios)) console.log(`saturated throughput, batched ÷ ${other}: median ${fmt(r.median, 2)}× (rounds: ${r.perRound.map((x) => x.toFixed(2)).join(', ')})`);
if (args.json) writeFileSync(args.json, JSON.stringify({ model: args.model, args, capacity, rates, results, table, ratios }, null, 2));
agent.destroy();
