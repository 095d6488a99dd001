/**
 * One text (or text pair) through a model with `outputAttentions`: the tokens, how they were
 * split, and every layer's [heads, L, L] attention probabilities, checked before anything runs.
 */
import { basename, dirname } from 'node:path';
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { takesChoices } from '../model/heads.js';
import type { Tokenizer } from '../tokenizer/index.js';

export interface AttentionOptions {
  /** Second text of a pair (question + context, sentence pairs): its tokens get segment 1. */
  pair?: string;
  /** Cut the input to the model's maximum length instead of refusing it (default false). */
  truncate?: boolean;
  /** Tokenizer to use when the model has none of its own (createModel), or instead of it. */
  tokenizer?: Tokenizer;
  /** The name shown on the page (default: the model folder's name). */
  modelName?: string;
}

/** The attention of one input, as the renderers take it. */
export interface AttentionData {
  modelName: string;
  architecture: string;
  text: string;
  pair?: string;
  tokens: string[];
  ids: number[];
  /** Segment (token type) of each token. */
  typeIds: number[];
  /** 1 for tokens the tokenizer added ([CLS], [SEP], <s>, </s>). */
  special: number[];
  /** true for a token that continues the word of the previous one (WordPiece's ##). */
  subword: boolean[];
  layers: number;
  heads: number;
  /** Number of tokens L. */
  length: number;
  /** One Float32Array per layer, [heads, L, L] row-major: attentions[l][(h * L + i) * L + j] = p(i attends to j). */
  attentions: Float32Array[];
  /** How it was computed, for the page's footer. */
  computed: { backend: string; dtype: string; isa: string; truncated: boolean };
}

/** The longest input `model` takes with `tokenizer`, special tokens included. */
export function maxInputLength(model: BertModel, tokenizer: Tokenizer | undefined): number {
  const positions = model.config.max_position_embeddings;
  const tok = tokenizer?.modelMaxLength ?? Infinity;
  return Number.isFinite(tok) && tok > 0 ? Math.min(positions, tok) : positions;
}

function checkText(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new InvalidInputError(`the ${what} must be a string, got ${value === null ? 'null' : typeof value}`);
  if (value.trim() === '') throw new InvalidInputError(`the ${what} is empty: give a text to look at`);
  return value;
}

const OPTION_NAMES = new Set(['pair', 'truncate', 'tokenizer', 'modelName']);

export function checkOptionNames(options: object, allowed: ReadonlySet<string>, what: string): void {
  for (const k of Object.keys(options)) {
    if (!allowed.has(k)) throw new InvalidInputError(`${what}: unknown option ${JSON.stringify(k)} (known: ${[...allowed].join(', ')})`);
  }
}

/** Runs `model` on `text` (and `options.pair`) and returns every layer's attention probabilities. */
export async function computeAttention(model: BertModel, text: string, options: AttentionOptions = {}): Promise<AttentionData> {
  if (options === null || typeof options !== 'object') throw new InvalidInputError('options must be an object');
  checkOptionNames(options, OPTION_NAMES, 'computeAttention');
  checkText(text, 'text');
  if (options.pair !== undefined) checkText(options.pair, 'pair text');
  const tokenizer = options.tokenizer ?? (model.hasTokenizer ? model.tokenizer : undefined);
  if (!tokenizer) throw new InvalidInputError('the model has no tokenizer (tokenizer.json or vocab.txt): pass options.tokenizer');
  const max = maxInputLength(model, tokenizer);
  const full = tokenizer.encode(text, options.pair ?? null, { truncation: false });
  let enc = full;
  if (full.length > max) {
    if (!options.truncate) {
      const over = full.length - max;
      throw new InvalidInputError(
        `the input is ${full.length} tokens long and this model takes at most ${max} (special tokens included): ` +
          `shorten the ${options.pair === undefined ? 'text' : 'texts'} by at least ${over} token${over === 1 ? '' : 's'} ` +
          `(roughly ${Math.ceil(over * 0.75)} words), or truncate it to the first ${max} tokens (truncate: true, --truncate)`,
      );
    }
    enc = tokenizer.encode(text, options.pair ?? null, { truncation: true, maxLength: max });
  }
  const L = enc.length;
  const ids = Array.from(enc.ids);
  const typeIds = Array.from(enc.typeIds);
  const row = { inputIds: [ids], attentionMask: [ids.map(() => 1)], tokenTypeIds: [typeIds] };
  // BertForMultipleChoice takes [batch][choices][L]: one choice is the text itself.
  const input = takesChoices(model.head) ? { inputIds: [row.inputIds], attentionMask: [row.attentionMask], tokenTypeIds: [row.tokenTypeIds] } : row;
  const out = await model.forward(input, { outputAttentions: true });
  // Each layer's [1, heads, L, L] array is fresh from this forward: kept as is, not copied (150 MB for bert-base at 512 tokens).
  const attentions = (out.attentions ?? []).map((t) => t.data);
  const heads = model.config.num_attention_heads;
  for (const a of attentions) {
    if (a.length !== heads * L * L) throw new InvalidInputError(`unexpected attention size ${a.length} for ${heads} heads and ${L} tokens`);
  }
  const words = enc.wordIds;
  const seqs = enc.sequenceIds;
  const subword = words.map((w, i) => i > 0 && w !== null && w === words[i - 1] && seqs[i] === seqs[i - 1]);
  const file = model.weights.files[0];
  const data: AttentionData = {
    modelName: options.modelName ?? (file ? basename(dirname(file)) : model.architecture),
    architecture: model.architecture,
    text,
    tokens: enc.tokens.slice(),
    ids,
    typeIds,
    special: Array.from(enc.specialTokensMask),
    subword,
    layers: attentions.length,
    heads,
    length: L,
    attentions,
    computed: {
      backend: model.backend.device,
      dtype: model.backend.dtype,
      isa: model.backend.isa,
      truncated: enc !== full,
    },
  };
  if (options.pair !== undefined) data.pair = options.pair;
  return data;
}

/** p(i attends to j) in layer `layer`, head `head`. */
export function attentionAt(data: AttentionData, layer: number, head: number, i: number, j: number): number {
  const L = data.length;
  return data.attentions[layer]![(head * L + i) * L + j]!;
}

/** Checks a 0-based layer / head index against the data. */
export function checkLayerHead(data: AttentionData, layer: number, head: number): void {
  if (!Number.isInteger(layer) || layer < 0 || layer >= data.layers) {
    throw new InvalidInputError(`layer must be an integer in [0, ${data.layers - 1}] (layers count from 0), got ${String(layer)}`);
  }
  if (!Number.isInteger(head) || head < 0 || head >= data.heads) {
    throw new InvalidInputError(`head must be an integer in [0, ${data.heads - 1}] (heads count from 0), got ${String(head)}`);
  }
}

/** Index of the first token of the second segment, or null for a single text. */
export function segmentBoundary(data: AttentionData): number | null {
  if (data.pair === undefined) return null;
  const k = data.typeIds.findIndex((t) => t !== data.typeIds[0]);
  if (k > 0) return k;
  // Models without token types (RoBERTa): the pair starts after the first run of separators.
  let s = data.special.findIndex((v, i) => i > 0 && v === 1);
  if (s < 0) return null;
  while (s < data.length && data.special[s] === 1) s++;
  return s < data.length ? s : null;
}
