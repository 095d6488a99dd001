/**
 * Loading: a model folder (or Hub id), or a config and tensors in memory, to a BertModel. The
 * steps (read the source, resolve it for one architecture) are exported for training/load.ts,
 * which builds a TrainableBertModel from the same source; this layer imports nothing above it.
 */
import { stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { parseConfig, readConfig, toNativeConfig, type Architecture, type BertConfig } from '../config.js';
import { InvalidInputError, UnsupportedModelError, captureCallerStack, fromNativeError, withCallerStack } from '../errors.js';
import { HUB_OPTION_NAMES, hubOptionsOf, resolveModel, type HubOptions } from '../hub/index.js';
import { loadBinding } from '../native/load-binding.js';
import { resolveDevice, selectBackend, type BackendChoice, type Device } from '../native/select-backend.js';
import type { AddonModel, EngineOptions, ModelConfig, TensorView } from '../native/types.js';
import { checkOptionNames, optionNames } from '../options.js';
import { hasTokenizerFiles, loadTokenizer, type Tokenizer } from '../tokenizer/index.js';
import { readCheckpoint, resolveWeights, type RawTensor } from '../weights/index.js';
import { BertModel, DTYPES, type BackendInfo, type ComputeDType, type WeightsInfo } from './bert-model.js';
import { pickArchitecture } from './families.js';

export interface LoadModelOptions extends HubOptions {
  /** 'auto' (default; or the BERTKIT_DEVICE environment variable), 'cpu' or 'cuda'. */
  device?: Device;
  /** CPU threads for this model's forwards; default: every core this process may use. */
  threads?: number;
  /**
   * What the encoder's linear layers compute in: 'float32' (default), 'bfloat16' (AVX512-BF16;
   * tensor cores on CUDA), 'int8' (per-channel weights, per-row dynamic activation quantization,
   * AVX512-VNNI; CPU only) or 'float16' (CUDA only). Where the device lacks the instructions the
   * model computes in float32 (float16 on CUDA for int8) and `backend.dtypeFallbackReason` says so.
   */
  dtype?: ComputeDType;
  /** Run the checkpoint as this architecture instead of config.architectures[0]. */
  architecture?: Architecture;
  /** Load the folder's tokenizer into `model.tokenizer` when it has one (default true). */
  tokenizer?: boolean;
  /**
   * Load for training (float32, on the CPU engine): the model is a TrainableBertModel
   * (src-ts/training) with computeGradients, stateDict and save, and forward still works.
   * `device: 'cuda'` is refused (the CUDA backend has no training engine yet); under 'auto' the
   * model trains on the CPU and `backend.fallbackReason` says why.
   */
  training?: boolean;
}

export const LOAD_OPTION_NAMES = [
  ...HUB_OPTION_NAMES,
  ...optionNames<Omit<LoadModelOptions, keyof HubOptions>>({ device: true, threads: true, dtype: true, architecture: true, tokenizer: true, training: true }),
];

export interface TensorInput {
  dtype: 'F32' | 'F16' | 'BF16' | 'F64';
  dims: number[];
  /** Little-endian bytes, or a Float32Array for F32. */
  data: Uint8Array | Float32Array;
}

/** What a model is built from: its config, its checkpoint tensors and its tokenizer. */
export interface ModelSource {
  config: BertConfig;
  checkpoint: Map<string, RawTensor>;
  files: string[];
  format: WeightsInfo['format'];
  /** The file named in weight messages. */
  file?: string;
  /** Same files (path, size, modification time): engines may share one copy of the weights. */
  shareKey?: string;
  tokenizer?: Tokenizer;
  noTokenizerReason?: string;
}

/** A source resolved for one architecture: what any engine (inference or training) is created from. */
export interface PreparedModel {
  config: BertConfig;
  architecture: Architecture;
  nativeConfig: ModelConfig;
  tensors: TensorView[];
  threads: number;
  dtype: ComputeDType;
  weights: WeightsInfo;
  hasPooler: boolean;
  tokenizer?: Tokenizer;
  noTokenizerReason?: string;
}

/** @internal Reads a model folder (or downloads a Hub id into the cache) without building anything. */
export async function readModelSource(dirOrId: string, options: LoadModelOptions): Promise<ModelSource> {
  const dir = await resolveModel(dirOrId, hubOptionsOf(options));
  const config = await readConfig(join(dir, 'config.json'));
  // Lazy: float tensors stay in their file and the engine reads each once while converting it.
  const checkpoint = await readCheckpoint(dir, { lazy: true });
  const tokenizer = options.tokenizer !== false && (await hasTokenizerFiles(dir)) ? await loadTokenizer(dir) : undefined;
  const noTokenizerReason = options.tokenizer === false ? 'the model was loaded with tokenizer: false' : `${dir} has no tokenizer files (tokenizer.json, or vocab.txt with tokenizer_config.json)`;
  const stats = await Promise.all(checkpoint.files.map(async (f) => {
    const st = await stat(f);
    return `${resolvePath(f)}:${st.size}:${st.mtimeMs}`;
  }));
  return {
    config,
    checkpoint: checkpoint.tensors,
    files: checkpoint.files,
    format: checkpoint.format,
    ...(checkpoint.files.length ? { file: checkpoint.files.at(-1)! } : {}),
    shareKey: stats.join(';'),
    ...(tokenizer ? { tokenizer } : {}),
    noTokenizerReason,
  };
}

/** @internal A config object (config.json keys) and tensors in memory, named as in a checkpoint. */
export function memorySource(config: Record<string, unknown>, tensors: Map<string, TensorInput> | Record<string, TensorInput>): ModelSource {
  const parsed = parseConfig(config, 'config');
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const checkpoint = new Map<string, RawTensor>();
  for (const [name, t] of entries) {
    const data = t.data instanceof Float32Array ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.data;
    if (!(data instanceof Uint8Array)) throw new InvalidInputError(`tensor ${name}: data must be a Uint8Array or Float32Array`);
    checkpoint.set(name, { name, dtype: t.dtype, dims: t.dims, data });
  }
  return { config: parsed, checkpoint, files: [], format: 'memory' };
}

/** @internal Resolves the checkpoint for the architecture asked for and checks the engine options. */
export function prepareModel(source: ModelSource, options: LoadModelOptions): PreparedModel {
  const { config } = source;
  const architecture = pickArchitecture(config, options.architecture);
  const resolved = resolveWeights(source.checkpoint, config, architecture, source.file);
  const tensors: TensorView[] = [];
  for (const [name, t] of resolved.tensors) {
    // resolveWeights admits float dtypes only and turns F64 into F32.
    const dtype = t.dtype as TensorView['dtype'];
    tensors.push(t.location ? { name, dtype, dims: t.dims, ...t.location } : { name, dtype, dims: t.dims, data: t.data });
  }
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
    throw new InvalidInputError(`threads must be an integer in [0, 1024] (0 = all cores), got ${String(options.threads)}`);
  }
  const dtype = options.dtype ?? 'float32';
  if (!DTYPES.includes(dtype)) {
    throw new UnsupportedModelError(`dtype ${JSON.stringify(options.dtype)} is not supported; supported: ${DTYPES.join(', ')}`);
  }
  return {
    config,
    architecture,
    nativeConfig: toNativeConfig(config, architecture, resolved.hasPooler),
    tensors,
    threads,
    dtype,
    weights: { files: source.files, format: source.format, ignored: resolved.ignored, sourceNames: resolved.sourceNames },
    hasPooler: resolved.hasPooler,
    ...(source.tokenizer ? { tokenizer: source.tokenizer } : {}),
    ...(source.noTokenizerReason !== undefined ? { noTokenizerReason: source.noTokenizerReason } : {}),
  };
}

/** @internal Runs a loader's steps: native errors become typed ones, and errors carry the caller's stack. */
export async function withLoadErrors<M>(caller: Error, steps: () => Promise<M>): Promise<M> {
  try {
    return await steps();
  } catch (err) {
    throw withCallerStack(fromNativeError(err), caller);
  }
}

async function buildModel(source: ModelSource, options: LoadModelOptions): Promise<BertModel> {
  if (options.training) {
    // The package entry routes training: true to training/load.ts; this layer builds inference models only.
    throw new InvalidInputError('training: true is served by loadTrainableModel() (the package\'s loadModel routes it there)');
  }
  let backend: BackendChoice = selectBackend(options.device);
  const p = prepareModel(source, options);
  const engineOptions: EngineOptions = { threads: p.threads, dtype: p.dtype, device: backend.device };
  // Same files (by path, size and modification time) and same config: one copy of the weights.
  if (source.shareKey) engineOptions.share_key = `${source.shareKey}|${JSON.stringify(p.nativeConfig)}`;
  let native: AddonModel;
  try {
    native = await backend.binding.createModel(p.nativeConfig, p.tensors, engineOptions);
  } catch (err) {
    // 'auto' means "the GPU if it works": a device that answered the probe but cannot hold the
    // model (out of memory, a driver error) falls back to the CPU, and says so.
    const code = (err as { code?: unknown } | null)?.code;
    if (backend.device !== 'cuda' || resolveDevice(options.device) !== 'auto' || (code !== 'OUT_OF_MEMORY' && code !== 'UNAVAILABLE' && code !== 'INTERNAL')) {
      throw err;
    }
    backend = { binding: loadBinding(), device: 'cpu', fallbackReason: `CUDA failed to create the model (${(err as Error).message}): running on the CPU` };
    native = await backend.binding.createModel(p.nativeConfig, p.tensors, { ...engineOptions, device: 'cpu' });
  }
  const info = native.info();
  const backendInfo: BackendInfo = { name: backend.device, device: backend.device, dtype: info.dtype, isa: info.isa, threads: info.threads };
  if (info.dtype_fallback) backendInfo.dtypeFallbackReason = info.dtype_fallback;
  if (info.gemm) backendInfo.gemm = info.gemm as NonNullable<BackendInfo['gemm']>;
  if (info.gemm_reason) backendInfo.gemmReason = info.gemm_reason;
  if (backend.fallbackReason) backendInfo.fallbackReason = backend.fallbackReason;
  return new BertModel(native, p.config, p.architecture, backendInfo, p.weights, p.hasPooler, p.tokenizer, p.noTokenizerReason);
}

/** @internal The folder-or-Hub-id argument and the option names, checked (training/load.ts shares them). */
export function checkLoadArguments(dirOrId: unknown, options: LoadModelOptions, what: string): string {
  if (typeof dirOrId !== 'string' || dirOrId === '') throw new InvalidInputError(`${what} needs a model folder path or a Hub id`);
  checkOptionNames(options, LOAD_OPTION_NAMES, `${what} options`);
  return dirOrId;
}

/**
 * Loads a Hugging Face model folder (config.json + weights), or a Hub id (`'org/name'`, downloaded
 * into the Hugging Face cache); the class follows config.architectures.
 */
export function loadModel(dirOrId: string, options: LoadModelOptions = {}): Promise<BertModel> {
  const caller = captureCallerStack();
  return withLoadErrors(caller, async () => {
    const dir = checkLoadArguments(dirOrId, options, 'loadModel()');
    return buildModel(await readModelSource(dir, options), options);
  });
}

/**
 * Builds a model from a config object (config.json keys) and tensors in memory, named as in a
 * checkpoint — for generated weights and tests.
 */
export function createModel(
  config: Record<string, unknown>,
  tensors: Map<string, TensorInput> | Record<string, TensorInput>,
  options: LoadModelOptions = {},
): Promise<BertModel> {
  const caller = captureCallerStack();
  return withLoadErrors(caller, async () => {
    checkOptionNames(options, LOAD_OPTION_NAMES, 'createModel() options');
    return buildModel(memorySource(config, tensors), options);
  });
}
