/**
 * A call's inputs to the sequences the queue holds: texts tokenized (one batch call), token ids
 * checked against the model's vocabulary and positions, masks kept only where they hide something.
 */
import { InvalidInputError } from '../../errors.js';
import type { EncodeOptions, Tokenizer } from '../../tokenizer/index.js';
import type { Prepared } from './queue.js';
import type { RequestOptions, SequenceInput, TextPairInput, TokenizedInput } from './types.js';

/** What inputs are checked against and tokenized with. */
export interface InputTarget {
  tokenizer: Tokenizer | undefined;
  config: { vocab_size: number; type_vocab_size: number; max_position_embeddings: number };
  /** Truncation length for `truncate: true`. */
  maxLength: number;
}

export function prepareInputs(items: SequenceInput[], options: RequestOptions, target: InputTarget): Prepared[] {
  const out = new Array<Prepared>(items.length);
  const texts: (string | [string, string])[] = [];
  const textAt: number[] = [];
  items.forEach((x, i) => {
    if (typeof x === 'string') {
      texts.push(x);
      textAt.push(i);
    } else if (x !== null && typeof x === 'object' && 'text' in x && typeof (x as TextPairInput).text === 'string') {
      const p = x as TextPairInput;
      if (p.textPair !== undefined && p.textPair !== null && typeof p.textPair !== 'string') throw new InvalidInputError(`inputs[${i}].textPair must be a string`);
      texts.push(p.textPair ? [p.text, p.textPair] : p.text);
      textAt.push(i);
    } else if (x !== null && typeof x === 'object' && 'ids' in x) {
      out[i] = fromTokens(x as TokenizedInput, i, target.config);
    } else {
      throw new InvalidInputError(`inputs[${i}] must be a string, { text, textPair } or { ids, typeIds? }`);
    }
  });
  if (texts.length) {
    const tok = target.tokenizer;
    if (!tok) throw new InvalidInputError('this batcher has no tokenizer (the model has none): pass options.tokenizer, or token ids');
    if (options.truncate !== undefined && typeof options.truncate !== 'boolean') throw new InvalidInputError('truncate must be a boolean');
    const side = options.truncationSide ?? 'right';
    if (side !== 'left' && side !== 'right') throw new InvalidInputError(`truncationSide must be 'left' or 'right'`);
    const enc: EncodeOptions = options.truncate
      ? { padding: false, truncation: true, maxLength: target.maxLength, truncationSide: side, returnOverflowing: false }
      : { padding: false, truncation: false, returnOverflowing: false };
    const batch = tok.encodeBatch(texts, enc);
    const V = target.config.vocab_size;
    batch.encodings.forEach((e, j) => {
      const ids = e.ids;
      for (let t = 0; t < ids.length; t++) {
        if (ids[t]! >= V) throw new InvalidInputError(`the tokenizer gave id ${ids[t]} for inputs[${textAt[j]}], beyond the model's vocabulary (${V})`);
      }
      out[textAt[j]!] = { ids, typeIds: e.typeIds, mask: null };
    });
  }
  const max = target.config.max_position_embeddings;
  out.forEach((s, i) => {
    const n = s.ids.length;
    if (n === 0) throw new InvalidInputError(`inputs[${i}] has no tokens`);
    if (n > max) {
      throw new InvalidInputError(`inputs[${i}] has ${n} tokens, more than the model's ${max} positions: pass truncate: true, or shorten it`);
    }
  });
  return out;
}

function fromTokens(x: TokenizedInput, i: number, c: InputTarget['config']): Prepared {
  const src = x.ids;
  if (src === null || typeof src !== 'object' || typeof src.length !== 'number') throw new InvalidInputError(`inputs[${i}].ids must be an array of token ids`);
  const n = src.length;
  // Int32Arrays (an Encoding's ids) are used as they are, not copied: leave them alone until the call settles.
  const ids = src instanceof Int32Array ? src : new Int32Array(n);
  for (let t = 0; t < n; t++) {
    const v = src[t];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= c.vocab_size) {
      throw new InvalidInputError(`inputs[${i}].ids[${t}] = ${String(v)} is not a token id of this model (vocabulary ${c.vocab_size})`);
    }
    ids[t] = v;
  }
  let typeIds: Int32Array;
  const types = x.typeIds;
  if (types !== undefined && types !== null) {
    if (types.length !== n) throw new InvalidInputError(`inputs[${i}]: typeIds must have one entry per id`);
    typeIds = types instanceof Int32Array ? types : new Int32Array(n);
    for (let t = 0; t < n; t++) {
      const v = types[t];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= c.type_vocab_size) {
        throw new InvalidInputError(`inputs[${i}].typeIds[${t}] = ${String(v)} is not below type_vocab_size (${c.type_vocab_size})`);
      }
      typeIds[t] = v;
    }
  } else {
    typeIds = new Int32Array(n);
  }
  let mask: Uint8Array | null = null;
  const m = x.attentionMask;
  if (m !== undefined && m !== null) {
    if (m.length !== n) throw new InvalidInputError(`inputs[${i}]: attentionMask must have one entry per id`);
    for (let t = 0; t < n; t++) {
      if (!m[t]) {
        mask = Uint8Array.from({ length: n }, (_, k) => (m[k] ? 1 : 0));
        break;
      }
    }
  }
  return { ids, typeIds, mask };
}
