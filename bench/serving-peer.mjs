#!/usr/bin/env node
// The transformers.js contender of bench/serving.mjs: a node:http server with TEI's POST /embed
// shape that calls @huggingface/transformers' feature-extraction pipeline once per request (mean
// pooling, normalized), plus GET /health and GET /metrics (RSS and event loop delay, as the
// example server reports them). Loaded from bench/peers (bench/peers/setup.sh).
//
//   node bench/serving-peer.mjs --model DIR --port 0 --threads 2
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Histogram, PrometheusText } from '../dist/index.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    port: { type: 'string', default: '0' },
    threads: { type: 'string', default: '2' },
  },
});
const peers = createRequire(join(import.meta.dirname, 'peers', 'package.json'));
const { pipeline, env } = await import(pathToFileURL(peers.resolve('@huggingface/transformers')).href);
env.allowRemoteModels = false;
env.allowLocalModels = true;
const threads = Number(args.threads);
const extractor = await pipeline('feature-extraction', args.model, {
  local_files_only: true,
  dtype: 'fp32',
  use_external_data_format: true,
  session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
});

const loop = new Histogram([0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1, 2]);
let expected = performance.now() + 10;
setInterval(() => {
  const now = performance.now();
  loop.add(Math.max(0, now - expected) / 1000);
  expected = now + 10;
}, 10).unref();

function send(res, status, body, type = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && req.url === '/health') return send(res, 200, '');
    if (req.method === 'GET' && req.url === '/metrics') {
      const out = new PrometheusText();
      out.histogram('bertkit_event_loop_delay_seconds', 'How late a 10 ms timer fires.', loop.snapshot());
      out.gauge('process_resident_memory_bytes', 'Resident set size.', process.memoryUsage().rss);
      return send(res, 200, out.toString(), 'text/plain; version=0.0.4');
    }
    if (req.method !== 'POST' || req.url !== '/embed') return send(res, 404, { error: 'no route', error_type: 'validation' });
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const texts = typeof body.inputs === 'string' ? [body.inputs] : body.inputs;
    const out = await extractor(texts, { pooling: 'mean', normalize: body.normalize ?? true });
    send(res, 200, out.tolist());
  } catch (e) {
    send(res, 500, { error: String(e?.message ?? e), error_type: 'backend' });
  }
});
server.keepAliveTimeout = 65_000; // as the example server
server.listen(Number(args.port), '127.0.0.1', () => process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
