/**
 * BertModel: one class for every architecture, its outputs read from the head table (heads.ts).
 * It owns one native model; forwards are queued (one at a time per model, each on a libuv pool
 * thread), and dispose() waits for the queue before releasing the weights. Loading is load.ts's.
 */
import type { Architecture, BertConfig } from '../config.js';
import {
  DisposedError,
  InvalidFileError,
  InvalidInputError,
  NOT_TRAINABLE,
  TrainingError,
  captureCallerStack,
  withCallerStack,
} from '../errors.js';
import type { AddonModel, BatchInput, ForwardOutputs } from '../native/types.js';
import { checkOptionNames, optionNames } from '../options.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { CallQueue } from './call-queue.js';
import { adaptBatch } from './families.js';
import { headOf, outputSpecs, takesChoices, type Head, type OutputSpec } from './heads.js';
import type { IntRows, PackedInput, PaddedInput } from '../inputs.js';
import type { ForwardOptions, ModelOutput, PackedForwardOptions } from './outputs.js';
import { packPadded, packedToBatch, scatterAttention, scatterTokens, type PackedBatch } from './pack.js';

const FORWARD_OPTION_NAMES = optionNames<ForwardOptions>({ outputHiddenStates: true, outputAttentions: true });
const PACKED_FORWARD_OPTION_NAMES = optionNames<PackedForwardOptions>({ outputHiddenStates: true, outputAttentions: true, logitsTokens: true });

export type ComputeDType = 'float32' | 'bfloat16' | 'int8' | 'float16';
export const DTYPES: readonly ComputeDType[] = ['float32', 'bfloat16', 'int8', 'float16'];

export interface BackendInfo {
  /** The engine that runs the model. */
  name: 'cpu' | 'cuda';
  device: 'cpu' | 'cuda';
  /** What the encoder computes in (see LoadModelOptions.dtype; 'float16' on CUDA only). */
  dtype: ComputeDType;
  /** Why the requested dtype is not used. */
  dtypeFallbackReason?: string;
  /** Kernels in use: 'avx512', 'avx2' or 'generic'; on CUDA the device's architecture ('sm_90'). */
  isa: string;
  threads: number;
  /**
   * CUDA: what the Linear layers run on: cuBLASLt (loaded at run time where present), else
   * bertkit's own kernels (Hopper wgmma, mma.sync tensor cores, or SIMT for float32 and checking).
   */
  gemm?: 'cublasLt' | 'wgmma' | 'mma' | 'simt';
  /** CUDA: why the GEMMs do not run on cuBLASLt (the library is missing, disabled, failed). */
  gemmReason?: string;
  /** Why 'auto' did not pick a GPU. */
  fallbackReason?: string;
}

export interface WeightsInfo {
  files: string[];
  format: 'safetensors' | 'pytorch' | 'memory';
  /** Checkpoint tensors that belong to BERT but not to this architecture (other heads, buffers). */
  ignored: string[];
  /** Canonical name → name in the checkpoint. */
  sourceNames: Map<string, string>;
}

/** Per-row input to forward(): padded rows, or the tokenizer's batch output. */
export type ForwardInput = PaddedInput & { toPacked?: unknown };

/** Multiple-choice input: [B][num_choices][L]. */
export interface MultipleChoiceInput {
  inputIds: IntRows[];
  attentionMask?: IntRows[];
  tokenTypeIds?: IntRows[];
}

export class BertModel implements AsyncDisposable {
  readonly config: BertConfig;
  readonly architecture: Architecture;
  /** The task head ('MaskedLM', 'SequenceClassification', …; 'base' for BertModel), whatever the family. */
  readonly head: Head;
  readonly backend: BackendInfo;
  readonly weights: WeightsInfo;
  readonly #tokenizer: Tokenizer | undefined;
  readonly #noTokenizer: string;
  #native: AddonModel | null;
  readonly #queue = new CallQueue();
  #disposing = false;
  readonly #outputs: OutputSpec[];

  /** @internal Use loadModel() or createModel() (model/load.ts). */
  constructor(
    native: AddonModel,
    config: BertConfig,
    architecture: Architecture,
    backend: BackendInfo,
    weights: WeightsInfo,
    hasPooler: boolean,
    tokenizer?: Tokenizer,
    noTokenizerReason?: string,
  ) {
    this.#native = native;
    this.#tokenizer = tokenizer;
    this.#noTokenizer = noTokenizerReason ?? 'this model has no tokenizer';
    this.config = config;
    this.architecture = architecture;
    this.head = headOf(architecture) ?? 'base';
    this.backend = backend;
    this.weights = weights;
    this.#outputs = outputSpecs(this.head, config, hasPooler);
  }

  /**
   * The folder's tokenizer (tokenizer.json or vocab.txt). A model without one (a folder with no
   * tokenizer files, or loaded with `tokenizer: false`) throws InvalidFileError here, naming the
   * files it lacks; `hasTokenizer` asks without throwing.
   */
  get tokenizer(): Tokenizer {
    if (!this.#tokenizer) throw new InvalidFileError(`${this.#noTokenizer}: pass a tokenizer (loadTokenizer(dir)) where one is needed`);
    return this.#tokenizer;
  }

  get hasTokenizer(): boolean {
    return this.#tokenizer !== undefined;
  }

  get disposed(): boolean {
    return this.#disposing;
  }

  /**
   * Runs the model on a padded batch ([B][L] rows, as transformers takes them; [B][choices][L]
   * for BertForMultipleChoice). Outputs at positions whose attention mask is 0 are unspecified
   * (zeros here: padding is never computed).
   */
  forward(input: ForwardInput | MultipleChoiceInput, options: ForwardOptions = {}): Promise<ModelOutput> {
    const caller = captureCallerStack();
    return this.#enqueue(caller, async () => {
      if (input === null || typeof input !== 'object') throw new InvalidInputError('forward() takes { inputIds, attentionMask?, tokenTypeIds? }');
      checkOptionNames(options, FORWARD_OPTION_NAMES, 'forward() options');
      let { inputIds, attentionMask, tokenTypeIds } = input as PaddedInput;
      let choices = 0;
      if (takesChoices(this.head)) {
        const flat = flattenChoices(input as MultipleChoiceInput);
        ({ inputIds, attentionMask, tokenTypeIds } = flat);
        choices = flat.choices;
      }
      const packed = packPadded(inputIds, attentionMask, tokenTypeIds, {
        maxPositionEmbeddings: this.config.encoder.maxSequenceLength,
        // The tokenizer's unpadded batches are ragged by design; plain arrays must be rectangular.
        allowRagged: typeof (input as ForwardInput).toPacked === 'function',
      });
      const raw = await this.#run(adaptBatch(this.config, packed.input), options);
      return this.#toPadded(raw, packed, choices);
    });
  }

  /**
   * Runs the model on a packed batch (no padding anywhere). Per-token outputs are [T, ...],
   * per-sequence outputs [B, ...]; attentions are one flat array per layer holding, for each
   * sequence of n tokens, its [heads, n, n] block.
   */
  forwardPacked(input: PackedInput, options: PackedForwardOptions = {}): Promise<ModelOutput> {
    const caller = captureCallerStack();
    return this.#enqueue(caller, async () => {
      if (input === null || typeof input !== 'object') throw new InvalidInputError('forwardPacked() takes { inputIds, cuSeqlens, ... }');
      checkOptionNames(options, PACKED_FORWARD_OPTION_NAMES, 'forwardPacked() options');
      const batch = packedToBatch(input);
      if (options.logitsTokens !== undefined) {
        if (!(options.logitsTokens instanceof Int32Array)) throw new InvalidInputError('logitsTokens must be an Int32Array of token indices');
        if (!this.#outputs.some((o) => o.mlm)) throw new InvalidInputError(`logitsTokens selects masked-LM logits; ${this.architecture} has none`);
        batch.logits_tokens = options.logitsTokens;
      }
      const raw = await this.#run(batch, options);
      return this.#packedOutput(raw, batch);
    });
  }

  /**
   * Training needs a model loaded with `training: true` (a TrainableBertModel overrides this);
   * on an inference model it rejects with TrainingError saying how to load one.
   */
  computeGradients(_inputs: unknown, _labels: unknown, _options?: unknown): Promise<unknown> {
    return Promise.reject(withCallerStack(new TrainingError(NOT_TRAINABLE), captureCallerStack()));
  }

  /** Releases the native model once queued forwards finish. Safe to call more than once. */
  async dispose(): Promise<void> {
    this.#disposing = true;
    await this.#queue.drained();
    this.#native?.dispose();
    this.#native = null;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /**
   * Memory the engine holds for this model, in bytes. `sharedWeights`: the weights are one
   * read-only copy shared with other models loaded from the same files in this process.
   */
  memoryUsage(): { weights: number; workspace: number; sharedWeights: boolean } {
    const info = this.#live().info();
    return { weights: info.weight_bytes, workspace: info.workspace_bytes, sharedWeights: info.weights_shared };
  }

  #live(): AddonModel {
    if (this.#disposing || !this.#native) throw new DisposedError('model');
    return this.#native;
  }

  // One forward at a time per model: the engine's thread pool is the model's own, and a second
  // libuv thread would only wait for it.
  #enqueue<T>(caller: Error, fn: () => Promise<T>): Promise<T> {
    if (this.#disposing) return Promise.reject(withCallerStack(new DisposedError('model'), caller));
    return this.#queue.run(caller, fn);
  }

  async #run(batch: BatchInput, options: ForwardOptions): Promise<ForwardOutputs> {
    // Work queued before dispose() still runs: dispose() waits for it before releasing.
    const native = this.#native;
    if (!native) throw new DisposedError('model');
    const c = this.config;
    const T = batch.input_ids.length;
    const B = batch.cu_seqlens.length - 1;
    // Offsets are validated natively; only guard what sizes the arrays allocated here.
    if (B < 1) throw new InvalidInputError('the batch is empty: at least one sequence is needed');
    const out: ForwardOutputs = {};
    const selected = batch.logits_tokens?.length;
    for (const spec of this.#outputs) {
      const rows = spec.mlm && selected !== undefined ? selected : spec.perToken ? T : B;
      out[spec.native] = new Float32Array(rows * spec.width);
    }
    if (options.outputHiddenStates) out.hidden_states = new Float32Array((c.encoder.layerApplications + 1) * T * c.hidden_size);
    if (options.outputAttentions) {
      let squares = 0;
      const cu = batch.cu_seqlens;
      for (let s = 0; s < B; s++) squares += (cu[s + 1]! - cu[s]!) ** 2;
      out.attentions = new Float32Array(c.encoder.layerApplications * c.num_attention_heads * squares);
    }
    await native.forward(batch, out);
    return out;
  }

  /** Padded [B, L, ...] outputs from the packed ones (rows B, padded length L). */
  #toPadded(raw: ForwardOutputs, p: PackedBatch, choices: number): ModelOutput {
    const c = this.config;
    const { rows: B, length: L } = p;
    const H = c.hidden_size;
    const out = {} as ModelOutput;
    for (const spec of this.#outputs) {
      const data = raw[spec.native]!;
      if (spec.perToken) {
        out[spec.field] = { dims: spec.squeeze ? [B, L] : [B, L, spec.width], data: scatterTokens(data, spec.width, p) };
      } else {
        // BertForMultipleChoice scores each (example, choice) row; transformers shows [B, choices].
        out[spec.field] = { dims: spec.squeeze ? [B / choices, choices] : [B, spec.width], data };
      }
    }
    if (raw.hidden_states) {
      const T = p.tokenRow.length;
      out.hiddenStates = [];
      for (let l = 0; l <= c.encoder.layerApplications; l++) {
        out.hiddenStates.push({ dims: [B, L, H], data: scatterTokens(raw.hidden_states.subarray(l * T * H, (l + 1) * T * H), H, p) });
      }
    }
    if (raw.attentions) {
      const per = raw.attentions.length / c.encoder.layerApplications;
      const heads = c.num_attention_heads;
      out.attentions = [];
      for (let l = 0; l < c.encoder.layerApplications; l++) {
        out.attentions.push({ dims: [B, heads, L, L], data: scatterAttention(raw.attentions.subarray(l * per, (l + 1) * per), heads, p) });
      }
    }
    return out;
  }

  /** Packed outputs as they come: per token [T, ...], per sequence [B, ...]. */
  #packedOutput(raw: ForwardOutputs, batch: BatchInput): ModelOutput {
    const c = this.config;
    const T = batch.input_ids.length;
    const B = batch.cu_seqlens.length - 1;
    const H = c.hidden_size;
    const out = {} as ModelOutput;
    const selected = batch.logits_tokens?.length;
    for (const spec of this.#outputs) {
      const rows = spec.mlm && selected !== undefined ? selected : spec.perToken ? T : B;
      out[spec.field] = { dims: spec.squeeze ? [rows] : [rows, spec.width], data: raw[spec.native]! };
    }
    if (raw.hidden_states) {
      out.hiddenStates = [];
      for (let l = 0; l <= c.encoder.layerApplications; l++) {
        out.hiddenStates.push({ dims: [T, H], data: raw.hidden_states.subarray(l * T * H, (l + 1) * T * H) });
      }
    }
    if (raw.attentions) {
      const per = raw.attentions.length / c.encoder.layerApplications;
      out.attentions = [];
      for (let l = 0; l < c.encoder.layerApplications; l++) {
        out.attentions.push({ dims: [per], data: raw.attentions.subarray(l * per, (l + 1) * per) });
      }
    }
    return out;
  }
}

function flattenChoices(input: MultipleChoiceInput): PaddedInput & { choices: number } {
  const ids = input.inputIds;
  if (!Array.isArray(ids) || ids.length === 0 || !Array.isArray(ids[0])) {
    throw new InvalidInputError('BertForMultipleChoice takes inputIds shaped [batch][choices][length]');
  }
  const choices = ids[0]!.length;
  const flat = (rows: IntRows[] | undefined, name: string): IntRows | undefined => {
    if (rows == null) return undefined;
    if (!Array.isArray(rows) || rows.length !== ids.length) throw new InvalidInputError(`${name} must be shaped like inputIds`);
    const out: IntRows = [];
    for (const r of rows) {
      if (!Array.isArray(r) || r.length !== choices) {
        throw new InvalidInputError(`${name}: every example needs ${choices} choices`);
      }
      out.push(...r);
    }
    return out;
  };
  if (choices === 0) throw new InvalidInputError('BertForMultipleChoice needs at least one choice');
  return {
    inputIds: flat(ids, 'inputIds')!,
    attentionMask: flat(input.attentionMask, 'attentionMask'),
    tokenTypeIds: flat(input.tokenTypeIds, 'tokenTypeIds'),
    choices,
  };
}

