/**
 * The training loop: epochs of seeded-shuffled batches through trainer.step, evaluation
 * (loss and the task's metrics) every `evalEvery` steps or epoch, early stopping on the chosen
 * metric, checkpoints (model folder + optimizer state), and a loss-curve SVG and a JSON Lines log
 * written next to them. Deterministic for a seed.
 */
import { appendFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError } from '../errors.js';
import { fsError, fsyncDir, tempPathFor, writeFileAtomic } from '../util/atomic-file.js';
import { lossChartSvg, smooth } from './chart.js';
import { Rng, collate, shuffle, type Batch, type Example, type LabelMap } from './data.js';
import { accuracy, argmaxRows, bestSpan, entityF1, exactMatch, f1Score, squadF1 } from './metrics.js';
import { asTrainable, type TrainableBertModel } from './trainable-model.js';
import { TRAINER_OPTIONS, createTrainer, type Trainer, type TrainerOptions } from './trainer.js';
import type { BertModel } from '../model/bert-model.js';
import { outputField } from '../model/heads.js';
import { checkOptionNames, optionNames } from '../options.js';
import { onFileSystemError } from '../errors.js';

export interface LogEntry {
  step: number;
  epoch: number;
  loss?: number;
  learningRate?: number;
  gradNorm?: number;
  /** Evaluation: eval_loss and the task's metrics. */
  eval?: Record<string, number>;
  /** Seconds since the start. */
  time: number;
}

export interface FitOptions extends Omit<TrainerOptions, 'totalSteps'> {
  train: readonly Example[];
  eval?: readonly Example[];
  /** Default 3 (ignored when maxSteps is given). */
  epochs?: number;
  /** Stop after this many optimizer steps. */
  maxSteps?: number;
  /** Default 16. */
  batchSize?: number;
  evalBatchSize?: number;
  /** Shuffle and dropout seed (default 42). */
  seed?: number;
  /** Warmup as a share of the total steps (used when warmupSteps is not given). */
  warmupRatio?: number;
  /** Evaluate every N optimizer steps (default: at the end of each epoch). */
  evalEvery?: number;
  /** The metric that picks the best checkpoint and drives early stopping (default: the task's main one). */
  metric?: string;
  /** Stop after this many evaluations without improvement (default: never). */
  earlyStoppingPatience?: number;
  /** Checkpoints, loss.svg and log.jsonl go here; the final (best) model too. */
  outputDir?: string;
  /** Checkpoint folders kept (default 2, the best one is always kept). */
  saveTotalLimit?: number;
  /** Restore the best evaluation's parameters at the end (default true when evaluating). */
  loadBestModelAtEnd?: boolean;
  /** Label names, written to the saved config and used for entity-level NER F1. */
  labels?: LabelMap;
  /** Builds a training batch (e.g. the MLM collator); default: pad and stack. */
  collate?: (examples: readonly Example[]) => Batch;
  /** Builds an evaluation batch (default: `collate`, or pad and stack). */
  evalCollate?: (examples: readonly Example[]) => Batch;
  onLog?: (entry: LogEntry) => void;
  /** After every optimizer step. */
  onStep?: (info: { step: number; totalSteps: number; loss: number; learningRate: number }) => void;
}

const FIT_OPTIONS = [
  ...TRAINER_OPTIONS.filter((k) => k !== 'totalSteps'),
  ...optionNames<Omit<FitOptions, keyof TrainerOptions>>({
    train: true,
    eval: true,
    epochs: true,
    maxSteps: true,
    batchSize: true,
    evalBatchSize: true,
    warmupRatio: true,
    evalEvery: true,
    metric: true,
    earlyStoppingPatience: true,
    outputDir: true,
    saveTotalLimit: true,
    loadBestModelAtEnd: true,
    labels: true,
    collate: true,
    evalCollate: true,
    onLog: true,
    onStep: true,
  }),
];

export interface FitResult {
  history: LogEntry[];
  globalStep: number;
  best?: { step: number; metric: string; value: number };
  stoppedEarly: boolean;
  /** The folder holding the final model (outputDir) when one was given. */
  outputDir?: string;
}

function mainMetric(model: TrainableBertModel): { name: string; greater: boolean } {
  switch (model.head) {
    case 'SequenceClassification':
      if (model.config.problem_type === 'regression' || model.config.num_labels === 1) return { name: 'mse', greater: false };
      return { name: model.config.problem_type === 'multi_label_classification' ? 'f1' : 'accuracy', greater: true };
    case 'TokenClassification': return { name: 'f1', greater: true };
    case 'QuestionAnswering': return { name: 'exact_match', greater: true };
    case 'MultipleChoice':
    case 'NextSentencePrediction': return { name: 'accuracy', greater: true };
    default: return { name: 'eval_loss', greater: false };
  }
}

export interface EvaluateOptions {
  batchSize?: number;
  collate?: (examples: readonly Example[]) => Batch;
  labels?: LabelMap;
}

/** Loss and the task's metrics on `examples` (eval mode: no dropout; the gradients are not touched). */
export async function evaluate(modelIn: BertModel, examples: readonly Example[], options: EvaluateOptions = {}): Promise<Record<string, number>> {
  const model = asTrainable(modelIn);
  checkOptionNames(options, optionNames<EvaluateOptions>({ batchSize: true, collate: true, labels: true }), 'evaluate() options');
  const wasTraining = model.training;
  model.eval();
  const bs = options.batchSize ?? 32;
  const pad = (model.hasTokenizer ? model.tokenizer.padTokenId : undefined) ?? model.config.pad_token_id ?? 0;
  const make = options.collate ?? ((ex: readonly Example[]) => collate(ex, pad));
  let lossSum = 0;
  let lossN = 0;
  const preds: number[] = [];
  const gold: number[] = [];
  const predTags: string[][] = [];
  const goldTags: string[][] = [];
  let em = 0;
  let f1 = 0;
  let qa = 0;
  let sq = 0;
  let mlmOk = 0;
  let mlmN = 0;
  const c = model.config;
  const multi = c.problem_type === 'multi_label_classification';
  const regression = c.problem_type === 'regression' || (model.head === 'SequenceClassification' && c.num_labels === 1);
  try {
    for (let i = 0; i < examples.length; i += bs) {
      const batch = make(examples.slice(i, i + bs));
      const out = await model.computeGradients(batch.inputs, batch.labels, { grads: false, backward: false });
      const n = batch.examples.length;
      if (Number.isFinite(out.loss)) {
        lossSum += out.loss * n;
        lossN += n;
      }
      switch (model.head) {
        case 'SequenceClassification': {
          const logits = out.logits!.data;
          const C = c.num_labels;
          batch.examples.forEach((e, b) => {
            if (regression) {
              const want = [e.label!].flat();
              want.forEach((y, k) => (sq += (logits[b * C + k]! - y) ** 2));
            } else if (multi) {
              (e.label as number[]).forEach((y, k) => {
                preds.push(logits[b * C + k]! > 0 ? 1 : 0);
                gold.push(y);
              });
            } else {
              preds.push(argmaxRows(logits.subarray(b * C, (b + 1) * C), C)[0]!);
              gold.push(e.label as number);
            }
          });
          break;
        }
        case 'MultipleChoice':
        case 'NextSentencePrediction': {
          const w = out.logits!.dims[1]!;
          preds.push(...argmaxRows(out.logits!.data, w));
          gold.push(...batch.examples.map((e) => (model.head === 'NextSentencePrediction' ? e.nextSentenceLabel! : (e.label as number))));
          break;
        }
        case 'TokenClassification': {
          const [, L, C] = out.logits!.dims;
          const names = options.labels?.id2label ?? c.id2label;
          batch.examples.forEach((e, b) => {
            const p: string[] = [];
            const g: string[] = [];
            e.tokenLabels!.forEach((y, j) => {
              if (y === -100) return;
              const k = argmaxRows(out.logits!.data.subarray((b * L! + j) * C!, (b * L! + j + 1) * C!), C!)[0]!;
              preds.push(k);
              gold.push(y);
              p.push(names[k] ?? String(k));
              g.push(names[y] ?? String(y));
            });
            predTags.push(p);
            goldTags.push(g);
          });
          break;
        }
        case 'QuestionAnswering': {
          const L = out.startLogits!.dims[1]!;
          batch.examples.forEach((e, b) => {
            const meta = e.meta as { answers: string[]; context: string; offsets: [number, number][]; sequenceIds: (number | null)[] } | undefined;
            if (!meta) return;
            const s = out.startLogits!.data.subarray(b * L, (b + 1) * L);
            const en = out.endLogits!.data.subarray(b * L, (b + 1) * L);
            const [bs2, be] = bestSpan(s, en, (t) => t < meta.sequenceIds.length && meta.sequenceIds[t] === 1);
            const text = meta.context.slice(meta.offsets[bs2]![0], meta.offsets[be]![1]);
            em += exactMatch(text, meta.answers);
            f1 += squadF1(text, meta.answers);
            qa++;
          });
          break;
        }
        case 'MaskedLM':
        case 'PreTraining': {
          // ELECTRA's PreTraining head is the discriminator: no masked-LM logits, eval_loss only.
          const field = outputField(model.head, 'mlm', c.model_type) as 'logits' | 'predictionLogits' | undefined;
          if (field === undefined) break;
          const t = out[field]!;
          const [, L, V] = t.dims;
          const lab = batch.labels.labels as number[][];
          lab.forEach((row, b) =>
            row.forEach((y, j) => {
              if (y === -100) return;
              mlmN++;
              if (argmaxRows(t.data.subarray((b * L! + j) * V!, (b * L! + j + 1) * V!), V!)[0] === y) mlmOk++;
            }),
          );
          break;
        }
        default:
          break;
      }
    }
  } finally {
    model.train(wasTraining);
  }
  const m: Record<string, number> = { eval_loss: lossN ? lossSum / lossN : NaN };
  if (regression) m.mse = sq / Math.max(1, examples.length * c.num_labels);
  else if (preds.length) {
    m.accuracy = accuracy(preds, gold);
    m.f1 = multi ? f1Score(preds, gold, 'binary') : f1Score(preds, gold);
  }
  if (predTags.length && Object.values(options.labels?.id2label ?? c.id2label).some((n) => /^[BIES]-/.test(n))) {
    const e = entityF1(predTags, goldTags);
    m.f1 = e.f1;
    m.precision = e.precision;
    m.recall = e.recall;
  }
  if (qa) {
    m.exact_match = em / qa;
    m.f1 = f1 / qa;
  }
  if (mlmN) {
    m.mlm_accuracy = mlmOk / mlmN;
    m.perplexity = Math.exp(m.eval_loss!);
  }
  return m;
}

/** Trains `model` on `options.train` (see FitOptions); returns the log and the best evaluation. */
export async function fit(modelIn: BertModel, options: FitOptions): Promise<FitResult> {
  const model = asTrainable(modelIn);
  if (options === null || typeof options !== 'object') throw new InvalidInputError('fit(model, options) needs options with train examples');
  checkOptionNames(options, FIT_OPTIONS, 'fit() options');
  if (!options.train?.length) throw new InvalidInputError('fit() needs training examples');
  const bs = options.batchSize ?? 16;
  const seed = options.seed ?? 42;
  const perEpoch = Math.ceil(options.train.length / bs);
  const accum = options.gradientAccumulationSteps ?? 1;
  const stepsPerEpoch = Math.ceil(perEpoch / accum);
  const epochs = options.epochs ?? 3;
  const totalSteps = options.maxSteps ?? stepsPerEpoch * epochs;
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new InvalidInputError('fit() needs at least one step (epochs or maxSteps)');
  const warmupSteps = options.warmupSteps ?? Math.ceil((options.warmupRatio ?? 0) * totalSteps);
  const trainerOptions: Record<string, unknown> = {};
  for (const k of TRAINER_OPTIONS) if ((options as unknown as Record<string, unknown>)[k] !== undefined) trainerOptions[k] = (options as unknown as Record<string, unknown>)[k];
  const trainer: Trainer = createTrainer(model, { ...(trainerOptions as unknown as TrainerOptions), totalSteps, warmupSteps, seed });
  const pad = (model.hasTokenizer ? model.tokenizer.padTokenId : undefined) ?? model.config.pad_token_id ?? 0;
  const makeBatch = options.collate ?? ((ex: readonly Example[]) => collate(ex, pad));
  const evalBatch = options.evalCollate ?? options.collate;
  const { name: metricName, greater } = options.metric
    ? { name: options.metric, greater: !/loss|mse|perplexity/.test(options.metric) }
    : mainMetric(model);
  const history: LogEntry[] = [];
  const t0 = performance.now();
  const out = options.outputDir;
  if (out) {
    await mkdir(out, { recursive: true }).catch(onFileSystemError('cannot create the folder', out));
    await writeFile(join(out, 'log.jsonl'), '').catch(onFileSystemError('cannot write', join(out, 'log.jsonl')));
  }
  let best: FitResult['best'];
  let bestState: Awaited<ReturnType<TrainableBertModel['stateDict']>> | undefined;
  let bestCheckpoint: string | undefined;
  const checkpoints: string[] = [];
  let sinceBest = 0;
  let stoppedEarly = false;

  const log = async (e: LogEntry) => {
    history.push(e);
    options.onLog?.(e);
    if (out) {
      await appendFile(join(out, 'log.jsonl'), `${JSON.stringify(e)}\n`).catch(onFileSystemError('cannot write', join(out, 'log.jsonl')));
    }
  };
  const chart = async () => {
    if (!out) return;
    const train = history.filter((h) => h.loss !== undefined).map((h): [number, number] => [h.step, h.loss!]);
    const ev = history.filter((h) => h.eval).map((h): [number, number] => [h.step, h.eval!.eval_loss!]);
    await writeFileAtomic(
      join(out, 'loss.svg'),
      lossChartSvg([
        { name: 'train loss', points: train, color: '#9ecae1' },
        { name: 'train loss (smoothed)', points: smooth(train, 0.1), color: '#08519c' },
        { name: 'eval loss', points: ev, color: '#d94801', dots: true },
      ]),
    ).catch(onFileSystemError('cannot write', join(out, 'loss.svg')));
  };
  const evaluateAndCheckpoint = async (epoch: number) => {
    if (!options.eval?.length) {
      if (out) await saveCheckpoint();
      return;
    }
    const evalOpts: EvaluateOptions = { batchSize: options.evalBatchSize ?? bs };
    if (evalBatch) evalOpts.collate = evalBatch;
    if (options.labels) evalOpts.labels = options.labels;
    const metrics = await evaluate(model, options.eval, evalOpts);
    await log({ step: trainer.globalStep, epoch, eval: metrics, time: (performance.now() - t0) / 1000 });
    const value = metrics[metricName];
    if (value === undefined) throw new InvalidInputError(`metric ${JSON.stringify(metricName)} is not computed for this task (${Object.keys(metrics).join(', ')})`);
    const better = best === undefined || (greater ? value > best.value : value < best.value);
    if (better) {
      best = { step: trainer.globalStep, metric: metricName, value };
      sinceBest = 0;
      if (options.loadBestModelAtEnd !== false) bestState = await model.stateDict();
    } else {
      sinceBest++;
    }
    if (out) {
      const dir = await saveCheckpoint();
      if (better) bestCheckpoint = dir;
    }
    await chart();
    if (options.earlyStoppingPatience !== undefined && sinceBest >= options.earlyStoppingPatience) stoppedEarly = true;
  };
  const saveCheckpoint = async (): Promise<string> => {
    // Written whole into a temporary folder, then renamed: a checkpoint-N folder is always complete.
    const dir = join(out!, `checkpoint-${trainer.globalStep}`);
    const tmp = tempPathFor(dir);
    try {
      await model.save(tmp);
      await trainer.saveState(tmp);
      await writeFileAtomic(join(tmp, 'log.json'), `${JSON.stringify({ best, history }, null, 1)}\n`);
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
      await fsyncDir(out!);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw fsError(err, dir, 'write');
    }
    checkpoints.push(dir);
    const limit = options.saveTotalLimit ?? 2;
    while (checkpoints.length > limit) {
      const idx = checkpoints.findIndex((c) => c !== bestCheckpoint && c !== dir);
      if (idx < 0) break;
      await rm(checkpoints[idx]!, { recursive: true, force: true }).catch(onFileSystemError('cannot remove', checkpoints[idx]!));
      checkpoints.splice(idx, 1);
    }
    return dir;
  };

  if (options.labels) {
    // The label names go into the saved config.json.
    const c = model.config as { id2label: Record<number, string>; label2id: Record<string, number> };
    c.id2label = { ...options.labels.id2label };
    c.label2id = { ...options.labels.label2id };
  }
  model.train();
  let epoch = 0;
  let micro = 0;
  outer: while (trainer.globalStep < totalSteps) {
    const rng = new Rng(seed + epoch * 1000003);
    const order = shuffle(options.train, rng);
    let lossAcc = 0;
    for (let i = 0; i < order.length; i += bs) {
      const batch = makeBatch(order.slice(i, i + bs));
      const r = await trainer.step(batch.inputs, batch.labels);
      lossAcc += r.loss;
      micro++;
      if (!r.updated) continue;
      const loss = lossAcc / accum;
      lossAcc = 0;
      options.onStep?.({ step: r.step, totalSteps, loss, learningRate: r.learningRate });
      await log({ step: r.step, epoch: epoch + micro / perEpoch, loss, learningRate: r.learningRate, gradNorm: r.gradNorm, time: (performance.now() - t0) / 1000 });
      if (options.evalEvery && r.step % options.evalEvery === 0) {
        await evaluateAndCheckpoint(epoch + micro / perEpoch);
        if (stoppedEarly) break outer;
      }
      if (trainer.globalStep >= totalSteps) break;
    }
    epoch++;
    micro = 0;
    if (!options.evalEvery) {
      await evaluateAndCheckpoint(epoch);
      if (stoppedEarly) break;
    }
  }
  if (options.evalEvery && history.at(-1)?.eval === undefined && !stoppedEarly) await evaluateAndCheckpoint(epoch);
  if (bestState && options.loadBestModelAtEnd !== false) await model.loadStateDict(bestState);
  if (out) {
    await model.save(out);
    await chart();
  }
  const result: FitResult = { history, globalStep: trainer.globalStep, stoppedEarly };
  if (best) result.best = best;
  if (out) result.outputDir = out;
  return result;
}
