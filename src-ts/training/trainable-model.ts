/**
 * TrainableBertModel: what `loadModel(dir, { training: true })` returns. A BertModel (forward,
 * forwardPacked, dispose work as usual, computed by the training engine in eval mode) with
 * computeGradients, stateDict, save, train/eval and the dropout controls. Parameters are plain
 * float32 arrays in native/train; names in grads / stateDict / save are the checkpoint's own
 * (`weights.sourceNames`: canonical → stored).
 */
import { dirname } from 'node:path';
import type { Architecture, BertConfig } from '../config.js';
import {
  DisposedError,
  NOT_TRAINABLE,
  TrainingError,
  InvalidInputError,
  UnsupportedModelError,
  captureCallerStack,
  withCallerStack,
} from '../errors.js';
import { BertModel, type BackendInfo, type WeightsInfo } from '../model/bert-model.js';
import { CallQueue } from '../model/call-queue.js';
import { adaptBatch } from '../model/families.js';
import { headOutputs, outputField, type OutputSpec } from '../model/heads.js';
import type { Tensor } from '../model/outputs.js';
import type { AddonTrainer, ModelConfig, NativeBinding, ParameterInfo, TensorView, TrainInfo, TrainOutputs } from '../native/types.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { packTrainingBatch, scatterRows, type PackedTrainingBatch, type TrainingInput, type TrainingLabels } from './batch.js';
import { saveModel, type SaveOptions } from './save.js';
import { checkOptionNames, optionNames } from '../options.js';

export type { TrainingInput, TrainingLabels } from './batch.js';

/** A tensor by checkpoint name. */
export type StateDict = Record<string, Tensor>;

export interface ComputeGradientsOptions {
  /** Return the logits (default true). For MLM heads, false runs the head only on labelled tokens. */
  outputLogits?: boolean;
  /** Return the gradients (default true); they always stay in the engine for trainer.step. */
  grads?: boolean;
  /** Add to the gradients already held instead of replacing them (gradient accumulation). */
  accumulate?: boolean;
  /** Gradients of lossScale * loss (default 1). */
  lossScale?: number;
  /** false: forward and loss only (evaluation); the gradients held are left untouched. Default true. */
  backward?: boolean;
}

const COMPUTE_GRADIENTS_OPTIONS = optionNames<ComputeGradientsOptions>({ outputLogits: true, grads: true, accumulate: true, lossScale: true, backward: true });

export interface GradientsResult {
  /** transformers' out.loss (mean loss of the batch). */
  loss: number;
  /** BertForPreTraining: the two terms of the loss. */
  mlmLoss?: number;
  nspLoss?: number;
  logits?: Tensor;
  predictionLogits?: Tensor;
  seqRelationshipLogits?: Tensor;
  /** AlbertForPreTraining: the sentence-order logits (its labels are `nextSentenceLabel`). */
  sopLogits?: Tensor;
  startLogits?: Tensor;
  endLogits?: Tensor;
  /** d loss / d parameter by checkpoint name ({} when options.grads is false). */
  grads: StateDict;
}

export interface DropoutSettings {
  hidden: number;
  attention: number;
  classifier: number;
}

export interface TrainingMemory {
  weights: number;
  gradients: number;
  /** AdamW moments (0 before the first optimizer step). */
  optimizer: number;
  /** Saved activations and backward temporaries (grows to the largest batch seen). */
  activations: number;
}

export { TrainingError };

export class TrainableBertModel extends BertModel {
  /** The folder the model was loaded from (tokenizer files are copied from it on save). */
  readonly sourceDir: string | undefined;
  readonly #trainer: AddonTrainer;
  readonly #params: ParameterInfo[];
  #training = true;
  #dropout: DropoutSettings;
  readonly #queue = new CallQueue();
  #closed = false;

  /** @internal Use loadTrainableModel(dir), or loadModel(dir, { training: true }). */
  constructor(
    native: AddonTrainer,
    config: BertConfig,
    architecture: Architecture,
    backend: BackendInfo,
    weights: WeightsInfo,
    hasPooler: boolean,
    dropout: DropoutSettings,
    tokenizer?: Tokenizer,
    sourceDir?: string,
    noTokenizerReason?: string,
  ) {
    super(native, config, architecture, backend, weights, hasPooler, tokenizer, noTokenizerReason);
    this.#trainer = native;
    this.#params = native.parameters();
    this.#dropout = { ...dropout };
    this.sourceDir = sourceDir;
  }

  /** Dropout on in computeGradients / trainer.step (PyTorch's model.train()); forward() is always eval. */
  get training(): boolean {
    return this.#training;
  }
  train(mode = true): this {
    this.#training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Dropout probabilities used in training mode (config.json's, unless changed here). */
  get dropout(): DropoutSettings {
    return { ...this.#dropout };
  }
  setDropout(settings: Partial<DropoutSettings>): void {
    checkOptionNames(settings, ['hidden', 'attention', 'classifier'], 'setDropout() settings');
    const next = { ...this.#dropout, ...settings };
    for (const [k, v] of Object.entries(next)) {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new InvalidInputError(`dropout ${k} must be a number in [0, 1], got ${String(v)}`);
    }
    this.#live().setDropout(next.hidden, next.attention, next.classifier);
    this.#dropout = next;
  }

  /** Seeds the dropout stream (counter-based: a seed and a step counter give the same masks anywhere). */
  seed(seed: number, counter = 0): void {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidInputError(`seed must be a non-negative safe integer, got ${String(seed)}`);
    this.#live().setRngState(seed, counter);
  }
  /** @internal */
  rngState(): { seed: number; counter: number } {
    return this.#live().getRngState();
  }

  /** Checkpoint names of the trainable parameters, with their shapes. */
  parameters(): { name: string; dims: number[] }[] {
    return this.#params.map((p) => ({ name: this.checkpointName(p.name), dims: [...p.dims] }));
  }

  /** @internal Canonical (engine) name → the checkpoint's name. */
  checkpointName(canonical: string): string {
    return this.weights.sourceNames.get(canonical) ?? canonical;
  }

  /** @internal */
  get native(): AddonTrainer {
    return this.#live();
  }

  /** Memory the training engine holds, in bytes. */
  trainingMemory(): TrainingMemory {
    const t: TrainInfo = this.#live().trainingInfo();
    return { weights: t.weight_bytes, gradients: t.gradient_bytes, optimizer: t.optimizer_bytes, activations: t.activation_bytes };
  }

  /**
   * Forward, loss and backward of one padded batch, exactly as transformers' `model(**inputs,
   * **labels).loss.backward()` (dropout per `training`). Returns the loss, the logits and every
   * parameter's gradient by checkpoint name.
   */
  #computeGradients(inputs: TrainingInput, labels: TrainingLabels, options: ComputeGradientsOptions): Promise<GradientsResult> {
    const caller = captureCallerStack();
    return this.#enqueue(caller, async () => {
      checkOptionNames(options, COMPUTE_GRADIENTS_OPTIONS, 'computeGradients() options');
      const packed = packTrainingBatch(this.config, this.architecture, inputs, labels);
      packed.input = adaptBatch(this.config, packed.input);
      const wantLogits = options.outputLogits !== false;
      const outputs = wantLogits ? this.#outputBuffers(packed) : {};
      const scale = options.lossScale ?? 1;
      if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new InvalidInputError('lossScale must be a finite number');
      const parts = await this.#trainer.computeGradients(packed.input, packed.labels, {
        loss_scale: scale,
        accumulate: options.accumulate === true,
        training: this.#training,
        backward: options.backward !== false,
      }, outputs);
      const result: GradientsResult = { loss: parts.loss, grads: {} };
      // Both pre-training terms (BERT's NSP, ALBERT's sentence order); not ELECTRA's discriminator.
      if (outputField(this.head, 'mlm', this.config.model_type) && outputField(this.head, 'nsp', this.config.model_type)) {
        result.mlmLoss = parts.mlm_loss;
        result.nspLoss = parts.nsp_loss;
      }
      if (wantLogits) Object.assign(result, this.#paddedOutputs(packed, outputs));
      if (options.grads !== false && options.backward !== false) result.grads = await this.#readTensors('gradients');
      return result;
    });
  }

  /** Every parameter by checkpoint name (copies). */
  stateDict(): Promise<StateDict> {
    const caller = captureCallerStack();
    return this.#enqueue(caller, () => this.#readTensors('parameters'));
  }

  /** Replaces parameters by checkpoint (or canonical) name; names not given keep their values. */
  loadStateDict(state: StateDict | Record<string, Float32Array>): Promise<void> {
    const caller = captureCallerStack();
    return this.#enqueue(caller, async () => {
      const byName = new Map<string, ParameterInfo>();
      for (const p of this.#params) {
        byName.set(p.name, p);
        byName.set(this.checkpointName(p.name), p);
      }
      const values: Record<string, Float32Array> = {};
      for (const [name, t] of Object.entries(state)) {
        const p = byName.get(name);
        if (!p) throw new InvalidInputError(`the model has no parameter ${name}`);
        const data = t instanceof Float32Array ? t : t?.data;
        const numel = p.dims.reduce((a, b) => a * b, 1);
        if (!(data instanceof Float32Array) || data.length !== numel) throw new InvalidInputError(`${name} needs a Float32Array of ${numel} values`);
        values[p.name] = data;
      }
      await this.#trainer.writeParameters(values);
    });
  }

  /**
   * Writes a Hugging Face model folder: config.json, model.safetensors (the names the model was
   * loaded with) and the tokenizer files. transformers' from_pretrained and loadModel both load it.
   */
  save(dir: string, options: SaveOptions = {}): Promise<void> {
    const caller = captureCallerStack();
    return this.#enqueue(caller, async () => {
      const state = await this.#readTensors('parameters');
      await saveModel(dir, this, state, options);
    });
  }

  override computeGradients(inputs: TrainingInput, labels: TrainingLabels, options: ComputeGradientsOptions = {}): Promise<GradientsResult> {
    return this.#computeGradients(inputs, labels, options);
  }

  override async dispose(): Promise<void> {
    this.#closed = true;
    await this.#queue.drained();
    await super.dispose();
  }

  override forward(...args: Parameters<BertModel['forward']>): ReturnType<BertModel['forward']> {
    // Queued behind training work: the engine runs one operation at a time.
    const caller = captureCallerStack();
    return this.#enqueue(caller, () => super.forward(...args));
  }

  override forwardPacked(...args: Parameters<BertModel['forwardPacked']>): ReturnType<BertModel['forwardPacked']> {
    const caller = captureCallerStack();
    return this.#enqueue(caller, () => super.forwardPacked(...args));
  }

  /** @internal Runs `fn` in this model's queue (the trainer's steps go through it too). */
  enqueue<T>(fn: () => Promise<T>): Promise<T> {
    return this.#enqueue(captureCallerStack(), fn);
  }

  async #readTensors(kind: 'parameters' | 'gradients'): Promise<StateDict> {
    const arrays: Record<string, Float32Array> = {};
    for (const p of this.#params) arrays[p.name] = new Float32Array(p.dims.reduce((a, b) => a * b, 1));
    if (kind === 'parameters') await this.#trainer.readParameters(arrays);
    else await this.#trainer.readGradients(arrays);
    const out: StateDict = {};
    for (const p of this.#params) out[this.checkpointName(p.name)] = { dims: [...p.dims], data: arrays[p.name]! };
    return out;
  }

  /** Buffers for the head's outputs (heads.ts): per token [T, width], per sequence [B, width]. */
  #outputBuffers(p: PackedTrainingBatch): TrainOutputs {
    const T = p.input.input_ids.length;
    const out: TrainOutputs = {};
    for (const o of headOutputs(this.head, this.config)) out[o.native as keyof TrainOutputs] = new Float32Array((o.perToken ? T : p.rows) * o.width);
    return out;
  }

  /** The head's outputs in padded form, shaped as the inference model gives them. */
  #paddedOutputs(p: PackedTrainingBatch, o: TrainOutputs): Partial<GradientsResult> {
    const { rows: B, length: L } = p;
    const out: Partial<Record<OutputSpec['field'], Tensor>> = {};
    for (const s of headOutputs(this.head, this.config)) {
      const data = o[s.native as keyof TrainOutputs]!;
      if (s.perToken) out[s.field] = { dims: s.squeeze ? [B, L] : [B, L, s.width], data: scatterRows(data, s.width, p) };
      else out[s.field] = { dims: s.squeeze ? [B / p.choices, p.choices] : [B, s.width], data };
    }
    return out;
  }

  #live(): AddonTrainer {
    if (this.#closed || this.disposed || this.#trainer.disposed) throw new DisposedError('model');
    return this.#trainer;
  }

  #enqueue<T>(caller: Error, fn: () => Promise<T>): Promise<T> {
    if (this.#closed || this.disposed) return Promise.reject(withCallerStack(new DisposedError('model'), caller));
    return this.#queue.run(caller, fn);
  }
}

export interface BuildTrainableArgs {
  /** The CPU addon (training/load.ts picks it: the CUDA backend has no training engine yet). */
  binding: NativeBinding;
  fallbackReason?: string;
  config: BertConfig;
  architecture: Architecture;
  nativeConfig: ModelConfig;
  tensors: TensorView[];
  threads: number;
  dtype: string;
  weights: WeightsInfo;
  hasPooler: boolean;
  tokenizer?: Tokenizer;
  noTokenizerReason?: string;
}

/** @internal Called by loadTrainableModel / createTrainableModel / initTrainableModel. */
export async function buildTrainableModel(a: BuildTrainableArgs): Promise<TrainableBertModel> {
  if (a.dtype !== 'float32') {
    throw new UnsupportedModelError(`training computes in float32; dtype ${JSON.stringify(a.dtype)} is for inference only`);
  }
  const binding = a.binding;
  if (typeof binding.createTrainableModel !== 'function') {
    throw new UnsupportedModelError('this build of the bertkit addon has no training engine (rebuild it: npm run build:native)');
  }
  const c = a.config;
  const hidden = c.hidden_dropout_prob;
  const dropout: DropoutSettings = {
    hidden,
    attention: c.attention_probs_dropout_prob,
    classifier: c.classifier_dropout ?? hidden,
  };
  const native = await binding.createTrainableModel(a.nativeConfig, a.tensors, {
    threads: a.threads,
    pad_token_id: c.pad_token_id != null && c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size ? c.pad_token_id : -1,
    hidden_dropout_prob: dropout.hidden,
    attention_probs_dropout_prob: dropout.attention,
    classifier_dropout_prob: dropout.classifier,
    seed: 0,
  });
  const info = native.info();
  const backend: BackendInfo = { name: 'cpu', device: 'cpu', dtype: 'float32', isa: info.isa, threads: info.threads };
  if (a.fallbackReason) backend.fallbackReason = a.fallbackReason;
  const firstFile = a.weights.files.find((f) => !f.endsWith('.json')) ?? a.weights.files[0];
  return new TrainableBertModel(
    native,
    c,
    a.architecture,
    backend,
    a.weights,
    a.hasPooler,
    dropout,
    a.tokenizer,
    firstFile ? dirname(firstFile) : undefined,
    a.noTokenizerReason,
  );
}

/** Narrows a loaded model to a trainable one, or says how to get one. */
export function asTrainable(model: BertModel): TrainableBertModel {
  if (model instanceof TrainableBertModel) return model;
  throw new TrainingError(NOT_TRAINABLE);
}
