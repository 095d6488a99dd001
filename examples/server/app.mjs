// An HTTP server for one BERT model with Text Embeddings Inference's API (POST /, /embed,
// /embed_all, /similarity, /rerank, /predict, /tokenize, /decode; GET /health, /info, /metrics)
// and OpenAI's embeddings API (POST /v1/embeddings), on node:http and bertkit's batcher.
//
// createApp(options) loads nothing: give it a loaded model. main.mjs is the command line. This file
// is the HTTP plumbing (auth, bodies, errors, metrics, shutdown); the routes are in
// tei-routes.mjs and openai-routes.mjs, the model calls in engine.mjs.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { Histogram, PrometheusText, Reservoir, createBatcher, writeBatcherMetrics } from 'bertkit';
import { createAuth } from './auth.mjs';
import { createEngine } from './engine.mjs';
import { HttpError, openaiBody, openaiStatus, payloadTooLarge, teiBody, toHttpError, validation } from './errors.mjs';
import { RawJson } from './json.mjs';
import { openaiRoutes } from './openai-routes.mjs';
import { teiRoutes } from './tei-routes.mjs';

const LOOP_BUCKETS_S = [0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1, 2];
const HTTP_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * @param {object} o
 * @param {import('bertkit').BertModel} o.model
 * @param {import('bertkit').Tokenizer} o.tokenizer
 * @param {string} [o.modelId] TEI's `model_id` in /info (default 'bertkit')
 * @param {string} [o.servedModelName] the `model` OpenAI's responses name (default: modelId)
 * @param {string} [o.apiKey] when set, every route but health and metrics needs `Authorization: Bearer <key>`
 * @param {boolean} [o.batching] default true; false: one forward per request through the pipelines
 * @param {import('bertkit').BatcherOptions} [o.batcher]
 * @param {string[]} [o.pooling] embedding pooling (default ['mean'])
 * @param {Record<string, string>} [o.prompts] sentence-transformers prompts
 * @param {string|null} [o.defaultPromptName]
 * @param {number} [o.maxInputLength] tokens (default: the tokenizer's limit capped at the model's positions)
 * @param {number} [o.maxClientBatchSize] inputs per request (default 32)
 * @param {number} [o.payloadLimit] request body bytes (default 2,000,000)
 * @param {boolean} [o.autoTruncate] truncate when the request does not say (default false)
 * @param {number} [o.timeoutMs] per request, queueing included (default 30,000)
 */
export function createApp(o) {
  const { model, tokenizer } = o;
  const config = model.config;
  const batching = o.batching !== false;
  const pooling = o.pooling ?? ['mean'];
  const prompts = o.prompts ?? {};
  const maxInputLength = Math.min(o.maxInputLength ?? Infinity, tokenizer.modelMaxLength, config.max_position_embeddings);
  const maxClientBatchSize = o.maxClientBatchSize ?? 32;
  const payloadLimit = o.payloadLimit ?? 2_000_000;
  const autoTruncate = o.autoTruncate ?? false;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const modelId = o.modelId ?? 'bertkit';

  const batcher = batching
    ? createBatcher(model, { tokenizer, pooling, timeoutMs, maxLength: maxInputLength, ...o.batcher })
    : null;

  // ---- metrics ---------------------------------------------------------------------------------
  const started = Date.now();
  const httpCounts = new Map(); // `${route} ${status}` -> count
  const httpDurations = new Map(); // route -> Histogram
  const loopHistogram = new Histogram(LOOP_BUCKETS_S);
  const loopRecent = new Reservoir(1000);
  let inflight = 0;
  let shuttingDown = false;
  let idleResolve = null;

  // Event loop delay: how late a 10 ms timer fires.
  const LOOP_TICK_MS = 10;
  let expected = performance.now() + LOOP_TICK_MS;
  const loopTimer = setInterval(() => {
    const now = performance.now();
    const delay = Math.max(0, now - expected);
    expected = now + LOOP_TICK_MS;
    loopHistogram.add(delay / 1000);
    loopRecent.add(delay);
  }, LOOP_TICK_MS);
  loopTimer.unref();

  function count(route, status, seconds) {
    const key = `${route} ${status}`;
    httpCounts.set(key, (httpCounts.get(key) ?? 0) + 1);
    let h = httpDurations.get(route);
    if (!h) httpDurations.set(route, (h = new Histogram(HTTP_BUCKETS_S)));
    h.add(seconds);
  }

  function metrics() {
    const out = new PrometheusText();
    if (batcher) writeBatcherMetrics(out, batcher.stats());
    out.counter(
      'bertkit_http_requests_total',
      'HTTP requests by route and status.',
      [...httpCounts].map(([k, v]) => {
        const [route, status] = k.split(' ');
        return [{ route, status }, v];
      }),
    );
    for (const [route, h] of httpDurations) {
      out.histogram('bertkit_http_request_duration_seconds', 'HTTP request duration by route.', h.snapshot(), { route });
    }
    out.gauge('bertkit_http_inflight_requests', 'HTTP requests being handled.', inflight);
    out.histogram('bertkit_event_loop_delay_seconds', `How late a ${LOOP_TICK_MS} ms timer fires on the event loop.`, loopHistogram.snapshot());
    const recent = loopRecent.percentiles();
    out.gauge('bertkit_event_loop_delay_recent_seconds', 'Event loop delay over the last 1,000 samples (about 10 s).', [
      [{ quantile: '0.5' }, recent.p50 / 1000],
      [{ quantile: '0.99' }, recent.p99 / 1000],
      [{ quantile: '1' }, recent.max / 1000],
    ]);
    const mem = process.memoryUsage();
    out.gauge('process_resident_memory_bytes', 'Resident set size.', mem.rss);
    out.gauge('nodejs_heap_used_bytes', 'V8 heap in use.', mem.heapUsed);
    out.gauge('nodejs_external_memory_bytes', 'Memory of JavaScript-owned buffers outside the V8 heap.', mem.external + mem.arrayBuffers);
    out.gauge('process_uptime_seconds', 'Seconds since the server started.', (Date.now() - started) / 1000);
    return out.toString();
  }

  // ---- routes ---------------------------------------------------------------------------------
  const parts = {
    engine: createEngine({ model, tokenizer, batcher, pooling, maxInputLength, prompts, defaultPromptName: o.defaultPromptName ?? null }),
    model,
    tokenizer,
    batcher,
    pooling,
    modelId,
    servedModelName: o.servedModelName ?? modelId,
    maxInputLength,
    maxClientBatchSize,
    autoTruncate,
  };
  const tei = teiRoutes(parts);
  const info = tei.info;
  const ROUTES = { ...tei.routes, ...openaiRoutes(parts).routes };
  const GETS = ['GET /health', 'GET /', 'GET /ping', 'GET /info', 'GET /metrics'];
  const auth = createAuth(o.apiKey);
  // As TEI: health checks and metrics scrapers carry no credentials; everything else needs the key.
  const needsKey = (key) => auth !== null && (ROUTES[key] !== undefined || key === 'GET /info');

  // ---- HTTP -----------------------------------------------------------------------------------
  function send(res, status, body, headers = {}) {
    if (res.headersSent || res.destroyed) return;
    const text = body === undefined ? '' : typeof body === 'string' ? body : body instanceof RawJson ? body.text : JSON.stringify(body);
    const h = { 'content-length': Buffer.byteLength(text), ...headers };
    if (body !== undefined && !h['content-type']) h['content-type'] = 'application/json';
    if (shuttingDown) h.connection = 'close';
    res.writeHead(status, h);
    res.end(text);
  }

  function readBody(req) {
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length']);
      if (declared > payloadLimit) {
        reject(payloadTooLarge(`request body of ${declared} bytes is over the ${payloadLimit} byte limit`));
        return;
      }
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        size += c.length;
        if (size > payloadLimit) {
          reject(payloadTooLarge(`request body is over the ${payloadLimit} byte limit`));
          req.removeAllListeners('data');
          req.resume();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  /** OpenAI's clients get OpenAI's error shape, everyone else TEI's. */
  const isOpenAIPath = (path) => path === '/v1' || path.startsWith('/v1/') || path === '/embeddings';

  async function handle(req, res) {
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const key = `${req.method} ${path}`;
    let route = path;
    inflight++;
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new Error('the client closed the connection'));
    });
    let status = 500;
    try {
      if (needsKey(key)) auth(req);
      if (key === 'GET /health' || key === 'GET /' || key === 'GET /ping') {
        status = shuttingDown ? 503 : 200;
        if (shuttingDown) send(res, status, { error: 'shutting down', error_type: 'unhealthy' });
        else send(res, status);
      } else if (key === 'GET /info') {
        status = 200;
        send(res, status, info());
      } else if (key === 'GET /metrics') {
        status = 200;
        send(res, status, metrics(), { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      } else if (ROUTES[key]) {
        if (shuttingDown) throw new HttpError(503, 'unhealthy', 'the server is shutting down', { headers: { 'retry-after': '1' } });
        // Under overload, refuse before reading, parsing and tokenizing the body.
        batcher?.precheck();
        const text = await readBody(req);
        let body;
        try {
          body = JSON.parse(text);
        } catch (e) {
          throw new HttpError(400, 'validation', `Failed to parse the request body as JSON: ${e.message}`);
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw validation('the request body must be a JSON object');
        const result = await ROUTES[key](body, controller.signal);
        status = 200;
        send(res, status, result, { 'x-total-time': String(Math.round(performance.now() - t0)) });
      } else {
        route = 'other';
        const known = Object.keys(ROUTES).concat(GETS).some((k) => k.endsWith(` ${path}`));
        throw known
          ? new HttpError(405, 'validation', `${req.method} is not allowed on ${path}`, { code: 'method_not_allowed' })
          : new HttpError(404, 'validation', `no route ${req.method} ${path}`, { code: 'unknown_url' });
      }
    } catch (err) {
      const e = controller.signal.aborted ? null : toHttpError(err);
      if (e === null) {
        status = 499; // the client went away: nobody to answer
      } else {
        const openai = isOpenAIPath(path);
        status = openai ? openaiStatus(e) : e.status;
        // A body cut short by the limit: answer, then close the connection.
        const headers = e.code === 'payload_too_large' ? { ...e.headers, connection: 'close' } : e.headers;
        send(res, status, openai ? openaiBody(e) : teiBody(e), headers);
      }
    } finally {
      count(route, status, (performance.now() - t0) / 1000);
      inflight--;
      if (inflight === 0 && idleResolve) idleResolve();
    }
  }

  const server = http.createServer((req, res) => {
    void handle(req, res);
  });
  // Longer than the idle timeout of clients and load balancers, so that an idle connection is not
  // closed by the server just as a client reuses it.
  server.keepAliveTimeout = 65_000;

  /** Stops taking requests, finishes the ones in flight, then releases the model. */
  async function shutdown({ deadlineMs = 30_000 } = {}) {
    if (shuttingDown) return;
    shuttingDown = true;
    const closed = new Promise((resolve) => server.close(() => resolve()));
    server.closeIdleConnections?.();
    const drained = inflight === 0 ? Promise.resolve() : new Promise((resolve) => (idleResolve = resolve));
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`shutdown did not finish within ${deadlineMs} ms`)), deadlineMs);
    });
    try {
      await Promise.race([drained.then(() => batcher?.close()), deadline]);
    } finally {
      clearTimeout(timer);
      clearInterval(loopTimer);
      server.closeAllConnections?.();
      await closed;
    }
  }

  return { server, batcher, shutdown, metrics, info, get inflight() { return inflight; } };
}
