/**
 * The example server through the clients applications already use: the `openai` SDK
 * (POST /v1/embeddings) and `@huggingface/inference` (POST /, as Hugging Face's InferenceClient
 * calls a TEI endpoint), plus TEI's /embed_all, /similarity, /decode and /info. Servers run on
 * 127.0.0.1; the vectors are compared with the library's own pipelines on the same folders.
 */
import test from 'ava';
import { InferenceClient, InferenceClientProviderApiError } from '@huggingface/inference';
import { rmSync } from 'node:fs';
import OpenAI from 'openai';
import { loadModel, pipeline } from '../src-ts/index.js';
import { makeRerankerFolder, request, startServer, stopServer, type Server } from './helpers/example-server.js';
import { fixture } from './helpers/fixtures.js';

// A sentence-transformers folder: CLS pooling, then Normalize (tiny-bert-model's weights).
const stDir = fixture('pipelines', 'st-tiny-bert-model-cls');
const seqclsDir = fixture('tiny-bert-seqcls');
const TEXTS = ['the of and to', 'she was there', 'one', 'all we can do'];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v));

/** What the library's sentence-embeddings pipeline gives for the folder (its pooling and Normalize module). */
async function referenceEmbeddings(texts: string[], options: { normalize?: boolean } = {}): Promise<Float32Array[]> {
  await using st = await pipeline('sentence-embeddings', stDir, { threads: 1, ...options });
  return (await st(texts)) as Float32Array[];
}

async function withServer(args: string[], fn: (s: Server) => Promise<void>, env?: Record<string, string>): Promise<void> {
  const s = await startServer(args, env);
  try {
    await fn(s);
  } finally {
    const code = await stopServer(s);
    if (code !== 0) throw new Error(`server exited ${code}:\n${s.stderr()}`);
  }
}

// No retries: a test must see the first answer (the SDK retries 429 and 5xx by default).
const openai = (url: string, apiKey = 'unused') => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });

test.serial('openai SDK: strings, batches, base64 and float, token ids, dimensions re-normalised, usage', async (t) => {
  const expected = await referenceEmbeddings(TEXTS);
  const raw = await referenceEmbeddings(TEXTS, { normalize: false });
  await withServer(['--model', stDir, '--served-model-name', 'tiny-st'], async (s) => {
    const client = openai(s.url);

    // The JS SDK asks for base64 unless told otherwise and decodes it: exact float32 bytes.
    const one = await client.embeddings.create({ model: 'tiny-st', input: TEXTS[0]! });
    t.is(one.object, 'list');
    t.is(one.model, 'tiny-st');
    t.is(one.data.length, 1);
    t.is(one.data[0]!.object, 'embedding');
    t.is(one.data[0]!.index, 0);
    t.is(one.data[0]!.embedding.length, 64);
    t.true(maxAbsDiff(one.data[0]!.embedding, expected[0]!) < 1e-5);

    const batch = await client.embeddings.create({ model: 'tiny-st', input: TEXTS, encoding_format: 'float' });
    t.deepEqual(batch.data.map((d) => d.index), [0, 1, 2, 3]);
    for (let i = 0; i < TEXTS.length; i++) t.true(maxAbsDiff(batch.data[i]!.embedding, expected[i]!) < 1e-5, `input ${i}`);
    await using model = await loadModel(stDir, { device: 'cpu', threads: 1 });
    const tokens = TEXTS.map((x) => Array.from(model.tokenizer.encode(x).ids));
    const count = tokens.reduce((n, ids) => n + ids.length, 0);
    t.deepEqual(batch.usage, { prompt_tokens: count, total_tokens: count });

    // base64 and float carry the same numbers.
    const b64 = await client.embeddings.create({ model: 'tiny-st', input: TEXTS, encoding_format: 'base64' });
    for (let i = 0; i < TEXTS.length; i++) {
      const s64 = b64.data[i]!.embedding as unknown as string;
      t.is(typeof s64, 'string');
      const buf = Buffer.from(s64, 'base64');
      t.deepEqual(Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4)), batch.data[i]!.embedding);
    }

    // Token ids (the tokenizer's, special tokens included) give the texts' vectors.
    const byIds = await client.embeddings.create({ model: 'tiny-st', input: tokens, encoding_format: 'float' });
    for (let i = 0; i < TEXTS.length; i++) t.true(maxAbsDiff(byIds.data[i]!.embedding, batch.data[i]!.embedding) < 1e-6);
    const oneIds = await client.embeddings.create({ model: 'tiny-st', input: tokens[1]!, encoding_format: 'float' });
    t.is(oneIds.data.length, 1, 'number[] is one input');

    // Matryoshka: the first 16 values of the unnormalized embedding, normalized again.
    const dims = await client.embeddings.create({ model: 'tiny-st', input: TEXTS, dimensions: 16 });
    for (let i = 0; i < TEXTS.length; i++) {
      const v = dims.data[i]!.embedding;
      t.is(v.length, 16);
      t.true(Math.abs(norm(v) - 1) < 1e-5);
      const cut = raw[i]!.slice(0, 16);
      const n = norm(cut);
      t.true(maxAbsDiff(v, Array.from(cut, (x) => x / n)) < 1e-5);
    }

    // The SDK sends `user` when given; accepted and ignored.
    t.is((await client.embeddings.create({ model: 'anything', input: 'one', user: 'u-1' })).data.length, 1);
  });
});

test.serial('openai SDK: bad requests are 400 invalid_request_error with the field, unknown routes 404; the server keeps serving', async (t) => {
  await withServer(['--model', stDir, '--max-client-batch-size', '4', '--payload-limit', '5000'], async (s) => {
    const client = openai(s.url);
    const bad = async (body: Record<string, unknown>, param: string | null, code: string | null = null) => {
      const e = await t.throwsAsync(client.embeddings.create(body as never), { instanceOf: OpenAI.BadRequestError });
      t.is(e!.status, 400);
      t.is(e!.type, 'invalid_request_error');
      t.is(e!.param, param, JSON.stringify(body));
      t.is(e!.code, code, JSON.stringify(body));
      return e!;
    };
    await bad({ model: 'm', input: 'a', foo: 1 }, 'foo', 'unknown_field');
    await bad({ model: 'm', input: [] }, 'input');
    await bad({ model: 'm', input: 42 }, 'input');
    await bad({ model: 'm', input: ['a', 7] }, 'input');
    await bad({ model: 'm', input: [[1, 2, 100000]] }, 'input');
    await bad({ model: 'm', input: ['a', 'b', 'c', 'd', 'e'] }, 'input');
    await bad({ model: 'm', input: 'a', encoding_format: 'int8' }, 'encoding_format');
    await bad({ model: 'm', input: 'a', dimensions: 0 }, 'dimensions');
    await bad({ model: 'm', input: 'a', dimensions: 65 }, 'dimensions');
    await bad({ model: 7, input: 'a' }, 'model');
    const long = Array.from({ length: 100 }, () => 'the').join(' ');
    const e = await bad({ model: 'm', input: long }, 'input', 'context_length_exceeded');
    t.regex(e.message, /must have less than 64 tokens. Given: 102/);

    // A body over --payload-limit: 413 (the SDK has no class of its own for it).
    const big = await t.throwsAsync(client.embeddings.create({ model: 'm', input: 'x'.repeat(6000) }), { instanceOf: OpenAI.APIError });
    t.is(big!.status, 413);
    t.is(big!.code, 'payload_too_large');

    // A route the server does not have: the SDK's NotFoundError, OpenAI-shaped.
    const nf = await t.throwsAsync(client.models.list(), { instanceOf: OpenAI.NotFoundError });
    t.is(nf!.code, 'unknown_url');
    // Bodies that are not JSON objects, as plain HTTP.
    const notJson = await request(s.url, 'POST', '/v1/embeddings', '{"input":');
    t.is(notJson.status, 400);
    t.is(notJson.body.error.type, 'invalid_request_error');
    t.is((await request(s.url, 'POST', '/v1/embeddings', [1, 2])).status, 400);

    t.is((await client.embeddings.create({ model: 'm', input: 'still serving' })).data.length, 1);
  });
  // With --auto-truncate the long input is cut to the model's length instead.
  await withServer(['--model', stDir, '--auto-truncate'], async (s) => {
    const long = Array.from({ length: 100 }, () => 'the').join(' ');
    const r = await openai(s.url).embeddings.create({ model: 'm', input: long, encoding_format: 'float' });
    t.is(r.usage.prompt_tokens, 64);
  });
});

test.serial('API key: Bearer token compared on every route but health and metrics; 401 in each family\'s shape', async (t) => {
  const check = async (s: Server) => {
    const e = await t.throwsAsync(openai(s.url, 'wrong').embeddings.create({ model: 'm', input: 'a' }), { instanceOf: OpenAI.AuthenticationError });
    t.is(e!.status, 401);
    t.is(e!.code, 'invalid_api_key');
    t.is((await openai(s.url, 'sesame').embeddings.create({ model: 'm', input: 'a' })).data.length, 1);
    const tei = await request(s.url, 'POST', '/embed', { inputs: 'a' });
    t.is(tei.status, 401);
    t.deepEqual(Object.keys(tei.body), ['error', 'error_type']);
    t.is(tei.headers['www-authenticate'], 'Bearer');
    t.is((await request(s.url, 'POST', '/embed', { inputs: 'a' }, { authorization: 'Bearer sesame' })).status, 200);
    t.is((await request(s.url, 'GET', '/info')).status, 401);
    t.is((await request(s.url, 'GET', '/health')).status, 200);
    t.is((await request(s.url, 'GET', '/metrics')).status, 200);
    t.is((await request(s.url, 'POST', '/embed', { inputs: 'a' }, { authorization: 'Bearer sesame2' })).status, 401);
    // Hugging Face's client sends its token as the Bearer token.
    const hf = new InferenceClient('sesame');
    t.is(((await hf.featureExtraction({ endpointUrl: s.url, inputs: 'a' })) as number[][])[0]!.length, 64);
  };
  await withServer(['--model', stDir, '--api-key', 'sesame'], check);
  await withServer(['--model', stDir], check, { API_KEY: 'sesame' });
});

test.serial('@huggingface/inference: feature extraction, sentence similarity and text classification through POST /', async (t) => {
  const expected = await referenceEmbeddings(TEXTS);
  const hf = new InferenceClient();
  await withServer(['--model', stDir], async (s) => {
    const one = (await hf.featureExtraction({ endpointUrl: s.url, inputs: TEXTS[0]! })) as number[][];
    t.is(one.length, 1);
    t.true(maxAbsDiff(one[0]!, expected[0]!) < 1e-5);
    const many = (await hf.featureExtraction({ endpointUrl: s.url, inputs: TEXTS })) as number[][];
    for (let i = 0; i < TEXTS.length; i++) t.true(maxAbsDiff(many[i]!, expected[i]!) < 1e-5);
    // The client's endpoint() form and TEI's own fields at the top level.
    const cut = (await hf.endpoint(s.url).featureExtraction({ inputs: TEXTS[1]!, normalize: false })) as number[][];
    t.true(Math.abs(norm(cut[0]!) - 1) > 1e-3);

    const sims = await hf.sentenceSimilarity({ endpointUrl: s.url, inputs: { source_sentence: TEXTS[0]!, sentences: TEXTS } });
    t.is(sims.length, TEXTS.length);
    t.is(sims[0], 1);
    for (let i = 0; i < TEXTS.length; i++) {
      const cos = expected[0]!.reduce((a, x, k) => a + x * expected[i]![k]!, 0);
      t.true(Math.abs(sims[i]! - cos) < 1e-5, `sentence ${i}`);
    }
    // TEI's own route answers the same.
    const viaTei = await request(s.url, 'POST', '/similarity', { inputs: { source_sentence: TEXTS[0], sentences: TEXTS } });
    t.deepEqual(viaTei.body, sims);

    // Errors reach the client with TEI's message.
    const e = await t.throwsAsync(hf.featureExtraction({ endpointUrl: s.url, inputs: TEXTS, truncate: 'yes' } as never), { instanceOf: InferenceClientProviderApiError });
    t.regex(e!.message, /`truncate` must be a boolean/);
    t.is(e!.httpResponse.status, 422);
  });

  await using classifier = await loadModel(seqclsDir, { device: 'cpu', threads: 1 });
  const classify = await pipeline('text-classification', classifier);
  await withServer(['--model', seqclsDir], async (s) => {
    const out = await hf.textClassification({ endpointUrl: s.url, inputs: 'the of and' });
    const ref = (await classify('the of and', { topK: null })) as { label: string; score: number }[];
    t.deepEqual(out.map((x) => x.label), ref.map((x) => x.label));
    t.true(maxAbsDiff(out.map((x) => x.score), ref.map((x) => x.score)) < 1e-5);
    const top = await hf.textClassification({ endpointUrl: s.url, inputs: 'the of and', parameters: { top_k: 1, function_to_apply: 'sigmoid' } });
    t.is(top.length, 1);
    t.is(top[0]!.label, ref[0]!.label, 'sigmoid keeps the order of the logits');
    // /predict keeps TEI's shape: one list for one input.
    const teiShape = await request(s.url, 'POST', '/predict', { inputs: 'the of and' });
    t.deepEqual(teiShape.body.map((x: { label: string }) => x.label), ref.map((x) => x.label));
    t.is((await request(s.url, 'POST', '/predict', { inputs: 'a', parameters: {} })).status, 422, 'parameters belong to POST / only');
  });
});

test.serial('POST / on a reranker is TEI\'s rerank; /embed_all, /decode, /info and unknown fields', async (t) => {
  const dir = makeRerankerFolder(seqclsDir);
  try {
    await withServer(['--model', dir], async (s) => {
      const docs = ['the one', 'of all', 'she was there'];
      const viaRoot = await request(s.url, 'POST', '/', { query: 'who is there', texts: docs });
      t.is(viaRoot.status, 200);
      t.deepEqual(viaRoot.body, (await request(s.url, 'POST', '/rerank', { query: 'who is there', texts: docs })).body);
      const info = (await request(s.url, 'GET', '/info')).body;
      t.deepEqual(info.model_type, { reranker: { id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } } });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  await using model = await loadModel(stDir, { device: 'cpu', threads: 1 });
  await withServer(['--model', stDir], async (s) => {
    // Per-token vectors: the model's last hidden state, [CLS] and [SEP] included.
    const all = await request(s.url, 'POST', '/embed_all', { inputs: ['the of', 'she was there'] });
    t.is(all.status, 200);
    for (let i = 0; i < 2; i++) {
      const enc = model.tokenizer.encode(['the of', 'she was there'][i]!);
      const ref = await model.forward({ inputIds: [enc.ids], tokenTypeIds: [enc.typeIds] });
      t.is(all.body[i].length, enc.ids.length);
      t.true(maxAbsDiff(all.body[i].flat(), ref.lastHiddenState.data) < 1e-5);
    }

    const ids = Array.from(model.tokenizer.encode('she was there').ids);
    const dec = await request(s.url, 'POST', '/decode', { ids: [ids, ids], skip_special_tokens: false });
    t.deepEqual(dec.body, ['[CLS] she was there [SEP]', '[CLS] she was there [SEP]']);
    t.deepEqual((await request(s.url, 'POST', '/decode', { ids })).body, ['she was there']);
    t.deepEqual((await request(s.url, 'POST', '/decode', { ids: [] })).body, ['']);
    t.is((await request(s.url, 'POST', '/decode', { ids: [[-1]] })).status, 422);

    const info = (await request(s.url, 'GET', '/info')).body;
    for (const k of ['model_id', 'model_sha', 'model_dtype', 'served_model_name', 'model_type', 'max_concurrent_requests', 'max_input_length', 'max_batch_tokens', 'max_batch_requests', 'max_client_batch_size', 'auto_truncate', 'tokenization_workers', 'version', 'sha', 'docker_label']) {
      t.true(k in info, k);
    }
    t.deepEqual(info.model_type, { embedding: { pooling: 'cls' } });

    // Unknown fields are errors on TEI's routes too (TEI would drop them without a word).
    const unknown = await request(s.url, 'POST', '/embed', { inputs: 'a', normalise: false });
    t.is(unknown.status, 422);
    t.deepEqual(unknown.body, { error: 'unknown field "normalise" in the request body; expected one of inputs, truncate, truncation_direction, prompt_name, normalize, dimensions, encoding_format', error_type: 'validation' });
    t.is((await request(s.url, 'POST', '/similarity', { inputs: { source_sentence: 'a', sentences: [] } })).status, 400);
    t.is((await request(s.url, 'POST', '/similarity', { inputs: { source_sentence: 'a', sentences: ['b'], extra: 1 } })).status, 422);
    t.is((await request(s.url, 'POST', '/embed', { inputs: 'a', encoding_format: 'base64' })).status, 422);
    // Token ids on TEI's /embed, as TEI takes them.
    const e1 = await request(s.url, 'POST', '/embed', { inputs: [ids] });
    const e2 = await request(s.url, 'POST', '/embed', { inputs: 'she was there' });
    t.true(maxAbsDiff(e1.body[0], e2.body[0]) < 1e-6);
  });
});

test.serial('without batching (one forward per request) the new routes answer the same', async (t) => {
  const a = await startServer(['--model', stDir]);
  const b = await startServer(['--model', stDir, '--batching', 'off']);
  try {
    for (const [path, body] of [
      ['/v1/embeddings', { input: TEXTS, dimensions: 16 }],
      ['/embed_all', { inputs: TEXTS }],
      ['/similarity', { inputs: { source_sentence: TEXTS[0], sentences: TEXTS } }],
      ['/', { inputs: TEXTS }],
    ] as const) {
      const [x, y] = await Promise.all([request(a.url, 'POST', path, body), request(b.url, 'POST', path, body)]);
      t.is(x.status, 200, path);
      t.is(y.status, 200, path);
      const flat = (r: { body: any }): number[] => (path === '/v1/embeddings' ? r.body.data.map((d: { embedding: number[] }) => d.embedding) : r.body).flat(2);
      t.is(flat(x).length, flat(y).length, path);
      t.true(maxAbsDiff(flat(x), flat(y)) < 1e-5, path);
    }
  } finally {
    t.is(await stopServer(a), 0);
    t.is(await stopServer(b), 0);
  }
});
