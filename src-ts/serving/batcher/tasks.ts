/**
 * What each batcher call makes of one sequence's outputs: embed (pooled, optionally cut and
 * normalised), classify (scored labels), rerank (one relevance score) and forward (raw copies).
 * Each factory checks the call's options first, then returns the per-sequence reducer.
 */
import { InvalidInputError, UnsupportedModelError } from '../../errors.js';
import type { BertModel } from '../../model/bert-model.js';
import { defaultClassificationFunction, outputSpecs, type Head } from '../../model/heads.js';
import type { RowResult } from '../../model/rows.js';
import { checkPooling, normalizeL2, poolTokens, type PoolingMode } from '../../pipelines/pooling.js';
import { positiveInt } from '../../util/checks.js';
import { applyFunction, sigmoid } from '../../util/math.js';
import type { Prepared, Reduce } from './queue.js';
import type { ClassifyFunction, ClassifyOptions, EmbedOptions, SequenceOutput } from './types.js';

/** The batcher settings the tasks read. */
export interface TaskTarget {
  readonly model: BertModel;
  readonly head: Head;
  readonly pooling: readonly PoolingMode[];
  readonly normalize: boolean;
}

function checkFunction(x: unknown): ClassifyFunction | undefined {
  if (x === undefined) return undefined;
  if (x === 'softmax' || x === 'sigmoid' || x === 'none') return x;
  throw new InvalidInputError(`functionToApply must be 'softmax', 'sigmoid' or 'none', got ${JSON.stringify(x)}`);
}

/** classify and rerank read the sequence-classification head's logits. */
export function needSequenceLogits(t: TaskTarget, task: string): void {
  const model = t.model;
  if (t.head !== 'SequenceClassification') {
    throw new UnsupportedModelError(`${task} needs a sequence-classification model (an architecture ending in ForSequenceClassification); this one is ${model.architecture}`);
  }
}

export function embedTask(t: TaskTarget, o: EmbedOptions): Reduce {
  const modes = o.pooling === undefined ? t.pooling : checkPooling(o.pooling);
  if (o.normalize !== undefined && typeof o.normalize !== 'boolean') throw new InvalidInputError('normalize must be a boolean');
  const normalize = o.normalize ?? t.normalize;
  const H = t.model.config.hidden_size;
  const dims = o.dimensions === undefined ? null : positiveInt(o.dimensions, 'dimensions');
  if (dims !== null && dims > H * modes.length) throw new InvalidInputError(`dimensions ${dims} is more than the embedding has (${H * modes.length})`);
  return (view: RowResult, seq: Prepared) => {
    let v = poolTokens(view.tokens('lastHiddenState'), view.length, H, seq.mask, modes);
    if (dims !== null) v = v.slice(0, dims);
    if (normalize) v = normalizeL2(v);
    return Float32Array.from(v);
  };
}

export function classifyTask(t: TaskTarget, o: ClassifyOptions): Reduce {
  needSequenceLogits(t, 'classify');
  const fn = checkFunction(o.functionToApply) ?? defaultClassificationFunction(t.model.config);
  const topK = o.topK === undefined ? Infinity : positiveInt(o.topK, 'topK');
  const id2label = t.model.config.id2label;
  return (view: RowResult) => {
    const scores = applyFunction(view.sequence('logits'), fn);
    const list = scores.map((score, k) => ({ label: id2label[k] ?? `LABEL_${k}`, score }));
    list.sort((a, b) => b.score - a.score);
    return list.length > topK ? list.slice(0, topK) : list;
  };
}

/** Cross-encoder relevance: the one logit, through the sigmoid or raw. */
export function rerankTask(t: TaskTarget, activation: 'sigmoid' | 'none'): Reduce {
  needSequenceLogits(t, 'rerank');
  if (t.model.config.num_labels !== 1) {
    throw new InvalidInputError(`rerank needs a cross-encoder with one output (num_labels 1); this model has ${t.model.config.num_labels} labels`);
  }
  return (view: RowResult) => {
    const logit = view.sequence('logits')[0]!;
    return activation === 'sigmoid' ? sigmoid(logit) : logit;
  };
}

/** Raw outputs, copied out of the shared batch; which are per token follows the head table. */
export function forwardTask(t: TaskTarget): Reduce {
  const logitsPerToken = outputSpecs(t.head, t.model.config, false).some((o) => o.field === 'logits' && o.perToken);
  return (view: RowResult) => {
    const out: SequenceOutput = { tokens: view.length, lastHiddenState: view.tokens('lastHiddenState').slice() };
    if (view.has('poolerOutput')) out.poolerOutput = view.sequence('poolerOutput').slice();
    if (view.has('logits')) out.logits = (logitsPerToken ? view.tokens('logits') : view.sequence('logits')).slice();
    if (view.has('startLogits')) out.startLogits = view.tokens('startLogits').slice();
    if (view.has('endLogits')) out.endLogits = view.tokens('endLogits').slice();
    return out;
  };
}
