/**
 * `next-sentence-prediction`: BERT's NSP head (BertForNextSentencePrediction, or BertForPreTraining's
 * seq_relationship). transformers has no pipeline for it; this one runs the model as
 * `tok(text, text_pair)` + `model(**enc).logits` would.
 */
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { outputField } from '../model/heads.js';
import type { EncodeOptions } from '../tokenizer/index.js';
import { acquireModel, makePipeline, type PipelineBase, type PipelineOptions } from './base.js';
import { rowFromEncoding, runRows } from './run.js';
import { checkTextOrPair, type TextPair } from './text-classification.js';
import { softmax } from '../util/math.js';
import { asBatch, checkOptions, checkTokenizeOptions, encodeOptions, resolveBatchSize } from './util.js';
import { optionNames } from '../options.js';

/** The option names a call takes (the compiler checks the list against the type). */
const CALL_OPTIONS = optionNames<NextSentencePredictionOptions>({ tokenizeOptions: true, batchSize: true });

export interface NextSentencePredictionOptions {
  tokenizeOptions?: EncodeOptions;
  batchSize?: number;
}

export interface NextSentenceResult {
  /** [isNext, notNext]: index 0 means "textPair follows text". */
  logits: [number, number];
  /** softmax(logits)[0]. */
  isNextProbability: number;
}

export interface NextSentencePredictionPipeline extends PipelineBase {
  (input: Required<TextPair>, options?: NextSentencePredictionOptions): Promise<NextSentenceResult>;
  (inputs: Required<TextPair>[], options?: NextSentencePredictionOptions): Promise<NextSentenceResult[]>;
}

export async function createNextSentencePrediction(model: string | BertModel, options: PipelineOptions): Promise<NextSentencePredictionPipeline> {
  const acquired = await acquireModel(
    model,
    {
      task: 'next-sentence-prediction',
      accepts: ['NextSentencePrediction', 'PreTraining'],
      loadAs: 'NextSentencePrediction',
      reads: 'nsp',
    },
    options,
  );
  const { model: m, tokenizer } = acquired;
  const field = outputField(m.head, 'nsp', m.config.model_type) as 'logits' | 'seqRelationshipLogits' | 'sopLogits';
  return makePipeline<NextSentencePredictionPipeline>('next-sentence-prediction', acquired, async (inputs: unknown, callOptions?: unknown) => {
    const o = checkOptions<NextSentencePredictionOptions>(callOptions, CALL_OPTIONS, 'next-sentence-prediction options');
    const { items, batched } = asBatch(inputs, (x, what) => {
      if (typeof x === 'string') throw new InvalidInputError(`${what}: next-sentence prediction takes { text, textPair }`);
      const [a, b] = checkTextOrPair(x, what);
      if (b === undefined) throw new InvalidInputError(`${what}.textPair is missing: next-sentence prediction needs two texts`);
      // As tok(text, text_pair): an empty textPair is dropped (the text is encoded alone).
      return b === '' ? a : ([a, b] as const);
    });
    const enc = tokenizer.encodeBatch(items, encodeOptions(checkTokenizeOptions(o.tokenizeOptions)));
    const rows = enc.encodings.map(rowFromEncoding);
    const results = new Array<NextSentenceResult>(items.length);
    await runRows(m, rows, { batchSize: resolveBatchSize(o.batchSize, options.batchSize) }, (i, r) => {
      const l = r.sequence(field);
      results[i] = { logits: [l[0]!, l[1]!], isNextProbability: softmax(l)[0]! };
    });
    return batched ? results : results[0];
  });
}
