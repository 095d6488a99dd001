/**
 * BertModel and its heads: one class for every architecture, chosen from config.architectures.
 * It owns one native model; forwards are queued (one at a time per model, each on a libuv pool
 * thread), and dispose() waits for the queue before releasing the weights.
 */
import { join } from 'node:path';
import { ARCHITECTURES, parseConfig, readConfig, type Architecture, type BertConfig } from '../config.js';
import {
  DisposedError,
  InvalidInputError,
  UnsupportedModelError,
  captureCallerStack,
  fromNativeError,
  withCallerStack,
} from '../errors.js';
import { selectBackend, type Device } from '../native/select-backend.js';
import type { AddonModel, BatchInput, ForwardOutputs, ModelConfig, TensorView } from '../native/types.js';
import { hasTokenizerFiles, loadTokenizer, type Tokenizer } from '../tokenizer/index.js';
import { readCheckpoint, resolveWeights, type RawTensor } from '../weights/index.js';
import type { IntRows, PackedInput, PaddedInput } from './inputs.js';
import type { ForwardOptions, ModelOutput, Tensor } from './outputs.js';
import { packPadded, packedToBatch, scatterAttention, scatterTokens, type PackedBatch } from './pack.js';

export interface LoadModelOptions {
  /** 'auto' (default; or the BERTKIT_DEVICE environment variable), 'cpu' or 'cuda'. */
  device?: Device;
  /** CPU threads for this model's forwards; default: every core this process may use. */
  threads?: number;
  /** Run the checkpoint as this architecture instead of config.architectures[0]. */
  architecture?: Architecture;
  /** Load the folder's tokenizer into `model.tokenizer` when it has one (default true). */
  tokenizer?: boolean;
}

export interface BackendInfo {
  name: 'cpu';
  device: 'cpu';
  /** Kernels in use: 'avx512', 'avx2' or 'generic'. */
  isa: string;
  threads: number;
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

type Settled = { ok: true } | { ok: false };

export class BertModel implements AsyncDisposable {
  readonly config: BertConfig;
  readonly architecture: Architecture;
  readonly backend: BackendInfo;
  readonly weights: WeightsInfo;
  /** The folder's tokenizer (tokenizer.json or vocab.txt), when it has one. */
  readonly tokenizer: Tokenizer | undefined;
  #native: AddonModel | null;
  #tail: Promise<Settled> = Promise.resolve({ ok: true });
  #disposing = false;
  readonly #hasPooler: boolean;

  /** @internal Use loadModel() or createModel(). */
  constructor(
    native: AddonModel,
    config: BertConfig,
    architecture: Architecture,
    backend: BackendInfo,
    weights: WeightsInfo,
    hasPooler: boolean,
    tokenizer?: Tokenizer,
  ) {
    this.#native = native;
    this.tokenizer = tokenizer;
    this.config = config;
    this.architecture = architecture;
    this.backend = backend;
    this.weights = weights;
    this.#hasPooler = hasPooler;
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
      let { inputIds, attentionMask, tokenTypeIds } = input as PaddedInput;
      let choices = 0;
      if (this.architecture === 'BertForMultipleChoice') {
        const flat = flattenChoices(input as MultipleChoiceInput);
        ({ inputIds, attentionMask, tokenTypeIds } = flat);
        choices = flat.choices;
      }
      const packed = packPadded(inputIds, attentionMask, tokenTypeIds, {
        maxPositionEmbeddings: this.config.max_position_embeddings,
        // The tokenizer's unpadded batches are ragged by design; plain arrays must be rectangular.
        allowRagged: typeof (input as ForwardInput).toPacked === 'function',
      });
      const raw = await this.#run(packed.input, options);
      return this.#toPadded(raw, packed, choices);
    });
  }

  /**
   * Runs the model on a packed batch (no padding anywhere). Per-token outputs are [T, ...],
   * per-sequence outputs [B, ...]; attentions are one flat array per layer holding, for each
   * sequence of n tokens, its [heads, n, n] block.
   */
  forwardPacked(input: PackedInput, options: ForwardOptions = {}): Promise<ModelOutput> {
    const caller = captureCallerStack();
    return this.#enqueue(caller, async () => {
      if (input === null || typeof input !== 'object') throw new InvalidInputError('forwardPacked() takes { inputIds, cuSeqlens, ... }');
      const batch = packedToBatch(input);
      const raw = await this.#run(batch, options);
      return this.#packedOutput(raw, batch);
    });
  }

  /** Releases the native model once queued forwards finish. Safe to call more than once. */
  async dispose(): Promise<void> {
    this.#disposing = true;
    await this.#tail;
    this.#native?.dispose();
    this.#native = null;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** Memory the engine holds for this model, in bytes. */
  memoryUsage(): { weights: number; workspace: number } {
    const info = this.#live().info();
    return { weights: info.weight_bytes, workspace: info.workspace_bytes };
  }

  #live(): AddonModel {
    if (this.#disposing || !this.#native) throw new DisposedError('model');
    return this.#native;
  }

  // One forward at a time per model: the engine's thread pool is the model's own, and a second
  // libuv thread would only wait for it.
  #enqueue<T>(caller: Error, fn: () => Promise<T>): Promise<T> {
    if (this.#disposing) return Promise.reject(withCallerStack(new DisposedError('model'), caller));
    const run = this.#tail.then(fn).catch((err: unknown) => {
      throw withCallerStack(fromNativeError(err), caller);
    });
    this.#tail = run.then(
      (): Settled => ({ ok: true }),
      (): Settled => ({ ok: false }),
    );
    return run;
  }

  async #run(batch: BatchInput, options: ForwardOptions): Promise<Required<ForwardOutputs>> {
    // Work queued before dispose() still runs: dispose() waits for it before releasing.
    const native = this.#native;
    if (!native) throw new DisposedError('model');
    const c = this.config;
    const T = batch.input_ids.length;
    const B = batch.cu_seqlens.length - 1;
    const H = c.hidden_size;
    // Shapes are checked again natively; invalid offsets are reported there, so guard sizes only.
    if (B < 1) throw new InvalidInputError('the batch is empty: at least one sequence is needed');
    const f = (n: number) => new Float32Array(Math.max(0, n));
    const out: ForwardOutputs = { last_hidden_state: f(T * H) };
    if (this.#usesPooler()) out.pooler_output = f(B * H);
    switch (this.architecture) {
      case 'BertForMaskedLM': out.logits = f(T * c.vocab_size); break;
      case 'BertForNextSentencePrediction': out.logits = f(B * 2); break;
      case 'BertForPreTraining':
        out.prediction_logits = f(T * c.vocab_size);
        out.seq_relationship_logits = f(B * 2);
        break;
      case 'BertForSequenceClassification': out.logits = f(B * c.num_labels); break;
      case 'BertForTokenClassification': out.logits = f(T * c.num_labels); break;
      case 'BertForMultipleChoice': out.logits = f(B); break;
      case 'BertForQuestionAnswering':
        out.start_logits = f(T);
        out.end_logits = f(T);
        break;
      case 'BertModel': break;
    }
    if (options.outputHiddenStates) out.hidden_states = f((c.num_hidden_layers + 1) * T * H);
    if (options.outputAttentions) {
      let squares = 0;
      const cu = batch.cu_seqlens;
      for (let s = 0; s < B; s++) {
        const n = cu[s + 1]! - cu[s]!;
        squares += n * n;
      }
      out.attentions = f(c.num_hidden_layers * c.num_attention_heads * squares);
    }
    await native.forward(batch, out);
    return out as Required<ForwardOutputs>;
  }

  #usesPooler(): boolean {
    switch (this.architecture) {
      case 'BertModel': return this.#hasPooler;
      case 'BertForNextSentencePrediction':
      case 'BertForPreTraining':
      case 'BertForSequenceClassification':
      case 'BertForMultipleChoice': return true;
      default: return false;
    }
  }

  #toPadded(raw: Required<ForwardOutputs>, p: PackedBatch, choices: number): ModelOutput {
    const c = this.config;
    const { rows: B, length: L } = p;
    const H = c.hidden_size;
    const tokens = (data: Float32Array, width: number, dims: number[]): Tensor => ({ dims, data: scatterTokens(data, width, p) });
    const out: ModelOutput = { lastHiddenState: tokens(raw.last_hidden_state, H, [B, L, H]) };
    if (raw.pooler_output) out.poolerOutput = { dims: [B, H], data: raw.pooler_output };
    switch (this.architecture) {
      case 'BertForMaskedLM': out.logits = tokens(raw.logits, c.vocab_size, [B, L, c.vocab_size]); break;
      case 'BertForNextSentencePrediction': out.logits = { dims: [B, 2], data: raw.logits }; break;
      case 'BertForPreTraining':
        out.predictionLogits = tokens(raw.prediction_logits, c.vocab_size, [B, L, c.vocab_size]);
        out.seqRelationshipLogits = { dims: [B, 2], data: raw.seq_relationship_logits };
        break;
      case 'BertForSequenceClassification': out.logits = { dims: [B, c.num_labels], data: raw.logits }; break;
      case 'BertForTokenClassification': out.logits = tokens(raw.logits, c.num_labels, [B, L, c.num_labels]); break;
      case 'BertForMultipleChoice': out.logits = { dims: [B / choices, choices], data: raw.logits }; break;
      case 'BertForQuestionAnswering':
        out.startLogits = tokens(raw.start_logits, 1, [B, L]);
        out.endLogits = tokens(raw.end_logits, 1, [B, L]);
        break;
      case 'BertModel': break;
    }
    if (raw.hidden_states) {
      const T = p.tokenRow.length;
      out.hiddenStates = [];
      for (let l = 0; l <= c.num_hidden_layers; l++) {
        out.hiddenStates.push(tokens(raw.hidden_states.subarray(l * T * H, (l + 1) * T * H), H, [B, L, H]));
      }
    }
    if (raw.attentions) {
      const per = raw.attentions.length / c.num_hidden_layers;
      const heads = c.num_attention_heads;
      out.attentions = [];
      for (let l = 0; l < c.num_hidden_layers; l++) {
        out.attentions.push({ dims: [B, heads, L, L], data: scatterAttention(raw.attentions.subarray(l * per, (l + 1) * per), heads, p) });
      }
    }
    return out;
  }

  #packedOutput(raw: Required<ForwardOutputs>, batch: BatchInput): ModelOutput {
    const c = this.config;
    const T = batch.input_ids.length;
    const B = batch.cu_seqlens.length - 1;
    const H = c.hidden_size;
    const out: ModelOutput = { lastHiddenState: { dims: [T, H], data: raw.last_hidden_state } };
    if (raw.pooler_output) out.poolerOutput = { dims: [B, H], data: raw.pooler_output };
    switch (this.architecture) {
      case 'BertForMaskedLM': out.logits = { dims: [T, c.vocab_size], data: raw.logits }; break;
      case 'BertForNextSentencePrediction': out.logits = { dims: [B, 2], data: raw.logits }; break;
      case 'BertForPreTraining':
        out.predictionLogits = { dims: [T, c.vocab_size], data: raw.prediction_logits };
        out.seqRelationshipLogits = { dims: [B, 2], data: raw.seq_relationship_logits };
        break;
      case 'BertForSequenceClassification': out.logits = { dims: [B, c.num_labels], data: raw.logits }; break;
      case 'BertForTokenClassification': out.logits = { dims: [T, c.num_labels], data: raw.logits }; break;
      case 'BertForMultipleChoice': out.logits = { dims: [B], data: raw.logits }; break;
      case 'BertForQuestionAnswering':
        out.startLogits = { dims: [T], data: raw.start_logits };
        out.endLogits = { dims: [T], data: raw.end_logits };
        break;
      case 'BertModel': break;
    }
    if (raw.hidden_states) {
      out.hiddenStates = [];
      for (let l = 0; l <= c.num_hidden_layers; l++) {
        out.hiddenStates.push({ dims: [T, H], data: raw.hidden_states.subarray(l * T * H, (l + 1) * T * H) });
      }
    }
    if (raw.attentions) {
      const per = raw.attentions.length / c.num_hidden_layers;
      out.attentions = [];
      for (let l = 0; l < c.num_hidden_layers; l++) {
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

function toNativeConfig(config: BertConfig, architecture: Architecture, hasPooler: boolean): ModelConfig {
  return {
    architecture,
    vocab_size: config.vocab_size,
    hidden_size: config.hidden_size,
    num_hidden_layers: config.num_hidden_layers,
    num_attention_heads: config.num_attention_heads,
    intermediate_size: config.intermediate_size,
    max_position_embeddings: config.max_position_embeddings,
    type_vocab_size: config.type_vocab_size,
    num_labels: architecture === 'BertForMultipleChoice' ? 1 : config.num_labels,
    layer_norm_eps: config.layer_norm_eps,
    hidden_act: config.hidden_act,
    has_pooler: hasPooler,
    tie_word_embeddings: config.tie_word_embeddings,
  };
}

function pickArchitecture(config: BertConfig, requested: unknown): Architecture {
  const arch = requested ?? config.architectures?.[0] ?? 'BertModel';
  if (typeof arch !== 'string' || !(ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new UnsupportedModelError(`architecture ${JSON.stringify(arch)} is not supported; supported: ${ARCHITECTURES.join(', ')}`);
  }
  return arch as Architecture;
}

async function build(
  config: BertConfig,
  checkpoint: Map<string, RawTensor>,
  source: { files: string[]; format: WeightsInfo['format']; file?: string },
  options: LoadModelOptions,
  tokenizer?: Tokenizer,
): Promise<BertModel> {
  const architecture = pickArchitecture(config, options.architecture);
  const backend = selectBackend(options.device);
  const resolved = resolveWeights(checkpoint, config, architecture, source.file);
  const tensors: TensorView[] = [];
  for (const [name, t] of resolved.tensors) {
    // resolveWeights admits float dtypes only and turns F64 into F32.
    tensors.push({ name, dtype: t.dtype as TensorView['dtype'], dims: t.dims, data: t.data });
  }
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
    throw new InvalidInputError(`threads must be an integer in [0, 1024] (0 = all cores), got ${String(options.threads)}`);
  }
  const native = await backend.binding.createModel(toNativeConfig(config, architecture, resolved.hasPooler), tensors, { threads });
  const info = native.info();
  const backendInfo: BackendInfo = { name: 'cpu', device: 'cpu', isa: info.isa, threads: info.threads };
  if (backend.fallbackReason) backendInfo.fallbackReason = backend.fallbackReason;
  return new BertModel(
    native,
    config,
    architecture,
    backendInfo,
    { files: source.files, format: source.format, ignored: resolved.ignored, sourceNames: resolved.sourceNames },
    resolved.hasPooler,
    tokenizer,
  );
}

/** Loads a Hugging Face model folder (config.json + weights); the class follows config.architectures. */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<BertModel> {
  const caller = captureCallerStack();
  try {
    if (typeof dir !== 'string' || dir === '') throw new InvalidInputError('loadModel() needs a model folder path');
    const config = await readConfig(join(dir, 'config.json'));
    const checkpoint = await readCheckpoint(dir);
    const tokenizer = options.tokenizer !== false && (await hasTokenizerFiles(dir)) ? await loadTokenizer(dir) : undefined;
    const source = { files: checkpoint.files, format: checkpoint.format, file: checkpoint.files.at(-1) };
    return await build(config, checkpoint.tensors, source, options, tokenizer);
  } catch (err) {
    throw withCallerStack(fromNativeError(err), caller);
  }
}

export interface TensorInput {
  dtype: 'F32' | 'F16' | 'BF16' | 'F64';
  dims: number[];
  /** Little-endian bytes, or a Float32Array for F32. */
  data: Uint8Array | Float32Array;
}

/**
 * Builds a model from a config object (config.json keys) and tensors in memory, named as in a
 * checkpoint — for generated weights and tests.
 */
export async function createModel(
  config: Record<string, unknown>,
  tensors: Map<string, TensorInput> | Record<string, TensorInput>,
  options: LoadModelOptions = {},
): Promise<BertModel> {
  const caller = captureCallerStack();
  try {
    const parsed = parseConfig(config, 'config');
    const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
    const checkpoint = new Map<string, RawTensor>();
    for (const [name, t] of entries) {
      const data = t.data instanceof Float32Array ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.data;
      if (!(data instanceof Uint8Array)) throw new InvalidInputError(`tensor ${name}: data must be a Uint8Array or Float32Array`);
      checkpoint.set(name, { name, dtype: t.dtype, dims: t.dims, data });
    }
    return await build(parsed, checkpoint, { files: [], format: 'memory' }, options);
  } catch (err) {
    throw withCallerStack(fromNativeError(err), caller);
  }
}
