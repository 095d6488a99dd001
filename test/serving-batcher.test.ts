/**
 * The batcher: concurrent calls merged into packed forwards, each caller getting exactly what a
 * lone call gives; admission control, abort, timeouts, close, stats and metrics.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  AbortedError,
  BertModel,
  DisposedError,
  InvalidInputError,
  OverloadedError,
  TimeoutError,
  UnsupportedModelError,
  createBatcher,
  createModel,
  formatPrometheus,
  readCheckpoint,
  loadModel,
  pipeline,
  type Batcher,
  type PackedInput,
  type TensorInput,
} from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';

const WORDS = ['the', 'of', 'and', 'to', 'in', 'is', 'that', 'for', 'it', 'as', 'was', 'with', 'be', 'by', 'on', 'not', 'he', 'this', 'are', 'or', 'his', 'from', 'at', 'which', 'but', 'have', 'an', 'they', 'you', 'were', 'her', 'she', 'there', 'one', 'all', 'we', 'can', 'their', 'has', 'been'];

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** `count` texts of 1..maxWords words (the fixture's words are one token each). */
function texts(count: number, maxWords: number, seed = 7): string[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => {
    const n = 1 + Math.floor(r() ** 2 * maxWords);
    return Array.from({ length: n }, () => WORDS[Math.floor(r() * WORDS.length)]).join(' ');
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const modelDir = fixture('tiny-bert-model');
const seqclsDir = fixture('tiny-bert-seqcls');

test('10,000 concurrent requests of mixed lengths each get the vector of a lone call', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  // 2,000 distinct texts of 1 to 60 words; each of the 10,000 requests takes one of them.
  const distinct = texts(2000, 60, 11);
  const r = rng(3);
  const inputs = Array.from({ length: 10_000 }, () => distinct[Math.floor(r() * distinct.length)]!);
  // Reference: the sentence-embeddings pipeline, one text per call (one forward each).
  const lone = await pipeline('sentence-embeddings', model, { normalize: true });
  const reference = new Map<string, Float32Array>();
  for (const x of distinct) reference.set(x, await lone(x));
  const batcher = createBatcher(model, { normalize: true, maxConcurrentRequests: 20_000, maxQueuedTokens: 1_000_000, maxBatchTokens: 2048, maxBatchSize: 128 });
  // A few callers pass token ids (an Encoding) instead of text.
  const tokenized = new Set([3, 500, 9999]);
  const results = await Promise.all(
    inputs.map((x, i) => (tokenized.has(i) ? batcher.embed(model.tokenizer!.encode(x)) : batcher.embed(x))),
  );
  let worst = 0;
  for (let i = 0; i < inputs.length; i++) worst = Math.max(worst, maxAbsDiff(results[i]!, reference.get(inputs[i]!)!));
  t.true(worst <= 1e-5, `worst difference ${worst}`);
  const s = batcher.stats();
  t.is(s.totals.succeeded, 10_000);
  t.true(s.totals.batches < 10_000 / 10, `${s.totals.batches} batches`);
  t.true(s.batchSequences.max <= 128);
  t.true(s.batchTokens.max <= 2048);
  await batcher.close();
});

test('classify and rerank under concurrency match the pipelines called alone', async (t) => {
  await using model = await loadModel(seqclsDir, { device: 'cpu', threads: 1 });
  const items = texts(400, 25, 3);
  const cls = await pipeline('text-classification', model);
  const batcher = createBatcher(model);
  const pairs = items.map((x, i) => (i % 3 === 0 ? { text: x, textPair: items[(i + 1) % items.length]! } : x));
  const got = await Promise.all(pairs.map((x) => batcher.classify(x)));
  for (let i = 0; i < pairs.length; i++) {
    const ref = (await cls(pairs[i]! as string, { topK: null })) as { label: string; score: number }[];
    t.deepEqual(got[i]!.map((g) => g.label), ref.map((r) => r.label));
    t.true(maxAbsDiff(got[i]!.map((g) => g.score), ref.map((r) => r.score)) < 1e-6);
  }
  // topK and the batch form.
  const two = await batcher.classify([items[1]!, items[2]!], { topK: 1 });
  t.is(two.length, 2);
  t.is(two[0]!.length, 1);
  t.deepEqual(two[0]![0]!, got[1]![0]!);
  // forward(): raw logits, copied out of the shared batch.
  const raw = await Promise.all(items.slice(0, 20).map((x) => batcher.forward(x)));
  for (const r of raw) {
    t.is(r.logits!.length, 3);
    t.is(r.lastHiddenState.length, r.tokens * 64);
    t.is(r.logits!.buffer.byteLength, 3 * 4, 'results do not share the batch buffer');
  }
  await batcher.close();
});

test('rerank scores pairs best first (sigmoid of a one-label head)', async (t) => {
  // A one-label cross-encoder made from tiny-bert-seqcls's weights (its first label's row).
  const ckpt = await readCheckpoint(seqclsDir);
  const tensors = new Map<string, TensorInput>();
  for (const [name, raw] of ckpt.tensors) {
    let data = new Float32Array(raw.data.buffer.slice(raw.data.byteOffset, raw.data.byteOffset + raw.data.byteLength));
    let dims = raw.dims;
    if (name === 'classifier.weight') [data, dims] = [data.slice(0, 64), [1, 64]];
    if (name === 'classifier.bias') [data, dims] = [data.slice(0, 1), [1]];
    tensors.set(name, { dtype: 'F32', dims, data });
  }
  const config = { ...JSON.parse(readFileSync(join(seqclsDir, 'config.json'), 'utf8')), num_labels: 1, id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } };
  await using model = await createModel(config, tensors, { device: 'cpu', threads: 1 });
  const tokenizer = (await loadModel(seqclsDir, { device: 'cpu', threads: 1 })).tokenizer!;
  const batcher = createBatcher(model, { tokenizer });
  const docs = ['the one', 'of all', 'she was there'];
  const reference = await pipeline('rerank', model, { tokenizer });
  const expected = await reference('who is there', docs);
  const [ranked, raw] = await Promise.all([
    batcher.rerank('who is there', docs, { returnDocuments: true }),
    batcher.rerank('who is there', docs, { activation: 'none' }),
  ]);
  t.deepEqual(ranked.map((r) => r.corpusId), expected.map((r) => r.corpusId));
  t.true(maxAbsDiff(ranked.map((r) => r.score), expected.map((r) => r.score)) < 1e-6);
  t.is(ranked.find((r) => r.corpusId === 2)!.text, 'she was there');
  for (const r of raw) t.true(Math.abs(1 / (1 + Math.exp(-r.score)) - ranked.find((x) => x.corpusId === r.corpusId)!.score) < 1e-6);
  t.is((await batcher.rerank('q', docs, { topK: 2 })).length, 2);
  await batcher.close();
  // A three-label classifier is not a cross-encoder.
  await using three = await loadModel(seqclsDir, { device: 'cpu', threads: 1 });
  await t.throwsAsync(createBatcher(three).rerank('q', docs), { instanceOf: InvalidInputError, message: /one output/ });
});

test('an aborted request leaves the batch without harming the others', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const batcher = createBatcher(model, { maxBatchSize: 8 });
  const inputs = texts(200, 50, 5);
  const lone = await Promise.all(inputs.map((x) => batcher.embed(x)));
  const controllers = inputs.map(() => new AbortController());
  const pending = inputs.map((x, i) => batcher.embed(x, { signal: controllers[i]!.signal }));
  // Abort every third: some are queued, some in the running batch.
  await new Promise((r) => setImmediate(r));
  controllers.forEach((c, i) => i % 3 === 0 && c.abort());
  const settled = await Promise.allSettled(pending);
  settled.forEach((s, i) => {
    if (i % 3 === 0) {
      t.is(s.status, 'rejected');
      t.true((s as PromiseRejectedResult).reason instanceof AbortedError);
      t.is((s as PromiseRejectedResult).reason.code, 'ERR_ABORTED');
    } else {
      t.is(s.status, 'fulfilled');
      t.true(maxAbsDiff((s as PromiseFulfilledResult<Float32Array>).value, lone[i]!) <= 1e-6);
    }
  });
  // An already-aborted signal rejects at once.
  const c = new AbortController();
  c.abort(new Error('client went away'));
  const e = await t.throwsAsync(batcher.embed('the', { signal: c.signal }), { instanceOf: AbortedError });
  t.regex(e!.message, /client went away/);
  const s = batcher.stats();
  t.is(s.totals.aborted, 67 + 1 - 1); // the pre-aborted one is refused before admission
  t.is(s.activeRequests, 0);
  t.is(s.queue.tokens, 0);
  await batcher.close();
});

test('per-request timeouts reject with TimeoutError; the rest complete', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const batcher = createBatcher(model, { maxBatchSize: 1, rejectLate: false });
  const inputs = texts(300, 60, 9);
  const pending = inputs.map((x, i) => batcher.embed(x, i >= 250 ? { timeoutMs: 1 } : {}));
  const settled = await Promise.allSettled(pending);
  const timedOut = settled.filter((s) => s.status === 'rejected');
  t.true(timedOut.length > 0);
  for (const s of timedOut) t.true((s as PromiseRejectedResult).reason instanceof TimeoutError);
  t.true(settled.slice(0, 250).every((s) => s.status === 'fulfilled'));
  t.is(batcher.stats().totals.timedOut, timedOut.length);
  await batcher.close();
});

test('admission control: a full queue rejects at once with OverloadedError', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const byCount = createBatcher(model, { maxConcurrentRequests: 10 });
  t.notThrows(() => byCount.precheck());
  const calls = Array.from({ length: 25 }, () => byCount.embed('the of and to in is that'));
  // What a server asks before reading a request body.
  t.throws(() => byCount.precheck(), { instanceOf: OverloadedError });
  const settled = await Promise.allSettled(calls);
  const rejected = settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[];
  t.is(rejected.length, 15);
  for (const r of rejected) {
    t.true(r.reason instanceof OverloadedError);
    t.is(r.reason.code, 'ERR_OVERLOADED');
    t.true(r.reason.retryAfterMs > 0);
  }
  t.is(byCount.stats().totals.rejected, 16);
  await byCount.close();

  const byTokens = createBatcher(model, { maxQueuedTokens: 50 });
  const ten = 'the of and to in is that for'; // 10 tokens with [CLS] and [SEP]
  const s2 = await Promise.allSettled(Array.from({ length: 8 }, () => byTokens.embed(ten)));
  t.is(s2.filter((s) => s.status === 'fulfilled').length, 5);
  // A request that could never fit is invalid, not overloaded.
  await t.throwsAsync(byTokens.embed(texts(1, 60, 1)[0] + ' the'.repeat(60), { truncate: true }), { instanceOf: InvalidInputError });
  await byTokens.close();
});

test('late requests are refused up front when the queue ahead exceeds their timeout', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const batcher = createBatcher(model, { maxBatchSize: 1, maxQueuedTokens: 1_000_000, maxConcurrentRequests: 10_000 });
  await batcher.embed('warm the estimate up');
  const many = texts(2000, 60, 2).map((x) => batcher.embed(x));
  const late = await t.throwsAsync(batcher.embed('the', { timeoutMs: 1 }), { instanceOf: OverloadedError });
  t.regex(late!.message, /timeout/);
  await Promise.all(many);
  await batcher.close();
});

test('token ids, truncation and input checks', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const batcher = createBatcher(model);
  const long = Array.from({ length: 100 }, () => 'the').join(' ');
  const e = await t.throwsAsync(batcher.embed(long), { instanceOf: InvalidInputError });
  t.regex(e!.message, /102 tokens, more than the model's 64 positions/);
  const cut = await batcher.embed(long, { truncate: true });
  const ref = await batcher.embed({ ids: model.tokenizer!.encode(long, { truncation: true, maxLength: 64 }).ids });
  t.deepEqual(cut, ref);
  await t.throwsAsync(batcher.embed({ ids: [101, 5000, 102] }), { instanceOf: InvalidInputError, message: /not a token id/ });
  await t.throwsAsync(batcher.embed({ ids: [] }), { instanceOf: InvalidInputError, message: /no tokens/ });
  await t.throwsAsync(batcher.embed([]), { instanceOf: InvalidInputError });
  await t.throwsAsync(batcher.embed(42 as never), { instanceOf: InvalidInputError });
  await t.throwsAsync(batcher.embed('a', { pooling: 'nope' as never }), { instanceOf: InvalidInputError });
  await t.throwsAsync(batcher.classify('a'), { instanceOf: UnsupportedModelError, message: /ForSequenceClassification/ });
  t.throws(() => createBatcher(model, { maxBatchSize: 0 }), { instanceOf: InvalidInputError });
  // Padding inside token ids is left out of the pooling, as the pipeline does.
  const enc = model.tokenizer!.encode('the of and');
  const padded = await batcher.embed({ ids: [...enc.ids, 0, 0], attentionMask: [...enc.attentionMask, 0, 0] });
  t.true(maxAbsDiff(padded, await batcher.embed('the of and')) < 1e-5);
  // Pooling options and dimensions.
  const cls = await batcher.embed('the of', { pooling: 'cls', dimensions: 16, normalize: true });
  t.is(cls.length, 16);
  t.true(Math.abs(Math.hypot(...cls) - 1) < 1e-5);
  await batcher.close();
});

test('close() drains, then refuses; close({ drain: false }) aborts the queue', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const a = createBatcher(model, { maxBatchSize: 4 });
  const pending = texts(50, 30).map((x) => a.embed(x));
  await a.close();
  const settled = await Promise.allSettled(pending);
  t.true(settled.every((s) => s.status === 'fulfilled'));
  await t.throwsAsync(a.embed('the'), { instanceOf: DisposedError });

  const b = createBatcher(model, { maxBatchSize: 4 });
  const more = texts(50, 30).map((x) => b.embed(x));
  await new Promise((r) => setImmediate(r));
  await b.close({ drain: false });
  const s2 = await Promise.allSettled(more);
  const aborted = s2.filter((s) => s.status === 'rejected');
  t.true(aborted.length > 0);
  for (const s of aborted) t.true((s as PromiseRejectedResult).reason instanceof AbortedError);
  t.is(b.stats().activeRequests, 0);
});

test('a failing forward is retried per request, so one request cannot fail another', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  // A model whose forward fails for any batch holding the poisoned token id 999.
  const flaky = {
    config: model.config,
    architecture: model.architecture,
    tokenizer: model.tokenizer,
    disposed: false,
    forwardPacked: (p: PackedInput) => (p.inputIds.includes(999) ? Promise.reject(new Error('engine failure')) : model.forwardPacked(p)),
  } as unknown as BertModel;
  const batcher: Batcher = createBatcher(flaky);
  const inputs = texts(30, 20);
  const calls = inputs.map((x, i) => (i === 7 ? batcher.embed({ ids: [101, 999, 102] }) : batcher.embed(x)));
  const settled = await Promise.allSettled(calls);
  t.is(settled.filter((s) => s.status === 'rejected').length, 1);
  t.is(settled[7]!.status, 'rejected');
  t.is(batcher.stats().totals.failed, 1);
  await batcher.close();
});

test("order: 'longest-first' fills batches differently, results are the same", async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const inputs = texts(500, 60, 21);
  const arrival = createBatcher(model, { maxBatchTokens: 512, maxQueuedTokens: 100_000 });
  const longest = createBatcher(model, { maxBatchTokens: 512, maxQueuedTokens: 100_000, order: 'longest-first' });
  const [a, b] = await Promise.all([Promise.all(inputs.map((x) => arrival.embed(x))), Promise.all(inputs.map((x) => longest.embed(x)))]);
  for (let i = 0; i < inputs.length; i++) t.true(maxAbsDiff(a[i]!, b[i]!) <= 1e-5);
  t.true(longest.stats().batchTokens.max <= 512);
  t.throws(() => createBatcher(model, { order: 'random' as never }), { instanceOf: InvalidInputError });
  await arrival.close();
  await longest.close();
});

test('stats() and Prometheus text', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 1 });
  const batcher = createBatcher(model, { maxWaitMs: 5 });
  await Promise.all(texts(300, 40).map((x) => batcher.embed(x)));
  const s = batcher.stats();
  t.is(s.totals.admitted, 300);
  t.is(s.totals.succeeded, 300);
  t.is(s.latencyMs.count, 300);
  t.true(s.latencyMs.p99 >= s.latencyMs.p50);
  t.true(s.window.tokensPerSecond > 0);
  t.true(s.capacityTokensPerSecond > 0);
  t.is(s.histograms.requestSeconds.count, 300);
  t.is(s.histograms.batchSequences.counts.at(-1), s.totals.batches);
  const text = formatPrometheus(s);
  t.regex(text, /^# HELP bertkit_batcher_queue_requests /m);
  t.regex(text, /^bertkit_batcher_requests_total\{outcome="succeeded"\} 300$/m);
  t.regex(text, /^bertkit_batcher_request_duration_seconds_bucket\{le="\+Inf"\} 300$/m);
  t.regex(text, /^bertkit_batcher_request_duration_seconds_count 300$/m);
  await batcher.close();
});

test.serial('the event loop stays responsive under a full queue', async (t) => {
  await using model = await loadModel(modelDir, { device: 'cpu', threads: 2 });
  const batcher = createBatcher(model, { maxConcurrentRequests: 10_000, maxQueuedTokens: 1_000_000 });
  const h = monitorEventLoopDelay({ resolution: 5 });
  const inputs = texts(3000, 60, 4);
  h.enable();
  const all = [];
  // Arrivals spread over time, as a server sees them.
  for (let i = 0; i < inputs.length; i += 100) {
    all.push(...inputs.slice(i, i + 100).map((x) => batcher.embed(x)));
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(all);
  h.disable();
  const p99 = h.percentile(99) / 1e6;
  t.log(`event loop delay p99 ${p99.toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms, ${batcher.stats().totals.batches} batches`);
  // Generous: the machine is shared; bench/serving.mjs measures the real figure.
  t.true(p99 < 100, `p99 ${p99} ms`);
  await batcher.close();
});

test('embed() follows a sentence-transformers folder (Pooling and Normalize modules) as the pipeline does; options still win', async (t) => {
  for (const name of ['st-tiny-bert-model-mean', 'st-tiny-bert-model-cls']) {
    const dir = fixture('pipelines', name);
    await using model = await loadModel(dir, { device: 'cpu', threads: 1 });
    await using st = await pipeline('sentence-embeddings', dir, { threads: 1 });
    const batcher = createBatcher(model);
    const texts = ['a dog runs in the park', 'she took the long walk'];
    const [a, b] = await Promise.all([batcher.embed(texts), st(texts)]);
    for (let i = 0; i < texts.length; i++) {
      const norm = Math.hypot(...a[i]!);
      t.true(Math.abs(norm - 1) < 1e-5, `${name}: norm ${norm}`);
      for (let k = 0; k < a[i]!.length; k++) t.true(Math.abs(a[i]![k]! - b[i]![k]!) < 1e-5, `${name}[${i}][${k}]`);
    }
    t.deepEqual(batcher.pooling, name.endsWith('cls') ? ['cls'] : ['mean']);
    t.true(batcher.normalize);
    const raw = await batcher.embed(texts[0]!, { normalize: false });
    t.true(Math.abs(Math.hypot(...raw) - 1) > 1e-3, 'normalize: false wins over the folder');
    await batcher.close();
    const forced = createBatcher(model, { pooling: 'max', normalize: false });
    t.deepEqual(forced.pooling, ['max']);
    await forced.embed('a dog');
    t.false(forced.normalize);
    await forced.close();
  }
});
