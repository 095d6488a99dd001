// OpenAI's embeddings API (POST /v1/embeddings), as the `openai` clients call it.
// Errors are written in OpenAI's shape by the caller (errors.mjs: openaiBody).
import { validation } from './errors.mjs';
import { RawJson, vectorBase64, vectorJson } from './json.mjs';
import { checkFields, checkPositiveInt, checkString, embedInputs } from './requests.mjs';

const FIELDS = ['input', 'model', 'encoding_format', 'dimensions', 'user'];

/**
 * @param {object} s the server's settings and parts (see createApp)
 */
export function openaiRoutes(s) {
  const { engine, model } = s;

  /**
   * `input`: a string, token ids, or a list of either. The vectors are normalized (as OpenAI's
   * are); `dimensions` keeps the first values and normalizes again (Matryoshka). `model` may name
   * anything: one server serves one model (as TEI). Inputs over the model's length are an error
   * unless the server runs with --auto-truncate (OpenAI's API has no truncation field).
   */
  async function embeddings(body, signal) {
    checkFields(body, FIELDS);
    checkString(body.model, 'model');
    checkString(body.user, 'user');
    const format = checkString(body.encoding_format, 'encoding_format', 'float');
    if (format !== 'float' && format !== 'base64') throw validation('`encoding_format` must be "float" or "base64"', 'encoding_format');
    const dimensions = checkPositiveInt(body.dimensions, 'dimensions');
    engine.checkDimensions(dimensions);
    const list = embedInputs(body.input, 'input', model.config.vocab_size);
    if (list.length > s.maxClientBatchSize) {
      throw validation(`batch size ${list.length} > maximum allowed batch size ${s.maxClientBatchSize}`, 'input');
    }
    const encodings = engine.prepare(list, { truncate: s.autoTruncate, side: 'right', prompt: engine.promptFor(undefined), param: 'input' });
    const vectors = await engine.embed(encodings, { normalize: true, dimensions, signal });
    const tokens = encodings.reduce((n, e) => n + e.length, 0);
    const encode = format === 'base64' ? (v) => JSON.stringify(vectorBase64(v)) : vectorJson;
    const data = vectors.map((v, index) => `{"object":"embedding","index":${index},"embedding":${encode(v)}}`);
    const usage = JSON.stringify({ prompt_tokens: tokens, total_tokens: tokens });
    return new RawJson(`{"object":"list","data":[${data.join(',')}],"model":${JSON.stringify(s.servedModelName)},"usage":${usage}}`);
  }

  return {
    routes: {
      'POST /v1/embeddings': embeddings,
      // TEI serves it without the prefix too (a client whose base URL lacks /v1).
      'POST /embeddings': embeddings,
    },
  };
}
