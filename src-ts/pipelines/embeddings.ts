/**
 * `feature-extraction` (transformers: the last hidden state, [1][seqLen][hidden] per text) and
 * `sentence-embeddings` (sentence-transformers: one pooled, optionally normalised vector per text,
 * following a sentence-transformers folder when the model is one).
 */
import { join } from 'node:path';
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import type { IntRows } from '../inputs.js';
import type { EncodeOptions, Tokenizer } from '../tokenizer/index.js';
import { acquireModel, makePipeline, resolveModelDir, type PipelineBase, type PipelineOptions } from './base.js';
import { checkPooling, normalizeL2, poolTokens, readSentenceTransformersFolder, type PoolingMode, type SentenceTransformersFolder } from './pooling.js';
import { rowFromEncoding, runRows, type Row } from './run.js';
import { asBatch, checkOptions, checkString, checkTokenizeOptions, encodeOptions, describe, resolveBatchSize } from './util.js';
import { optionNames } from '../options.js';

/** The option names a call takes (the compiler checks the list against the type). */
const CALL_OPTIONS = optionNames<FeatureExtractionOptions>({ pooling: true, normalize: true, includePrompt: true, tokenizeOptions: true, batchSize: true });
const SENTENCE_CALL_OPTIONS = optionNames<SentenceEmbeddingOptions>({ pooling: true, normalize: true, includePrompt: true, prompt: true, promptName: true, tokenizeOptions: true, batchSize: true });

/** Pooling settings: at pipeline creation (defaults) or per call (overrides). */
export interface PoolingOptions {
  /** A mode, several (concatenated), or 'none' for the token embeddings. */
  pooling?: PoolingMode | PoolingMode[] | 'none';
  /** L2-normalise each vector. */
  normalize?: boolean;
  /** False: leave the prompt's tokens out of the pooling (sentence-transformers' include_prompt). */
  includePrompt?: boolean;
}

export interface FeatureExtractionOptions extends PoolingOptions {
  /** Tokenizer options (transformers' `tokenize_kwargs`), e.g. `{ truncation: true, maxLength: 512 }`. */
  tokenizeOptions?: EncodeOptions;
  batchSize?: number;
}

export interface SentenceEmbeddingOptions extends PoolingOptions {
  /** Text prepended to every input (sentence-transformers' `prompt`). */
  prompt?: string;
  /** A prompt of the folder's config_sentence_transformers.json, by name. */
  promptName?: string;
  /** Tokenizer options; default: truncation to the model's max_seq_length. */
  tokenizeOptions?: EncodeOptions;
  batchSize?: number;
}

/** Padded token ids, as transformers takes them ([B][L]); rows where the mask is 0 are padding. */
export interface EncodedInput {
  inputIds: IntRows;
  attentionMask?: IntRows;
  tokenTypeIds?: IntRows;
}

/** Token embeddings of one text: [1][seqLen] rows of `hidden` values (transformers' shape). */
export type TokenEmbeddings = Float32Array[][];

export interface FeatureExtractionPipeline extends PipelineBase {
  (text: string, options?: FeatureExtractionOptions & { pooling?: 'none' | undefined }): Promise<TokenEmbeddings>;
  (texts: string[], options?: FeatureExtractionOptions & { pooling?: 'none' | undefined }): Promise<TokenEmbeddings[]>;
  (text: string, options: FeatureExtractionOptions & { pooling: PoolingMode | PoolingMode[] }): Promise<Float32Array>;
  (texts: string[], options: FeatureExtractionOptions & { pooling: PoolingMode | PoolingMode[] }): Promise<Float32Array[]>;
}

export interface SentenceEmbeddingsPipeline extends PipelineBase {
  (text: string, options?: SentenceEmbeddingOptions): Promise<Float32Array>;
  (texts: string[] | EncodedInput, options?: SentenceEmbeddingOptions): Promise<Float32Array[]>;
  /** The settings in force (from the sentence-transformers folder or the pipeline options). */
  readonly settings: Readonly<EmbeddingSettings>;
}

export interface EmbeddingSettings {
  /** null: token embeddings (feature-extraction). */
  pooling: PoolingMode[] | null;
  normalize: boolean;
  includePrompt: boolean;
  /** Inputs are truncated to this many tokens (sentence-transformers' max_seq_length); null: not truncated. */
  maxSeqLength: number | null;
  doLowerCase: boolean;
  prompts: Record<string, string>;
  defaultPromptName: string | null;
}

export type EmbeddingPipelineOptions = PipelineOptions & PoolingOptions & {
  /** sentence-embeddings: the truncation length (default: the folder's max_seq_length, else the model's). */
  maxSeqLength?: number;
};

function resolvePooling(p: unknown): PoolingMode[] | null {
  if (p === 'none') return null;
  return checkPooling(p);
}

function checkBool(x: unknown, what: string): boolean {
  if (typeof x !== 'boolean') throw new InvalidInputError(`${what} must be a boolean, got ${describe(x)}`);
  return x;
}

function settingsFrom(base: EmbeddingSettings, o: PoolingOptions): EmbeddingSettings {
  const s = { ...base };
  if (o.pooling !== undefined) s.pooling = resolvePooling(o.pooling);
  if (o.normalize !== undefined) s.normalize = checkBool(o.normalize, 'normalize');
  if (o.includePrompt !== undefined) s.includePrompt = checkBool(o.includePrompt, 'includePrompt');
  return s;
}

/** Embeds texts (or encoded rows) with the given settings; one result per input, in input order. */
async function embed(
  model: BertModel,
  rows: Row[],
  settings: EmbeddingSettings,
  batchSize: number,
  promptTokens: number,
): Promise<(Float32Array | TokenEmbeddings)[]> {
  const H = model.config.hidden_size;
  const results = new Array<Float32Array | TokenEmbeddings>(rows.length);
  await runRows(model, rows, { batchSize }, (i, r) => {
    const hidden = r.tokens('lastHiddenState');
    if (settings.pooling === null) {
      const seq: Float32Array[] = new Array(r.length);
      for (let t = 0; t < r.length; t++) seq[t] = hidden.subarray(t * H, (t + 1) * H);
      results[i] = [seq];
      return;
    }
    const skip = settings.includePrompt ? 0 : promptTokens;
    let v = poolTokens(hidden, r.length, H, rows[i]!.mask ?? null, settings.pooling, skip);
    if (settings.normalize) v = normalizeL2(v);
    results[i] = Float32Array.from(v);
  });
  return results;
}

function rowsFromEncoded(x: EncodedInput, vocabSize: number): Row[] {
  const ids = x.inputIds;
  if (!Array.isArray(ids) || ids.length === 0) throw new InvalidInputError('inputIds must be a non-empty array of rows');
  const check = (rows: IntRows | undefined, name: string): IntRows | undefined => {
    if (rows === undefined || rows === null) return undefined;
    if (!Array.isArray(rows) || rows.length !== ids.length) throw new InvalidInputError(`${name} must have one row per inputIds row`);
    return rows;
  };
  const mask = check(x.attentionMask, 'attentionMask');
  const types = check(x.tokenTypeIds, 'tokenTypeIds');
  return ids.map((row, b) => {
    if (row === null || typeof row !== 'object' || typeof row.length !== 'number') throw new InvalidInputError(`inputIds[${b}] must be an array of ids`);
    const n = row.length;
    const r = Int32Array.from({ length: n }, (_, i) => {
      const v = row[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabSize) {
        throw new InvalidInputError(`inputIds[${b}][${i}] = ${String(v)} is not a token id of this vocabulary (size ${vocabSize})`);
      }
      return v;
    });
    const t = types ? Int32Array.from(types[b]!) : new Int32Array(n);
    const m = mask ? Int32Array.from(mask[b]!) : null;
    if (t.length !== n || (m && m.length !== n)) throw new InvalidInputError(`row ${b}: inputIds, attentionMask and tokenTypeIds must have the same length`);
    return { ids: r, typeIds: t, mask: m };
  });
}

function isEncodedInput(x: unknown): x is EncodedInput {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && 'inputIds' in x;
}

/** Encodes texts into rows with the tokenizer's batch API. */
function encodeTexts(tokenizer: Tokenizer, texts: string[], options: EncodeOptions): Row[] {
  const batch = tokenizer.encodeBatch(texts, encodeOptions(options));
  return batch.encodings.map(rowFromEncoding);
}

function promptLength(tokenizer: Tokenizer, prompt: string): number {
  // sentence-transformers: the prompt's tokens with the special tokens, less a trailing special one.
  const e = tokenizer.encode(prompt, { padding: false, truncation: false });
  const special = e.specialTokensMask;
  let n = e.length;
  if (n > 0 && special[n - 1] === 1) n--;
  return n;
}

export async function createFeatureExtraction(model: string | BertModel, options: EmbeddingPipelineOptions): Promise<FeatureExtractionPipeline> {
  const acquired = await acquireModel(model, { task: 'feature-extraction', accepts: null, loadAs: 'base' }, options);
  const base: EmbeddingSettings = {
    pooling: null,
    normalize: false,
    includePrompt: true,
    maxSeqLength: null,
    doLowerCase: false,
    prompts: {},
    defaultPromptName: null,
  };
  const defaults = settingsFrom(base, options);
  const { model: m, tokenizer } = acquired;
  return makePipeline<FeatureExtractionPipeline>('feature-extraction', acquired, async (inputs: unknown, callOptions?: unknown) => {
    const o = checkOptions<FeatureExtractionOptions>(callOptions, CALL_OPTIONS, 'feature-extraction options');
    const settings = settingsFrom(defaults, o);
    const { items, batched } = asBatch(inputs, (x, w) => checkString(x, w));
    const rows = encodeTexts(tokenizer, items, checkTokenizeOptions(o.tokenizeOptions));
    const out = await embed(m, rows, settings, resolveBatchSize(o.batchSize, options.batchSize), 0);
    return batched ? out : out[0];
  });
}

export async function createSentenceEmbeddings(model: string | BertModel, options: EmbeddingPipelineOptions): Promise<SentenceEmbeddingsPipeline> {
  let st: SentenceTransformersFolder | null = null;
  let target: string | BertModel = model;
  if (typeof model === 'string') {
    const dir = await resolveModelDir(model, options);
    st = await readSentenceTransformersFolder(dir);
    if (st) target = join(dir, st.transformerPath);
  }
  const acquired = await acquireModel(target, { task: 'sentence-embeddings', accepts: null, loadAs: 'base' }, options);
  const { model: m, tokenizer } = acquired;
  // Without a sentence-transformers folder, sentence-transformers itself uses mean pooling and the
  // tokenizer's limit capped at the model's positions.
  const modelLimit = Math.min(tokenizer.modelMaxLength, m.config.encoder.maxSequenceLength);
  const base: EmbeddingSettings = {
    pooling: st?.pooling ?? ['mean'],
    normalize: st?.normalize ?? false,
    includePrompt: st?.includePrompt ?? true,
    maxSeqLength: st?.maxSeqLength ?? modelLimit,
    doLowerCase: st?.doLowerCase ?? false,
    prompts: st?.prompts ?? {},
    defaultPromptName: st?.defaultPromptName ?? null,
  };
  if (options.maxSeqLength !== undefined) {
    const v = options.maxSeqLength;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InvalidInputError(`maxSeqLength must be a positive integer, got ${String(v)}`);
    base.maxSeqLength = v;
  }
  const settings0 = settingsFrom(base, options);
  if (settings0.pooling === null) throw new InvalidInputError("sentence-embeddings pools tokens: pooling 'none' is feature-extraction's output");
  return makePipeline<SentenceEmbeddingsPipeline>(
    'sentence-embeddings',
    acquired,
    async (inputs: unknown, callOptions?: unknown) => {
      const o = checkOptions<SentenceEmbeddingOptions>(callOptions, SENTENCE_CALL_OPTIONS, 'sentence-embeddings options');
      const settings = settingsFrom(settings0, o);
      if (settings.pooling === null) throw new InvalidInputError("sentence-embeddings pools tokens: use feature-extraction for token embeddings");
      const batchSize = resolveBatchSize(o.batchSize, options.batchSize);
      if (isEncodedInput(inputs)) {
        if (o.prompt !== undefined || o.promptName !== undefined) throw new InvalidInputError('prompts apply to texts, not to encoded input');
        const rows = rowsFromEncoded(inputs, m.config.vocab_size);
        return embed(m, rows, settings, batchSize, 0);
      }
      let prompt = '';
      if (o.prompt !== undefined) {
        prompt = checkString(o.prompt, 'prompt');
      } else {
        const name = o.promptName ?? settings.defaultPromptName;
        if (name !== undefined && name !== null) {
          checkString(name, 'promptName');
          const p = settings.prompts[name];
          if (p === undefined) {
            const known = Object.keys(settings.prompts);
            throw new InvalidInputError(`promptName ${JSON.stringify(name)} is not one of the model's prompts (${known.length ? known.join(', ') : 'none'})`);
          }
          prompt = p;
        }
      }
      const { items, batched } = asBatch(inputs, (x, w) => checkString(x, w));
      let texts = prompt ? items.map((t) => prompt + t) : items;
      if (settings.doLowerCase) texts = texts.map((t) => t.toLowerCase());
      const enc: EncodeOptions = { ...(settings.maxSeqLength !== null && Number.isFinite(settings.maxSeqLength) ? { truncation: true, maxLength: settings.maxSeqLength } : {}), ...checkTokenizeOptions(o.tokenizeOptions) };
      const rows = encodeTexts(tokenizer, texts, enc);
      const skip = prompt && !settings.includePrompt ? promptLength(tokenizer, settings.doLowerCase ? prompt.toLowerCase() : prompt) : 0;
      const out = await embed(m, rows, settings, batchSize, skip);
      return batched ? out : out[0];
    },
    { settings: Object.freeze({ ...settings0, pooling: settings0.pooling && Object.freeze([...settings0.pooling]), prompts: Object.freeze({ ...settings0.prompts }) }) },
  );
}
