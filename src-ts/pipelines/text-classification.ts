/** `text-classification`: transformers' TextClassificationPipeline on BertForSequenceClassification. */
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import type { EncodeOptions } from '../tokenizer/index.js';
import { acquireModel, makePipeline, type PipelineBase, type PipelineOptions } from './base.js';
import { rowFromEncoding, runRows } from './run.js';
import { positiveInt } from '../util/checks.js';
import { applyFunction, argsortDesc } from '../util/math.js';
import { defaultClassificationFunction } from '../model/heads.js';
import { asBatch, checkOptions, checkString, checkTokenizeOptions, encodeOptions, describe, resolveBatchSize } from './util.js';
import { optionNames } from '../options.js';

/** The option names a call takes (the compiler checks the list against the type). */
const CALL_OPTIONS = optionNames<TextClassificationOptions>({ topK: true, functionToApply: true, tokenizeOptions: true, batchSize: true });

export type ClassificationFunction = 'softmax' | 'sigmoid' | 'none';

export interface TextClassificationOptions {
  /**
   * Labels to return, best first. Left out: only the best label, in transformers' legacy shape
   * (`[{ label, score }]` for a string, `{ label, score }` for a pair). A number or null (all
   * labels): a list sorted by score.
   */
  topK?: number | null;
  /**
   * Default: 'none' for regression (`problem_type`), 'sigmoid' for multi-label or a single label,
   * else 'softmax' (transformers' rule).
   */
  functionToApply?: ClassificationFunction | 'default';
  tokenizeOptions?: EncodeOptions;
  batchSize?: number;
}

export interface TextPair {
  text: string;
  textPair?: string;
}

export interface LabelScore {
  label: string;
  score: number;
}

export type TextClassificationInput = string | TextPair;

export interface TextClassificationPipeline extends PipelineBase {
  (input: string, options?: TextClassificationOptions): Promise<LabelScore[]>;
  (input: TextPair, options?: TextClassificationOptions): Promise<LabelScore | LabelScore[]>;
  (inputs: TextClassificationInput[], options?: TextClassificationOptions): Promise<(LabelScore | LabelScore[])[]>;
}

/** A string or `{ text, textPair? }`. */
export function checkTextOrPair(x: unknown, what: string): [string, string | undefined] {
  if (typeof x === 'string') return [x, undefined];
  if (x !== null && typeof x === 'object' && !Array.isArray(x) && 'text' in x) {
    const p = x as { text: unknown; textPair?: unknown };
    const text = checkString(p.text, `${what}.text`);
    if (p.textPair === undefined || p.textPair === null) return [text, undefined];
    return [text, checkString(p.textPair, `${what}.textPair`)];
  }
  throw new InvalidInputError(
    `${what} must be a string or { text, textPair } (for a text pair), got ${describe(x)}`,
  );
}

export function checkFunction(x: unknown): ClassificationFunction | undefined {
  if (x === undefined || x === 'default') return undefined;
  if (typeof x === 'string' && ['softmax', 'sigmoid', 'none'].includes(x.toLowerCase())) return x.toLowerCase() as ClassificationFunction;
  throw new InvalidInputError(`functionToApply must be 'softmax', 'sigmoid', 'none' or 'default', got ${JSON.stringify(x)}`);
}

export async function createTextClassification(model: string | BertModel, options: PipelineOptions): Promise<TextClassificationPipeline> {
  const acquired = await acquireModel(
    model,
    { task: 'text-classification', accepts: ['SequenceClassification'], loadAs: 'SequenceClassification' },
    options,
  );
  const { model: m, tokenizer } = acquired;
  const id2label = m.config.id2label;
  return makePipeline<TextClassificationPipeline>('text-classification', acquired, async (inputs: unknown, callOptions?: unknown) => {
    const o = checkOptions<TextClassificationOptions>(callOptions, CALL_OPTIONS, 'text-classification options');
    const legacy = !('topK' in o) || o.topK === undefined;
    const topK = legacy || o.topK === null ? null : positiveInt(o.topK, 'topK');
    const fn = checkFunction(o.functionToApply) ?? defaultClassificationFunction(m.config);
    const { items, batched } = asBatch(inputs, checkTextOrPair);
    // transformers' tokenizer drops an empty text_pair: the text alone is classified.
    const pairs = items.map(([a, b]) => (b === undefined || b === '' ? a : ([a, b] as const)));
    const enc = tokenizer.encodeBatch(pairs, encodeOptions(checkTokenizeOptions(o.tokenizeOptions)));
    const rows = enc.encodings.map(rowFromEncoding);
    const results = new Array<LabelScore | LabelScore[]>(items.length);
    await runRows(m, rows, { batchSize: resolveBatchSize(o.batchSize, options.batchSize) }, (i, r) => {
      const scores = applyFunction(r.sequence('logits'), fn);
      if (legacy) {
        // transformers: the best label only, first on ties.
        let best = 0;
        for (let k = 1; k < scores.length; k++) if (scores[k]! > scores[best]!) best = k;
        results[i] = { label: id2label[best] ?? `LABEL_${best}`, score: scores[best]! };
        return;
      }
      const order = argsortDesc(scores);
      const list = order.map((k) => ({ label: id2label[k] ?? `LABEL_${k}`, score: scores[k]! }));
      results[i] = topK === null ? list : list.slice(0, topK);
    });
    // transformers' shape quirk, kept: with the default topK a string gives a list of one, a pair a bare object.
    if (!batched) return legacy && typeof inputs === 'string' ? [results[0]] : results[0];
    return results;
  });
}
