// Request validation shared by the routes: field names, types and input lists. Errors carry TEI's
// status; the OpenAI route's dialect maps them (errors.mjs).
import { empty, validation } from './errors.mjs';

/** Unknown fields are errors: a misspelt option would otherwise be ignored without a word. */
export function checkFields(body, allowed, where = 'the request body') {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw validation(`${where} must be a JSON object`);
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw validation(`unknown field ${JSON.stringify(key)} in ${where}; expected one of ${allowed.join(', ')}`, key, 'unknown_field');
    }
  }
}

/** null and absent both mean "the default", as serde's Option does in TEI. */
const absent = (x) => x === undefined || x === null;

export function checkBool(x, name, fallback) {
  if (absent(x)) return fallback;
  if (typeof x !== 'boolean') throw validation(`\`${name}\` must be a boolean`, name);
  return x;
}

export function checkPositiveInt(x, name) {
  if (absent(x)) return undefined;
  if (!Number.isInteger(x) || x < 1) throw validation(`\`${name}\` must be a positive integer`, name);
  return x;
}

export function checkString(x, name, fallback) {
  if (absent(x)) return fallback;
  if (typeof x !== 'string') throw validation(`\`${name}\` must be a string`, name);
  return x;
}

/** TEI's `truncation_direction`: Left or Right, any case; default right. */
export function truncationSide(x) {
  if (absent(x)) return 'right';
  if (typeof x === 'string' && /^(left|right)$/i.test(x)) return x.toLowerCase();
  throw validation('`truncation_direction` must be "Left" or "Right"', 'truncation_direction');
}

/** A string or a non-empty array of strings. */
export function stringInputs(x, name = 'inputs') {
  if (typeof x === 'string') return { list: [x], batched: false };
  const bad = () => validation(`\`${name}\` must be a string or an array of strings`, name);
  if (!Array.isArray(x)) throw bad();
  if (x.length === 0) throw empty(`\`${name}\` cannot be empty`, name);
  for (const s of x) if (typeof s !== 'string') throw bad();
  return { list: x, batched: true };
}

const isTokenIds = (x) => Array.isArray(x) && x.length > 0 && x.every((v) => typeof v === 'number');

/**
 * Embedding inputs as TEI and OpenAI take them: a string, token ids (number[]), or a non-empty
 * array of strings and token-id arrays. Token ids go to the model as given (no special tokens
 * added); each must be a token of the model's vocabulary. Returns the list of inputs.
 */
export function embedInputs(x, name, vocabSize) {
  const bad = () => validation(`\`${name}\` must be a string, an array of token ids, or an array of strings and token-id arrays`, name);
  if (typeof x === 'string') return [x];
  if (!Array.isArray(x)) throw bad();
  if (x.length === 0) throw empty(`\`${name}\` cannot be empty`, name);
  const list = isTokenIds(x) ? [x] : x;
  list.forEach((item, i) => {
    if (typeof item === 'string') return;
    if (!isTokenIds(item)) throw bad();
    item.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw validation(`\`${name}\`[${i}][${t}] = ${id} is not a token id of this model (vocabulary size ${vocabSize})`, name);
      }
    });
  });
  return list;
}

/** TEI's predict input: a string, a pair [a, b], or a batch [[a], [a, b], ...]. */
export function predictInputs(x) {
  if (typeof x === 'string') return { list: [x], batched: false };
  const bad = () => validation('`inputs` must be a string, a pair of strings [string, string] or a batch of mixed strings and pairs [[string], [string, string], ...]', 'inputs');
  if (!Array.isArray(x)) throw bad();
  if (x.length === 0) throw empty('`inputs` cannot be empty', 'inputs');
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

/** TEI's decode input: token ids, or a non-empty batch of them. */
export function decodeInputs(x) {
  const bad = () => validation('`ids` must be an array of token ids or an array of such arrays', 'ids');
  const isIds = (a) => Array.isArray(a) && a.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
  if (!Array.isArray(x)) throw bad();
  // `[]` is one empty sequence, as TEI's untagged enum reads it (it decodes to "").
  if (x.length === 0 || typeof x[0] === 'number') {
    if (!isIds(x)) throw bad();
    return { list: [x], batched: false };
  }
  if (!x.every(isIds)) throw bad();
  return { list: x, batched: true };
}
