// An HTTP server for one BERT model with Text Embeddings Inference's API (POST /embed, /rerank,
// /predict, /tokenize; GET /health, /info, /metrics), on node:http and bertkit's batcher.
//
// createApp(options) loads nothing: give it a loaded model. main.mjs is the command line.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  AbortedError,
  BertError,
  DisposedError,
  Histogram,
  InvalidInputError,
  OverloadedError,
  PrometheusText,
  Reservoir,
  TimeoutError,
  VERSION,
  createBatcher,
  pipeline,
  writeBatcherMetrics,
} from 'bertkit';

/** An error answered as TEI does: `{ error, error_type }` with a status. */
class HttpError extends Error {
  constructor(status, type, message, headers = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.headers = headers;
  }
}

/** A response body already serialized. */
class RawJson {
  constructor(text) {
    this.text = text;
  }
}

/** A Float32Array as JSON (NaN and infinities become null, as JSON.stringify writes them). */
function vectorJson(v) {
  const text = Array.prototype.join.call(v, ',');
  return /[NI]/.test(text) ? JSON.stringify(Array.from(v)) : `[${text}]`;
}

const validation = (message) => new HttpError(422, 'validation', message);
const tooLarge = (message) => new HttpError(413, 'validation', message);
const empty = (message) => new HttpError(400, 'empty', message);

const LOOP_BUCKETS_S = [0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1, 2];
const HTTP_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * @param {object} o
 * @param {import('bertkit').BertModel} o.model
 * @param {import('bertkit').Tokenizer} o.tokenizer
 * @param {string} [o.modelId]
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
  const isClassifier = model.architecture === 'BertForSequenceClassification';
  const isReranker = isClassifier && config.num_labels === 1;

  const batcher = batching
    ? createBatcher(model, { tokenizer, pooling, timeoutMs, maxLength: maxInputLength, ...o.batcher })
    : null;
  const direct = batching ? null : directEngine(model, tokenizer, pooling);

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

  // ---- request helpers ------------------------------------------------------------------------
  function checkBool(x, name, fallback) {
    if (x === undefined || x === null) return fallback;
    if (typeof x !== 'boolean') throw validation(`\`${name}\` must be a boolean`);
    return x;
  }

  function truncationSide(x) {
    if (x === undefined || x === null) return 'right';
    if (typeof x === 'string' && /^(left|right)$/i.test(x)) return x.toLowerCase();
    throw validation('`truncation_direction` must be "Left" or "Right"');
  }

  /** `inputs`: a string or a non-empty array of strings. */
  function stringInputs(x, name = 'inputs') {
    if (typeof x === 'string') return { list: [x], batched: false };
    if (!Array.isArray(x)) throw validation(`\`${name}\` must be a string or an array of strings`);
    if (x.length === 0) throw empty(`\`${name}\` cannot be empty`);
    for (const s of x) if (typeof s !== 'string') throw validation(`\`${name}\` must be a string or an array of strings`);
    return { list: x, batched: true };
  }

  function checkBatchSize(n) {
    if (n > maxClientBatchSize) throw tooLarge(`batch size ${n} > maximum allowed batch size ${maxClientBatchSize}`);
  }

  function promptFor(name) {
    const key = name ?? o.defaultPromptName ?? null;
    if (key === null || key === undefined) return '';
    if (typeof key !== 'string') throw validation('`prompt_name` must be a string');
    const p = prompts[key];
    if (p === undefined) throw validation(`\`prompt_name\` ${JSON.stringify(key)} is not one of the model's prompts (${Object.keys(prompts).join(', ') || 'none'})`);
    return p;
  }

  /** Tokenizes and checks lengths: 413 for an input over the limit unless truncating. */
  function encode(items, { truncate, side, addSpecialTokens = true }) {
    const options = truncate
      ? { padding: false, truncation: true, maxLength: maxInputLength, truncationSide: side, addSpecialTokens, returnOverflowing: false }
      : { padding: false, truncation: false, addSpecialTokens, returnOverflowing: false };
    const encodings = tokenizer.encodeBatch(items, options).encodings;
    for (const e of encodings) {
      if (e.length > maxInputLength) throw tooLarge(`\`inputs\` must have less than ${maxInputLength} tokens. Given: ${e.length}`);
    }
    return encodings;
  }

  // ---- routes ---------------------------------------------------------------------------------
  async function embed(body, signal) {
    const { list, batched } = stringInputs(body.inputs);
    checkBatchSize(list.length);
    const truncate = checkBool(body.truncate, 'truncate', autoTruncate);
    const normalize = checkBool(body.normalize, 'normalize', true);
    const side = truncationSide(body.truncation_direction);
    let dimensions;
    if (body.dimensions !== undefined && body.dimensions !== null) {
      if (!Number.isInteger(body.dimensions) || body.dimensions < 1) throw validation('`dimensions` must be a positive integer');
      dimensions = body.dimensions;
    }
    const prompt = promptFor(body.prompt_name);
    const encodings = encode(prompt ? list.map((t) => prompt + t) : list, { truncate, side });
    const vectors = batcher
      ? await batcher.embed(encodings, { normalize, dimensions, signal })
      : await direct.embed(encodings, { normalize, dimensions, signal });
    void batched; // TEI answers a list of vectors for a single input too
    // JSON by hand: numbers print as JSON.stringify prints them, without an intermediate array.
    return new RawJson(`[${vectors.map(vectorJson).join(',')}]`);
  }

  /** TEI's predict input: a string, a pair [a, b], or a batch [[a], [a, b], ...]. */
  function predictInputs(x) {
    if (typeof x === 'string') return { list: [x], batched: false };
    const bad = () => validation('`inputs` must be a string, a pair of strings [string, string] or a batch of mixed strings and pairs [[string], [string, string], ...]');
    if (!Array.isArray(x)) throw bad();
    if (x.length === 0) throw empty('`inputs` cannot be empty');
    if (typeof x[0] === 'string') {
      if (x.length > 2 || !x.every((s) => typeof s === 'string')) throw bad();
      return { list: [x.length === 2 ? [x[0], x[1]] : x[0]], batched: false };
    }
    const list = x.map((seq) => {
      if (!Array.isArray(seq) || seq.length < 1 || seq.length > 2 || !seq.every((s) => typeof s === 'string')) throw bad();
      return seq.length === 2 ? [seq[0], seq[1]] : seq[0];
    });
    return { list, batched: true };
  }

  async function predict(body, signal) {
    if (!isClassifier) throw new HttpError(424, 'backend', `model is not a classifier model (it is ${model.architecture})`);
    const { list, batched } = predictInputs(body.inputs);
    checkBatchSize(list.length);
    const truncate = checkBool(body.truncate, 'truncate', autoTruncate);
    const raw = checkBool(body.raw_scores, 'raw_scores', false);
    const side = truncationSide(body.truncation_direction);
    // TEI: softmax over several labels, sigmoid for one, or the raw logits.
    const fn = raw ? 'none' : config.num_labels > 1 ? 'softmax' : 'sigmoid';
    const encodings = encode(list, { truncate, side });
    const scores = batcher
      ? await batcher.classify(encodings, { functionToApply: fn, signal })
      : await direct.classify(list, encodings, { functionToApply: fn, truncate, side, signal });
    const out = scores.map((labels) => labels.map(({ label, score }) => ({ score, label })));
    return batched ? out : out[0];
  }

  async function rerank(body, signal) {
    if (!isReranker) throw new HttpError(424, 'backend', `model is not a re-ranker model (a sequence classifier with one label; it is ${model.architecture} with ${config.num_labels} labels)`);
    if (typeof body.query !== 'string') throw validation('`query` must be a string');
    const { list } = stringInputs(body.texts, 'texts');
    checkBatchSize(list.length);
    const truncate = checkBool(body.truncate, 'truncate', autoTruncate);
    const raw = checkBool(body.raw_scores, 'raw_scores', false);
    const returnText = checkBool(body.return_text, 'return_text', false);
    const side = truncationSide(body.truncation_direction);
    const encodings = encode(list.map((t) => [body.query, t]), { truncate, side });
    const fn = raw ? 'none' : 'sigmoid';
    const scores = batcher
      ? (await batcher.classify(encodings, { functionToApply: fn, signal })).map((labels) => labels[0].score)
      : await direct.rerank(body.query, list, encodings, { activation: fn, truncate, signal });
    const ranks = scores.map((score, index) => (returnText ? { index, text: list[index], score } : { index, score }));
    ranks.sort((a, b) => b.score - a.score || a.index - b.index);
    return ranks;
  }

  function tokenize(body) {
    const { list } = stringInputs(body.inputs);
    checkBatchSize(list.length);
    const addSpecialTokens = checkBool(body.add_special_tokens, 'add_special_tokens', true);
    const prompt = promptFor(body.prompt_name);
    const texts = prompt ? list.map((t) => prompt + t) : list;
    const encodings = tokenizer.encodeBatch(texts, { padding: false, truncation: false, addSpecialTokens, returnOverflowing: false }).encodings;
    return encodings.map((e, i) => {
      const text = texts[i];
      const special = e.specialTokensMask;
      const offsets = e.offsets;
      const tokens = e.tokens;
      const ids = e.ids;
      const out = new Array(e.length);
      for (let k = 0; k < e.length; k++) {
        if (special[k]) {
          out[k] = { id: ids[k], text: tokens[k], special: true, start: null, stop: null };
        } else {
          // TEI reports UTF-8 byte offsets into the input.
          const [s, t] = offsets[k];
          const start = Buffer.byteLength(text.slice(0, s));
          out[k] = { id: ids[k], text: text.slice(s, t), special: false, start, stop: start + Buffer.byteLength(text.slice(s, t)) };
        }
      }
      return out;
    });
  }

  function info() {
    const modelType = isClassifier
      ? { [isReranker ? 'reranker' : 'classifier']: { id2label: Object.fromEntries(Object.entries(config.id2label)) } }
      : { embedding: { pooling: pooling.join('+') } };
    return {
      model_id: o.modelId ?? null,
      model_sha: null,
      model_dtype: model.backend.dtype,
      model_type: modelType,
      max_concurrent_requests: batcher?.maxConcurrentRequests ?? null,
      max_input_length: maxInputLength,
      max_batch_tokens: batcher?.maxBatchTokens ?? null,
      max_batch_requests: batcher?.maxBatchSize ?? null,
      max_client_batch_size: maxClientBatchSize,
      auto_truncate: autoTruncate,
      tokenization_workers: 1,
      batching,
      version: VERSION,
      sha: null,
      docker_label: null,
    };
  }

  const ROUTES = {
    'POST /embed': embed,
    'POST /predict': predict,
    'POST /rerank': rerank,
    'POST /tokenize': tokenize,
  };

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

  function errorResponse(err) {
    if (err instanceof HttpError) return err;
    if (err instanceof OverloadedError) {
      return new HttpError(503, 'overloaded', err.message, { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
    }
    if (err instanceof TimeoutError) return new HttpError(503, 'timeout', err.message, { 'retry-after': '1' });
    if (err instanceof DisposedError) return new HttpError(503, 'unhealthy', 'the server is shutting down');
    if (err instanceof InvalidInputError) return new HttpError(422, 'validation', err.message);
    if (err instanceof BertError) return new HttpError(500, 'backend', `${err.name}: ${err.message}`);
    return new HttpError(500, 'backend', String(err?.message ?? err));
  }

  function readBody(req) {
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length']);
      if (declared > payloadLimit) {
        reject(tooLarge(`request body of ${declared} bytes is over the ${payloadLimit} byte limit`));
        return;
      }
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        size += c.length;
        if (size > payloadLimit) {
          reject(tooLarge(`request body is over the ${payloadLimit} byte limit`));
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
      if (key === 'GET /health') {
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
        if (shuttingDown) throw new HttpError(503, 'unhealthy', 'the server is shutting down', { 'retry-after': '1' });
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
        const known = Object.keys(ROUTES).concat(['GET /health', 'GET /info', 'GET /metrics']).some((k) => k.endsWith(` ${path}`));
        throw new HttpError(known ? 405 : 404, 'validation', known ? `${req.method} is not allowed on ${path}` : `no route ${path}`);
      }
    } catch (err) {
      if (err instanceof AbortedError || controller.signal.aborted) {
        status = 499; // the client went away: nobody to answer
      } else {
        const e = errorResponse(err);
        status = e.status;
        // A body cut short by the limit: answer, then close the connection.
        const headers = e.status === 413 ? { ...e.headers, connection: 'close' } : e.headers;
        send(res, e.status, { error: e.message, error_type: e.type }, headers);
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

/**
 * One forward per request, through the pipelines: what a server without the batcher does (the
 * model's own queue serializes the forwards; no admission control, no timeouts).
 */
function directEngine(model, tokenizer, pooling) {
  const pipes = {};
  const get = async (task, options = {}) => (pipes[task] ??= await pipeline(task, model, { tokenizer, ...options }));
  return {
    async embed(encodings, { normalize, dimensions }) {
      const st = await get('sentence-embeddings', { pooling });
      const input = { inputIds: encodings.map((e) => e.ids), tokenTypeIds: encodings.map((e) => e.typeIds) };
      let out = await st(input, { normalize: normalize && !dimensions, batchSize: encodings.length });
      if (dimensions) {
        out = out.map((v) => {
          const d = v.slice(0, dimensions);
          if (!normalize) return d;
          const n = Math.max(Math.hypot(...d), 1e-12);
          return d.map((x) => x / n);
        });
      }
      return out;
    },
    async classify(list, _encodings, { functionToApply, truncate, side }) {
      const cls = await get('text-classification');
      const inputs = list.map((x) => (Array.isArray(x) ? { text: x[0], textPair: x[1] } : x));
      const tokenizeOptions = truncate ? { truncation: true, maxLength: model.config.max_position_embeddings, truncationSide: side } : undefined;
      return cls(inputs, { topK: null, functionToApply, batchSize: inputs.length, ...(tokenizeOptions ? { tokenizeOptions } : {}) });
    },
    async rerank(query, list, _encodings, { activation }) {
      const rr = await get('rerank');
      const ranked = await rr(query, list, { activation, batchSize: list.length });
      const scores = new Array(list.length);
      for (const r of ranked) scores[r.corpusId] = r.score;
      return scores;
    },
  };
}
