/**
 * `zero-shot-classification`: transformers' ZeroShotClassificationPipeline on an NLI model
 * (BertForSequenceClassification whose label2id has an "entailment" label): each candidate label
 * becomes the hypothesis "This example is {label}." against the text as premise.
 */
import { InvalidInputError, UnsupportedModelError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import type { BatchEncoding } from '../tokenizer/index.js';
import { acquireModel, makePipeline, type PipelineBase, type PipelineOptions } from './base.js';
import { rowFromEncoding, runRows } from './run.js';
import { asBatch, checkOptions, checkString, describe, resolveBatchSize } from './util.js';
import { optionNames } from '../options.js';

/** The option names a call takes (the compiler checks the list against the type). */
const CALL_OPTIONS = optionNames<ZeroShotClassificationOptions>({ candidateLabels: true, hypothesisTemplate: true, multiLabel: true, batchSize: true });

export interface ZeroShotClassificationOptions {
  /** The labels to choose from: an array, or one string of comma-separated labels. */
  candidateLabels?: string | string[];
  /** Default 'This example is {}.'; `{}` is replaced by each label. */
  hypothesisTemplate?: string;
  /**
   * false (default): scores are a softmax of the entailment logits over the labels (they sum to 1);
   * true: each label on its own, softmax of (contradiction, entailment). One label is always on its own.
   */
  multiLabel?: boolean;
  batchSize?: number;
}

export interface ZeroShotResult {
  sequence: string;
  /** Best first. */
  labels: string[];
  scores: number[];
}

export interface ZeroShotClassificationPipeline extends PipelineBase {
  (text: string, candidateLabels: string | string[], options?: ZeroShotClassificationOptions): Promise<ZeroShotResult>;
  (texts: string[], candidateLabels: string | string[], options?: ZeroShotClassificationOptions): Promise<ZeroShotResult[]>;
  (text: string, options: ZeroShotClassificationOptions & { candidateLabels: string | string[] }): Promise<ZeroShotResult>;
  (texts: string[], options: ZeroShotClassificationOptions & { candidateLabels: string | string[] }): Promise<ZeroShotResult[]>;
  /** The index of the entailment label (label2id). */
  readonly entailmentId: number;
}

function parseLabels(x: unknown): string[] {
  let labels: string[];
  if (typeof x === 'string') labels = x.split(',').map((l) => l.trim()).filter((l) => l);
  else if (Array.isArray(x)) labels = x.map((l, i) => checkString(l, `candidateLabels[${i}]`));
  else throw new InvalidInputError(`candidateLabels must be an array of labels or a comma-separated string, got ${describe(x)}`);
  if (labels.length === 0) throw new InvalidInputError('give at least one candidate label');
  return labels;
}

export async function createZeroShotClassification(model: string | BertModel, options: PipelineOptions): Promise<ZeroShotClassificationPipeline> {
  const acquired = await acquireModel(
    model,
    { task: 'zero-shot-classification', accepts: ['SequenceClassification'], loadAs: 'SequenceClassification' },
    options,
  );
  const { model: m, tokenizer } = acquired;
  let entailmentId = -1;
  for (const [label, id] of Object.entries(m.config.label2id)) {
    if (label.toLowerCase().startsWith('entail')) {
      entailmentId = id;
      break;
    }
  }
  if (entailmentId < 0) {
    // transformers warns and goes on with the last label; a wrong answer helps nobody.
    if (acquired.owned) await m.dispose();
    throw new UnsupportedModelError(
      `zero-shot-classification needs an NLI model whose label2id has an "entailment" label; this one has ${Object.keys(m.config.label2id).join(', ')}`,
    );
  }
  const L = m.config.num_labels;
  // The tokenizer's limit, capped at the model's positions (transformers would crash past them).
  const maxLength = Math.min(tokenizer.modelMaxLength, m.config.encoder.maxSequenceLength);
  const contradictionId = entailmentId === 0 ? L - 1 : 0;

  return makePipeline<ZeroShotClassificationPipeline>(
    'zero-shot-classification',
    acquired,
    async (inputs: unknown, labelsOrOptions?: unknown, maybeOptions?: unknown) => {
      let o: Partial<ZeroShotClassificationOptions>;
      let labelsArg: unknown;
      if (typeof labelsOrOptions === 'string' || Array.isArray(labelsOrOptions)) {
        labelsArg = labelsOrOptions;
        o = checkOptions<ZeroShotClassificationOptions>(maybeOptions, CALL_OPTIONS, 'zero-shot-classification options');
        if (o.candidateLabels !== undefined) throw new InvalidInputError('candidate labels given twice');
      } else {
        o = checkOptions<ZeroShotClassificationOptions>(labelsOrOptions, CALL_OPTIONS, 'zero-shot-classification options');
        labelsArg = o.candidateLabels;
        if (labelsArg === undefined) throw new InvalidInputError('zero-shot-classification needs candidateLabels');
      }
      const labels = parseLabels(labelsArg);
      const template = o.hypothesisTemplate === undefined ? 'This example is {}.' : checkString(o.hypothesisTemplate, 'hypothesisTemplate');
      if (template.replaceAll('{}', labels[0]!) === template) {
        throw new InvalidInputError(`hypothesisTemplate ${JSON.stringify(template)} has no {} where the label goes`);
      }
      const multiLabel = o.multiLabel ?? false;
      if (typeof multiLabel !== 'boolean') throw new InvalidInputError('multiLabel must be a boolean');
      const { items, batched } = asBatch(inputs, (x, w) => checkString(x, w));
      const hypotheses = labels.map((l) => template.replaceAll('{}', l));
      const pairs = items.flatMap((t) => hypotheses.map((h) => [t, h] as const));
      // transformers: truncate the text only (the hypothesis stays whole), and not at all when that
      // cannot fit.
      let enc: BatchEncoding;
      try {
        enc = tokenizer.encodeBatch(pairs, { padding: false, truncation: 'only_first', maxLength, returnOverflowing: false });
      } catch (err) {
        if (!(err instanceof InvalidInputError && /too short/.test(err.message))) throw err;
        enc = tokenizer.encodeBatch(pairs, { padding: false, truncation: false, returnOverflowing: false });
      }
      const rows = enc.encodings.map(rowFromEncoding);
      const logits = new Array<Float32Array>(rows.length);
      await runRows(m, rows, { batchSize: resolveBatchSize(o.batchSize, options.batchSize), what: 'text', reportIndex: (r) => Math.floor(r / labels.length), tooLongHint: 'the hypothesis alone does not fit; shorten the template or the label' }, (i, r) => {
        logits[i] = Float32Array.from(r.sequence('logits'));
      });
      const n = labels.length;
      const results = items.map((sequence, s): ZeroShotResult => {
        const scores = new Float64Array(n);
        if (multiLabel || n === 1) {
          for (let k = 0; k < n; k++) {
            const l = logits[s * n + k]!;
            const c = Math.exp(l[contradictionId]!);
            const e = Math.exp(l[entailmentId]!);
            scores[k] = e / (c + e);
          }
        } else {
          let sum = 0;
          for (let k = 0; k < n; k++) {
            scores[k] = Math.exp(logits[s * n + k]![entailmentId]!);
            sum += scores[k]!;
          }
          for (let k = 0; k < n; k++) scores[k]! /= sum;
        }
        // transformers: reversed(argsort): ties come out last index first.
        const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => scores[b]! - scores[a]! || b - a);
        return { sequence, labels: order.map((k) => labels[k]!), scores: order.map((k) => scores[k]!) };
      });
      return batched ? results : results[0];
    },
    { entailmentId },
  );
}
