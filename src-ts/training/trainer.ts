/**
 * createTrainer(model, options): one optimizer step per step() call (or per
 * gradientAccumulationSteps calls), the way transformers' Trainer does it:
 * gradients (each micro-batch's loss scaled by 1 / accumulation steps), clip_grad_norm_ over all
 * parameters, torch.optim.AdamW (decoupled weight decay; optionally the Trainer's convention of no
 * decay for biases and LayerNorm weights), then the schedule. Clipping and AdamW run in C++, in
 * place, on the engine's gradient arena.
 */
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidFileError, InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { parseSafetensors } from '../weights/index.js';
import type { TrainingInput, TrainingLabels } from './batch.js';
import { writeSafetensors } from './save.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { SCHEDULES, scheduleLambda, type ScheduleName, type ScheduleOptions } from './schedules.js';
import { TrainingError, asTrainable, type TrainableBertModel } from './trainable-model.js';
import { checkOptionNames, optionNames } from '../options.js';
import { onFileSystemError } from '../errors.js';

export interface TrainerOptions {
  learningRate: number;
  /** AdamW betas (default [0.9, 0.999]). */
  betas?: [number, number];
  /** AdamW eps, added after the bias-corrected square root (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay (default 0). */
  weightDecay?: number;
  /**
   * 'bias-and-layernorm' (default): transformers.Trainer's convention, no weight decay for biases
   * and LayerNorm weights; 'none': every parameter decays (plain AdamW on model.parameters()).
   */
  noDecay?: 'bias-and-layernorm' | 'none';
  /** Default 'linear' (transformers' default). */
  schedule?: ScheduleName;
  warmupSteps?: number;
  /** Optimizer steps in the whole run (linear and cosine schedules need it). */
  totalSteps?: number;
  /** Cosine schedule waves (default 0.5). */
  numCycles?: number;
  /** Clip the global gradient norm to this (default 1.0, as TrainingArguments; 0 = no clipping). */
  maxGradNorm?: number;
  /** Micro-batches per optimizer step (default 1). */
  gradientAccumulationSteps?: number;
  /** Seeds the dropout stream (default: the model's current seed). */
  seed?: number;
}

export interface StepOutput {
  /** The micro-batch's loss (transformers' out.loss). */
  loss: number;
  /** The learning rate of this optimizer step (the last one taken when `updated` is false). */
  learningRate: number;
  /** Global gradient norm before clipping (NaN when this call did not update). */
  gradNorm: number;
  /** Clip coefficient applied (1 = none). */
  clipCoef: number;
  /** Optimizer steps taken so far. */
  step: number;
  /** Whether this call ran the optimizer (false for the first micro-batches of an accumulation). */
  updated: boolean;
  /** BertForPreTraining: the two terms of the loss. */
  mlmLoss?: number;
  nspLoss?: number;
}

/** transformers.Trainer.get_decay_parameter_names: what is excluded from weight decay. */
export function isNoDecayParameter(name: string): boolean {
  const n = name.toLowerCase();
  return /bias/.test(n) || /layernorm/.test(n) || /rmsnorm/.test(n) || /(?:^|\.)norm(?:$|\.)/.test(n) || /_norm(?:$|\.)/.test(n);
}

interface ResolvedOptions {
  learningRate: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  noDecay: 'bias-and-layernorm' | 'none';
  schedule: ScheduleName;
  warmupSteps: number;
  totalSteps?: number;
  numCycles: number;
  maxGradNorm: number;
  gradientAccumulationSteps: number;
}

/** The option names of TrainerOptions (fit passes these on to the trainer). */
export const TRAINER_OPTIONS = optionNames<TrainerOptions>({
  learningRate: true,
  betas: true,
  eps: true,
  weightDecay: true,
  noDecay: true,
  schedule: true,
  warmupSteps: true,
  totalSteps: true,
  numCycles: true,
  maxGradNorm: true,
  gradientAccumulationSteps: true,
  seed: true,
});

function scheduleOf(r: ResolvedOptions): ScheduleOptions {
  return { schedule: r.schedule, warmupSteps: r.warmupSteps, numCycles: r.numCycles, ...(r.totalSteps === undefined ? {} : { totalSteps: r.totalSteps }) };
}

function resolveOptions(o: TrainerOptions): ResolvedOptions {
  if (o === null || typeof o !== 'object') throw new InvalidInputError('createTrainer(model, options) needs options with a learningRate');
  checkOptionNames(o, TRAINER_OPTIONS, 'createTrainer() options');
  const num = (name: string, v: unknown, lo: number, hi: number): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw new InvalidInputError(`${name} must be a number in [${lo}, ${hi}], got ${String(v)}`);
    return v;
  };
  const betas = o.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2) throw new InvalidInputError('betas must be [beta1, beta2]');
  const noDecay = o.noDecay ?? 'bias-and-layernorm';
  if (noDecay !== 'bias-and-layernorm' && noDecay !== 'none') throw new InvalidInputError(`noDecay must be 'bias-and-layernorm' or 'none', got ${JSON.stringify(noDecay)}`);
  const schedule = o.schedule ?? 'linear';
  if (!SCHEDULES.includes(schedule)) throw new InvalidInputError(`schedule must be one of ${SCHEDULES.join(', ')}, got ${JSON.stringify(schedule)}`);
  const accum = o.gradientAccumulationSteps ?? 1;
  if (!Number.isInteger(accum) || accum < 1) throw new InvalidInputError(`gradientAccumulationSteps must be an integer >= 1, got ${String(accum)}`);
  const r: ResolvedOptions = {
    learningRate: num('learningRate', o.learningRate, 0, 1e3),
    betas: [num('betas[0]', betas[0], 0, 0.999999999), num('betas[1]', betas[1], 0, 0.999999999)],
    eps: num('eps', o.eps ?? 1e-8, 0, 1),
    weightDecay: num('weightDecay', o.weightDecay ?? 0, 0, 1e3),
    noDecay,
    schedule,
    warmupSteps: o.warmupSteps ?? 0,
    numCycles: num('numCycles', o.numCycles ?? 0.5, 0, 1e6),
    maxGradNorm: o.maxGradNorm === Infinity ? 0 : num('maxGradNorm', o.maxGradNorm ?? 1, 0, 1e30),
    gradientAccumulationSteps: accum,
  };
  if (o.totalSteps !== undefined) r.totalSteps = o.totalSteps;
  scheduleLambda(scheduleOf(r)); // validates warmup / totalSteps now rather than at the first step
  return r;
}

export interface TrainerState {
  step: number;
  microStep: number;
  rng: { seed: number; counter: number };
}

export class Trainer {
  readonly model: TrainableBertModel;
  readonly options: Readonly<ResolvedOptions>;
  readonly #lambda: (step: number) => number;
  readonly #noDecay: Uint8Array;
  #step = 0;
  #micro = 0;
  #lastLr = 0;

  constructor(model: BertModel, options: TrainerOptions) {
    this.model = asTrainable(model);
    this.options = resolveOptions(options);
    this.#lambda = scheduleLambda(scheduleOf(this.options));
    const params = this.model.native.parameters();
    this.#noDecay = Uint8Array.from(params, (p) =>
      this.options.noDecay === 'bias-and-layernorm' && isNoDecayParameter(this.model.checkpointName(p.name)) ? 1 : 0,
    );
    if (options.seed !== undefined) this.model.seed(options.seed);
  }

  /** Optimizer steps taken. */
  get globalStep(): number {
    return this.#step;
  }

  /** The learning rate optimizer step `step` (0-based) uses. */
  learningRateAt(step: number): number {
    return this.options.learningRate * this.#lambda(step);
  }

  /** Checkpoint names of the parameters that get no weight decay. */
  noDecayParameters(): string[] {
    return this.model.native
      .parameters()
      .filter((_, i) => this.#noDecay[i])
      .map((p) => this.model.checkpointName(p.name));
  }

  /**
   * One micro-batch: forward, loss, backward (accumulated); on the last micro-batch of an
   * accumulation, clipping, AdamW and the schedule. A non-finite loss or gradient norm throws a
   * TrainingError naming the step, and nothing is updated.
   */
  async step(inputs: TrainingInput, labels: TrainingLabels): Promise<StepOutput> {
    const k = this.options.gradientAccumulationSteps;
    const stepNo = this.#step + 1;
    const g = await this.model.computeGradients(inputs, labels, {
      outputLogits: false,
      grads: false,
      accumulate: this.#micro > 0,
      lossScale: 1 / k,
    });
    if (!Number.isFinite(g.loss)) {
      const micro = this.#micro + 1;
      this.#micro = 0;
      throw new TrainingError(
        `non-finite loss (${g.loss}) at step ${stepNo}${k > 1 ? ` (micro-batch ${micro} of ${k})` : ''}: ` +
          'check the labels (a batch whose labels are all -100 has no loss) and lower the learning rate',
        stepNo,
      );
    }
    this.#micro++;
    const parts = g.mlmLoss === undefined ? {} : { mlmLoss: g.mlmLoss, nspLoss: g.nspLoss! };
    if (this.#micro < k) {
      return { loss: g.loss, learningRate: this.#lastLr, gradNorm: NaN, clipCoef: 1, step: this.#step, updated: false, ...parts };
    }
    this.#micro = 0;
    const lr = this.learningRateAt(this.#step);
    const o = this.options;
    const r = await this.model.enqueue(() =>
      this.model.native.step({
        lr,
        beta1: o.betas[0],
        beta2: o.betas[1],
        eps: o.eps,
        weight_decay: o.weightDecay,
        no_decay: this.#noDecay,
        max_grad_norm: o.maxGradNorm,
      }),
    );
    if (!r.applied) {
      throw new TrainingError(`non-finite gradient norm (${r.grad_norm}) at step ${stepNo}: nothing was updated; lower the learning rate`, stepNo);
    }
    this.#step++;
    this.#lastLr = lr;
    return { loss: g.loss, learningRate: lr, gradNorm: r.grad_norm, clipCoef: r.clip_coef, step: this.#step, updated: true, ...parts };
  }

  /** Where the trainer is (step counters and the dropout stream). */
  state(): TrainerState {
    return { step: this.#step, microStep: this.#micro, rng: this.model.rngState() };
  }

  /**
   * Saves the optimizer: `optimizer.safetensors` (AdamW's exp_avg / exp_avg_sq per parameter, by
   * checkpoint name) and `trainer_state.json` (steps, dropout stream, options).
   */
  async saveState(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true }).catch(onFileSystemError('cannot create the folder', dir));
    const params = this.model.native.parameters();
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const p of params) {
      const n = p.dims.reduce((a, b) => a * b, 1);
      m[p.name] = new Float32Array(n);
      v[p.name] = new Float32Array(n);
    }
    const steps = await this.model.enqueue(() => this.model.native.readOptimizerState(m, v));
    const tensors: Record<string, { dims: number[]; data: Float32Array }> = {};
    for (const p of params) {
      const name = this.model.checkpointName(p.name);
      tensors[`exp_avg.${name}`] = { dims: p.dims, data: m[p.name]! };
      tensors[`exp_avg_sq.${name}`] = { dims: p.dims, data: v[p.name]! };
    }
    await writeSafetensors(join(dir, 'optimizer.safetensors'), tensors, { optimizer: 'AdamW' }).catch(onFileSystemError('cannot write', join(dir, 'optimizer.safetensors')));
    const state = { ...this.state(), optimizerSteps: steps, options: this.options, format: 'bertkit-trainer-1' };
    await writeFileAtomic(join(dir, 'trainer_state.json'), `${JSON.stringify(state, null, 2)}\n`);
  }

  /** Restores what saveState wrote (the model's parameters are restored by loading its folder). */
  async loadState(dir: string): Promise<void> {
    const file = join(dir, 'optimizer.safetensors');
    let buf: Buffer;
    let state: any;
    try {
      buf = await readFile(file);
      state = JSON.parse(await readFile(join(dir, 'trainer_state.json'), 'utf8'));
    } catch (cause) {
      throw new InvalidFileError(`cannot read the trainer state: ${(cause as Error).message}`, dir);
    }
    if (state?.format !== 'bertkit-trainer-1') throw new InvalidFileError('not a bertkit trainer_state.json', join(dir, 'trainer_state.json'));
    const tensors = parseSafetensors(buf, file);
    const params = this.model.native.parameters();
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const p of params) {
      const name = this.model.checkpointName(p.name);
      const get = (key: string) => {
        const t = tensors.get(key);
        const n = p.dims.reduce((a, b) => a * b, 1);
        if (!t || t.dtype !== 'F32' || t.data.byteLength !== n * 4) throw new InvalidFileError(`${key} is missing or has the wrong shape`, file);
        const out = new Float32Array(n);
        new Uint8Array(out.buffer).set(t.data);
        return out;
      };
      m[p.name] = get(`exp_avg.${name}`);
      v[p.name] = get(`exp_avg_sq.${name}`);
    }
    await this.model.enqueue(() => this.model.native.writeOptimizerState(m, v, state.optimizerSteps));
    this.#step = state.step;
    this.#micro = 0;
    this.#lastLr = this.#step > 0 ? this.learningRateAt(this.#step - 1) : 0;
    if (state.rng) this.model.seed(state.rng.seed, state.rng.counter);
  }
}

/** A Trainer for a model loaded with `training: true`. */
export function createTrainer(model: BertModel, options: TrainerOptions): Trainer {
  return new Trainer(model, options);
}
