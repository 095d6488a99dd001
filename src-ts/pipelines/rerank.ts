/**
 * `rerank`: a cross-encoder (BertForSequenceClassification with one label) scoring (query, document)
 * pairs, as sentence-transformers' CrossEncoder.rank: sorted best first.
 */
import { InvalidInputError, UnsupportedModelError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { acquireModel, makePipeline, type PipelineBase, type PipelineOptions } from './base.js';
import { rowFromEncoding, runRows } from './run.js';
import { positiveInt } from '../util/checks.js';
import { sigmoid } from '../util/math.js';
import { checkOptions, checkString, describe, resolveBatchSize } from './util.js';
import { optionNames } from '../options.js';

/** The option names a call takes (the compiler checks the list against the type). */
const CALL_OPTIONS = optionNames<RerankOptions>({ topK: true, returnDocuments: true, activation: true, batchSize: true });

export type RerankActivation = 'sigmoid' | 'none';

export interface RerankOptions {
  /** Keep the best k (default: all). */
  topK?: number;
  /** Add each document's text to its result. */
  returnDocuments?: boolean;
  /**
   * Default: what the model's config.json names (sentence-transformers' `activation_fn`), else
   * sigmoid, as CrossEncoder does for one label.
   */
  activation?: RerankActivation;
  batchSize?: number;
}

export interface RerankResult {
  /** Index of the document in the input. */
  corpusId: number;
  score: number;
  text?: string;
}

export interface RerankPipeline extends PipelineBase {
  (query: string, documents: string[], options?: RerankOptions): Promise<RerankResult[]>;
}

function configActivation(extra: Record<string, unknown>): RerankActivation | null {
  const st = extra['sentence_transformers'] as { activation_fn?: unknown } | undefined;
  const name = (st && typeof st === 'object' ? st.activation_fn : undefined) ?? extra['sbert_ce_default_activation_function'];
  if (typeof name !== 'string') return null;
  if (/Sigmoid$/.test(name)) return 'sigmoid';
  if (/Identity$/.test(name)) return 'none';
  throw new UnsupportedModelError(`rerank: the activation ${name} of this cross-encoder is not supported; supported: Sigmoid, Identity`);
}

export async function createRerank(model: string | BertModel, options: PipelineOptions): Promise<RerankPipeline> {
  const acquired = await acquireModel(
    model,
    { task: 'rerank', accepts: ['SequenceClassification'], loadAs: 'SequenceClassification' },
    options,
  );
  const { model: m, tokenizer } = acquired;
  if (m.config.num_labels !== 1) {
    if (acquired.owned) await m.dispose();
    throw new UnsupportedModelError(`rerank needs a cross-encoder with one output (num_labels 1); this model has ${m.config.num_labels} labels`);
  }
  let defaultActivation: RerankActivation;
  try {
    defaultActivation = configActivation(m.config.extra) ?? 'sigmoid';
  } catch (err) {
    if (acquired.owned) await m.dispose();
    throw err;
  }
  // sentence-transformers truncates pairs to the tokenizer's limit capped at the model's positions.
  const maxLength = Math.min(tokenizer.modelMaxLength, m.config.encoder.maxSequenceLength);
  return makePipeline<RerankPipeline>('rerank', acquired, async (query: unknown, documents: unknown, callOptions?: unknown) => {
    const q = checkString(query, 'query');
    if (!Array.isArray(documents)) throw new InvalidInputError(`documents must be an array of strings, got ${describe(documents)}`);
    if (documents.length === 0) throw new InvalidInputError('documents is an empty array: give at least one document');
    const docs = documents.map((d, i) => checkString(d, `documents[${i}]`));
    const o = checkOptions<RerankOptions>(callOptions, CALL_OPTIONS, 'rerank options');
    const topK = o.topK === undefined ? docs.length : positiveInt(o.topK, 'topK');
    const activation = o.activation ?? defaultActivation;
    if (activation !== 'sigmoid' && activation !== 'none') throw new InvalidInputError(`activation must be 'sigmoid' or 'none', got ${JSON.stringify(activation)}`);
    const enc = tokenizer.encodeBatch(
      docs.map((d) => [q, d] as const),
      { padding: false, returnOverflowing: false, ...(Number.isFinite(maxLength) ? { truncation: true, maxLength } : {}) },
    );
    const rows = enc.encodings.map(rowFromEncoding);
    const results = new Array<RerankResult>(docs.length);
    await runRows(m, rows, { batchSize: resolveBatchSize(o.batchSize, options.batchSize), what: 'document', tooLongHint: 'the query alone does not fit; shorten it' }, (i, r) => {
      const logit = r.sequence('logits')[0]!;
      results[i] = { corpusId: i, score: activation === 'sigmoid' ? sigmoid(logit) : logit };
      if (o.returnDocuments) results[i]!.text = docs[i]!;
    });
    return results.sort((a, b) => b.score - a.score || a.corpusId - b.corpusId).slice(0, topK);
  });
}
