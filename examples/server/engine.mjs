// What the routes ask of the model: tokenized, length-checked inputs in; embeddings, per-token
// vectors, label scores and rerank scores out, through the batcher or, with batching off, one
// forward per request through the pipelines.
import { pipeline } from 'bertkit';
import { tooLarge, validation } from './errors.mjs';

/**
 * @param {object} o
 * @param {import('bertkit').BertModel} o.model
 * @param {import('bertkit').Tokenizer} o.tokenizer
 * @param {import('bertkit').Batcher | null} o.batcher null: one forward per request
 * @param {string[]} o.pooling
 * @param {number} o.maxInputLength
 * @param {Record<string, string>} o.prompts
 * @param {string | null} o.defaultPromptName
 */
export function createEngine(o) {
  const { model, tokenizer, batcher, pooling, maxInputLength, prompts } = o;
  const direct = batcher ? null : directEngine(model, tokenizer, pooling);
  const hidden = model.config.hidden_size;
  const embeddingSize = hidden * pooling.length;

  /** The text a `prompt_name` stands for ('' for none); the folder's default when the request names none. */
  function promptFor(name) {
    const key = name ?? o.defaultPromptName ?? null;
    if (key === null) return '';
    if (typeof key !== 'string') throw validation('`prompt_name` must be a string', 'prompt_name');
    const p = prompts[key];
    if (p === undefined) {
      throw validation(`\`prompt_name\` ${JSON.stringify(key)} is not one of the model's prompts (${Object.keys(prompts).join(', ') || 'none'})`, 'prompt_name');
    }
    return p;
  }

  /**
   * Tokenizes the texts (token-id inputs pass as given) and checks lengths: an input over the
   * limit is cut when `truncate`, else refused with 413 (OpenAI's family: 400
   * `context_length_exceeded`).
   * @param {(string | [string, string] | number[])[]} items
   */
  function prepare(items, { truncate, side, prompt = '', addSpecialTokens = true, param = 'inputs' }) {
    const textAt = [];
    const texts = [];
    items.forEach((x, i) => {
      if (typeof x === 'string') {
        textAt.push(i);
        texts.push(prompt + x);
      } else if (typeof x[0] === 'string') {
        textAt.push(i);
        texts.push(x); // a [text, pair] pair: encodeBatch takes it as one sequence pair
      }
    });
    const options = truncate
      ? { padding: false, truncation: true, maxLength: maxInputLength, truncationSide: side, addSpecialTokens, returnOverflowing: false }
      : { padding: false, truncation: false, addSpecialTokens, returnOverflowing: false };
    const encoded = texts.length > 0 ? tokenizer.encodeBatch(texts, options).encodings : [];
    const out = new Array(items.length);
    textAt.forEach((i, k) => (out[i] = encoded[k]));
    items.forEach((x, i) => {
      if (out[i]) return;
      let ids = x;
      if (truncate && ids.length > maxInputLength) ids = side === 'left' ? ids.slice(ids.length - maxInputLength) : ids.slice(0, maxInputLength);
      out[i] = { ids: Int32Array.from(ids), typeIds: new Int32Array(ids.length), length: ids.length };
    });
    for (const e of out) {
      if (e.length > maxInputLength) {
        throw tooLarge(`\`${param}\` must have less than ${maxInputLength} tokens. Given: ${e.length}`, param, 'context_length_exceeded');
      }
    }
    return out;
  }

  function checkDimensions(dimensions) {
    if (dimensions !== undefined && dimensions > embeddingSize) {
      throw validation(`\`dimensions\` ${dimensions} is more than the embedding has (${embeddingSize})`, 'dimensions');
    }
  }

  return {
    embeddingSize,
    hidden,
    promptFor,
    prepare,
    checkDimensions,
    /** Pooled vectors; `dimensions` keeps the first values and normalizes after cutting (Matryoshka). */
    embed(encodings, { normalize, dimensions, signal }) {
      checkDimensions(dimensions);
      return batcher ? batcher.embed(encodings, { normalize, dimensions, signal }) : direct.embed(encodings, { normalize, dimensions });
    },
    /** Every token's last hidden state, [tokens × hidden] per input. */
    async embedAll(encodings, { signal }) {
      if (direct) return direct.embedAll(encodings);
      const outs = await batcher.forward(encodings, { signal });
      return outs.map((x) => x.lastHiddenState);
    },
    classify(list, encodings, { functionToApply, truncate, side, signal }) {
      return batcher
        ? batcher.classify(encodings, { functionToApply, signal })
        : direct.classify(list, { functionToApply, truncate, side });
    },
    /** One score per text, in input order. */
    async rerank(query, list, encodings, { activation, signal }) {
      if (direct) return direct.rerank(query, list, { activation });
      const fn = activation === 'none' ? 'none' : 'sigmoid';
      return (await batcher.classify(encodings, { functionToApply: fn, signal })).map((labels) => labels[0].score);
    },
  };
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
      const input = { inputIds: encodings.map((e) => Array.from(e.ids)), tokenTypeIds: encodings.map((e) => Array.from(e.typeIds)) };
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
    async embedAll(encodings) {
      const out = [];
      // One sequence per forward: no padding to cut off afterwards.
      for (const e of encodings) {
        const r = await model.forward({ inputIds: [Array.from(e.ids)], tokenTypeIds: [Array.from(e.typeIds)] });
        out.push(r.lastHiddenState.data);
      }
      return out;
    },
    async classify(list, { functionToApply, truncate, side }) {
      const cls = await get('text-classification');
      const inputs = list.map((x) => (Array.isArray(x) ? { text: x[0], textPair: x[1] } : x));
      const tokenizeOptions = truncate ? { truncation: true, maxLength: model.config.max_position_embeddings, truncationSide: side } : undefined;
      return cls(inputs, { topK: null, functionToApply, batchSize: inputs.length, ...(tokenizeOptions ? { tokenizeOptions } : {}) });
    },
    async rerank(query, list, { activation }) {
      const rr = await get('rerank');
      const ranked = await rr(query, list, { activation, batchSize: list.length });
      const scores = new Array(list.length);
      for (const r of ranked) scores[r.corpusId] = r.score;
      return scores;
    },
  };
}
