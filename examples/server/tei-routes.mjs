// Text Embeddings Inference's routes, with TEI's request and response shapes
// (router/src/http/types.rs and server.rs in huggingface/text-embeddings-inference).
import { VERSION } from 'bertkit';
import { HttpError, tooLarge, validation } from './errors.mjs';
import { RawJson, matrixJson, vectorJson } from './json.mjs';
import {
  checkBool,
  checkFields,
  checkPositiveInt,
  checkString,
  decodeInputs,
  embedInputs,
  predictInputs,
  stringInputs,
  truncationSide,
} from './requests.mjs';

const CLASSIFY_FUNCTIONS = ['softmax', 'sigmoid', 'none'];

/**
 * @param {object} s the server's settings and parts (see createApp)
 * @returns {Record<string, (body: object, signal: AbortSignal) => unknown>} and `info()`
 */
export function teiRoutes(s) {
  const { engine, model, tokenizer } = s;
  const config = model.config;
  const isClassifier = model.architecture === 'BertForSequenceClassification';
  const isReranker = isClassifier && config.num_labels === 1;

  function checkBatchSize(n) {
    if (n > s.maxClientBatchSize) throw tooLarge(`batch size ${n} > maximum allowed batch size ${s.maxClientBatchSize}`, 'inputs');
  }

  /** TEI's embedding inputs with its truncation and prompt fields, tokenized. */
  function embeddingRequest(body) {
    const list = embedInputs(body.inputs, 'inputs', config.vocab_size);
    checkBatchSize(list.length);
    const truncate = checkBool(body.truncate, 'truncate', s.autoTruncate);
    const side = truncationSide(body.truncation_direction);
    const prompt = engine.promptFor(checkString(body.prompt_name, 'prompt_name'));
    return engine.prepare(list, { truncate, side, prompt });
  }

  const EMBED_FIELDS = ['inputs', 'truncate', 'truncation_direction', 'prompt_name', 'normalize', 'dimensions', 'encoding_format'];

  async function embed(body, signal) {
    checkFields(body, EMBED_FIELDS);
    // Hugging Face's InferenceClient.feature_extraction may send encoding_format; TEI answers floats.
    if (body.encoding_format !== undefined && body.encoding_format !== null && body.encoding_format !== 'float') {
      throw validation('`encoding_format` must be "float" here (base64 is served by /v1/embeddings)', 'encoding_format');
    }
    const normalize = checkBool(body.normalize, 'normalize', true);
    const dimensions = checkPositiveInt(body.dimensions, 'dimensions');
    engine.checkDimensions(dimensions);
    const encodings = embeddingRequest(body);
    const vectors = await engine.embed(encodings, { normalize, dimensions, signal });
    // TEI answers a list of vectors for a single input too.
    return new RawJson(`[${vectors.map(vectorJson).join(',')}]`);
  }

  async function embedAll(body, signal) {
    checkFields(body, ['inputs', 'truncate', 'truncation_direction', 'prompt_name']);
    const encodings = embeddingRequest(body);
    const states = await engine.embedAll(encodings, { signal });
    return new RawJson(`[${states.map((x) => matrixJson(x, engine.hidden)).join(',')}]`);
  }

  /** Cosine similarity of the source sentence with each sentence (TEI: unnormalized embeddings, then cosine). */
  async function similarity(body, signal) {
    checkFields(body, ['inputs', 'parameters']);
    checkFields(body.inputs, ['source_sentence', 'sentences'], '`inputs`');
    const source = body.inputs.source_sentence;
    if (typeof source !== 'string') throw validation('`inputs.source_sentence` must be a string', 'inputs');
    const { list } = stringInputs(body.inputs.sentences, 'inputs.sentences');
    const p = body.parameters ?? {};
    checkFields(p, ['truncate', 'truncation_direction', 'prompt_name'], '`parameters`');
    // +1: the source sentence is embedded in the same batch.
    checkBatchSize(list.length + 1);
    const truncate = checkBool(p.truncate, 'truncate', s.autoTruncate);
    const side = truncationSide(p.truncation_direction);
    const prompt = engine.promptFor(checkString(p.prompt_name, 'prompt_name'));
    const encodings = engine.prepare([source, ...list], { truncate, side, prompt });
    const [a, ...rest] = await engine.embed(encodings, { normalize: true, signal });
    return rest.map((b) => {
      let dot = 0;
      for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
      // float32, as TEI answers: a sentence with itself is 1, not 1 + 2e-9.
      return Math.fround(dot);
    });
  }

  const PREDICT_FIELDS = ['inputs', 'truncate', 'truncation_direction', 'raw_scores'];

  /**
   * Sequence classification. `asInferenceApi` (POST /): a single input is answered as a batch of
   * one (`[[{ label, score }]]`), and `parameters: { function_to_apply, top_k }` are taken, as
   * Hugging Face's Inference API does and as its clients parse the answer (they read `response[0]`).
   */
  async function predict(body, signal, { asInferenceApi = false } = {}) {
    if (!isClassifier) throw new HttpError(424, 'backend', `model is not a classifier model (it is ${model.architecture})`);
    checkFields(body, asInferenceApi ? [...PREDICT_FIELDS, 'parameters'] : PREDICT_FIELDS);
    const { list, batched } = predictInputs(body.inputs);
    checkBatchSize(list.length);
    const truncate = checkBool(body.truncate, 'truncate', s.autoTruncate);
    const raw = checkBool(body.raw_scores, 'raw_scores', false);
    const side = truncationSide(body.truncation_direction);
    const p = body.parameters ?? {};
    checkFields(p, ['function_to_apply', 'top_k'], '`parameters`');
    if (p.function_to_apply != null && !CLASSIFY_FUNCTIONS.includes(p.function_to_apply)) {
      throw validation(`\`parameters.function_to_apply\` must be one of ${CLASSIFY_FUNCTIONS.join(', ')}`, 'function_to_apply');
    }
    if (p.function_to_apply != null && raw) throw validation('`raw_scores` and `parameters.function_to_apply` cannot both be given', 'raw_scores');
    const topK = checkPositiveInt(p.top_k, 'top_k') ?? Infinity;
    // TEI: softmax over several labels, sigmoid for one, or the raw logits.
    const fn = p.function_to_apply ?? (raw ? 'none' : config.num_labels > 1 ? 'softmax' : 'sigmoid');
    const encodings = engine.prepare(list, { truncate, side });
    const scores = await engine.classify(list, encodings, { functionToApply: fn, truncate, side, signal });
    const out = scores.map((labels) => labels.slice(0, topK).map(({ label, score }) => ({ score, label })));
    return batched || asInferenceApi ? out : out[0];
  }

  async function rerank(body, signal) {
    if (!isReranker) {
      throw new HttpError(424, 'backend', `model is not a re-ranker model (a sequence classifier with one label; it is ${model.architecture} with ${config.num_labels} labels)`);
    }
    checkFields(body, ['query', 'texts', 'truncate', 'truncation_direction', 'raw_scores', 'return_text']);
    if (typeof body.query !== 'string') throw validation('`query` must be a string', 'query');
    const { list } = stringInputs(body.texts, 'texts');
    checkBatchSize(list.length);
    const truncate = checkBool(body.truncate, 'truncate', s.autoTruncate);
    const raw = checkBool(body.raw_scores, 'raw_scores', false);
    const returnText = checkBool(body.return_text, 'return_text', false);
    const side = truncationSide(body.truncation_direction);
    const encodings = engine.prepare(list.map((t) => [body.query, t]), { truncate, side, param: 'texts' });
    const scores = await engine.rerank(body.query, list, encodings, { activation: raw ? 'none' : 'sigmoid', signal });
    const ranks = scores.map((score, index) => (returnText ? { index, text: list[index], score } : { index, score }));
    ranks.sort((a, b) => b.score - a.score || a.index - b.index);
    return ranks;
  }

  function tokenize(body) {
    checkFields(body, ['inputs', 'add_special_tokens', 'prompt_name']);
    const { list } = stringInputs(body.inputs);
    checkBatchSize(list.length);
    const addSpecialTokens = checkBool(body.add_special_tokens, 'add_special_tokens', true);
    const prompt = engine.promptFor(checkString(body.prompt_name, 'prompt_name'));
    const texts = prompt ? list.map((t) => prompt + t) : list;
    const encodings = tokenizer.encodeBatch(texts, { padding: false, truncation: false, addSpecialTokens, returnOverflowing: false }).encodings;
    return encodings.map((e, i) => {
      const text = texts[i];
      const { specialTokensMask: special, offsets, tokens, ids } = e;
      const out = new Array(e.length);
      for (let k = 0; k < e.length; k++) {
        if (special[k]) {
          out[k] = { id: ids[k], text: tokens[k], special: true, start: null, stop: null };
        } else {
          // TEI reports UTF-8 byte offsets into the input.
          const [a, b] = offsets[k];
          const start = Buffer.byteLength(text.slice(0, a));
          out[k] = { id: ids[k], text: text.slice(a, b), special: false, start, stop: start + Buffer.byteLength(text.slice(a, b)) };
        }
      }
      return out;
    });
  }

  function decode(body) {
    checkFields(body, ['ids', 'skip_special_tokens']);
    const { list } = decodeInputs(body.ids);
    checkBatchSize(list.length);
    const skipSpecialTokens = checkBool(body.skip_special_tokens, 'skip_special_tokens', true);
    return list.map((ids) => tokenizer.decode(ids, { skipSpecialTokens }));
  }

  /**
   * POST /: what the Hugging Face inference clients call. Dispatched by model kind as TEI does
   * (classifier: predict, one-label classifier: rerank, else embed), and for an embedding model by
   * the body too: `inputs: { source_sentence, sentences }` is sentence similarity (TEI needs
   * TASK=sentence-similarity for that; here one server answers both clients' tasks).
   */
  function root(body, signal) {
    if (isReranker) return rerank(body, signal);
    if (isClassifier) return predict(body, signal, { asInferenceApi: true });
    const x = body?.inputs;
    if (x !== null && typeof x === 'object' && !Array.isArray(x)) return similarity(body, signal);
    return embed(body, signal);
  }

  function info() {
    const labels = () => {
      const id2label = Object.fromEntries(Object.entries(config.id2label));
      return { id2label, label2id: Object.fromEntries(Object.entries(id2label).map(([id, label]) => [label, Number(id)])) };
    };
    const modelType = isClassifier ? { [isReranker ? 'reranker' : 'classifier']: labels() } : { embedding: { pooling: s.pooling.join('+') } };
    return {
      model_id: s.modelId,
      model_sha: null,
      model_dtype: model.backend.dtype,
      served_model_name: s.servedModelName,
      model_type: modelType,
      max_concurrent_requests: s.batcher?.maxConcurrentRequests ?? null,
      max_input_length: s.maxInputLength,
      max_batch_tokens: s.batcher?.maxBatchTokens ?? null,
      max_batch_requests: s.batcher?.maxBatchSize ?? null,
      max_client_batch_size: s.maxClientBatchSize,
      auto_truncate: s.autoTruncate,
      tokenization_workers: 1,
      version: VERSION,
      sha: null,
      docker_label: null,
      // Not TEI's: whether requests share forwards (--batching).
      batching: s.batcher !== null,
    };
  }

  return {
    routes: {
      'POST /': root,
      // AWS SageMaker's name for the same route, as TEI serves it.
      'POST /invocations': root,
      'POST /embed': embed,
      'POST /embed_all': embedAll,
      'POST /predict': (body, signal) => predict(body, signal),
      'POST /rerank': rerank,
      'POST /similarity': similarity,
      'POST /tokenize': tokenize,
      'POST /decode': decode,
    },
    info,
  };
}
