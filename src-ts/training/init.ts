/**
 * A trainable model with a task head that the checkpoint does not have (fine-tuning a pre-trained
 * BERT for classification), or with no checkpoint at all (pre-training from scratch): tensors the
 * checkpoint lacks are initialized as transformers' BertPreTrainedModel._init_weights does
 * (Linear / Embedding weights ~ N(0, initializer_range), biases 0, the padding_idx row 0,
 * LayerNorm 1 / 0), seeded; tensors of other heads are dropped, as from_pretrained drops them.
 */
import { parseConfig, readConfig, toNativeConfig, type Architecture, type BertConfig, configToJSON } from '../config.js';
import { InvalidInputError, UnsupportedModelError } from '../errors.js';
import { loadBinding } from '../native/load-binding.js';
import type { TensorView } from '../native/types.js';
import { hasTokenizerFiles, loadTokenizer, type Tokenizer } from '../tokenizer/index.js';
import { checkpointNamesOf, expectedTensors, readCheckpoint, type RawTensor } from '../weights/index.js';
import { headOf } from '../model/heads.js';
import { Rng } from './data.js';
import { buildTrainableModel, type TrainableBertModel } from './trainable-model.js';
import { checkOptionNames, optionNames } from '../options.js';

export interface InitModelOptions {
  /** A model folder whose weights and tokenizer to start from (omit to start from random weights). */
  from?: string;
  /** config.json keys to set or override (num_labels, id2label, problem_type, sizes for a new model, ...). */
  config?: Record<string, unknown>;
  architecture: Architecture;
  threads?: number;
  /** Seed of the new tensors' initialization (default 42). */
  seed?: number;
  /** A tokenizer for a model without a folder (saved with the model). */
  tokenizer?: Tokenizer;
  /**
   * Re-initialize checkpoint tensors whose shape does not fit the config (a classifier trained for
   * another number of labels), as from_pretrained(ignore_mismatched_sizes=True); default false: error.
   */
  ignoreMismatchedSizes?: boolean;
}

export interface InitModelResult {
  model: TrainableBertModel;
  /** Canonical names initialized here rather than read (transformers' "newly initialized" warning). */
  initialized: string[];
  /** Checkpoint tensors not used by this architecture. */
  dropped: string[];
}

function canonical(name: string): string {
  let n = name;
  if (/^bert\.(embeddings|encoder|pooler)\./.test(n)) n = n.slice(5);
  if (n.endsWith('LayerNorm.gamma')) n = `${n.slice(0, -5)}weight`;
  else if (n.endsWith('LayerNorm.beta')) n = `${n.slice(0, -4)}bias`;
  if (n === 'cls.predictions.decoder.bias') n = 'cls.predictions.bias';
  return n;
}

/** transformers' name of a canonical tensor in a model of `architecture`: head models keep the encoder under the family's prefix (bert.). */
function hfName(name: string, config: BertConfig, architecture: Architecture): string {
  const names = checkpointNamesOf(config.encoder.family);
  return headOf(architecture) !== 'base' && names.encoderModules.includes(name.split('.')[0]!) ? `${names.prefix}.${name}` : name;
}

function toF32(t: RawTensor): Float32Array {
  const n = t.dims.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  for (let i = 0; i < n; i++) {
    switch (t.dtype) {
      case 'F32': out[i] = v.getFloat32(i * 4, true); break;
      case 'F64': out[i] = v.getFloat64(i * 8, true); break;
      case 'F16': out[i] = f16(v.getUint16(i * 2, true)); break;
      case 'BF16': out[i] = new Float32Array(new Uint32Array([v.getUint16(i * 2, true) << 16]).buffer)[0]!; break;
      default: throw new InvalidInputError(`${t.name}: ${t.dtype} weights cannot be trained`);
    }
  }
  return out;
}

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export async function initTrainableModel(options: InitModelOptions): Promise<InitModelResult> {
  if (options === null || typeof options !== 'object') throw new InvalidInputError('initTrainableModel() needs options with an architecture');
  checkOptionNames(
    options,
    optionNames<InitModelOptions>({ from: true, config: true, architecture: true, threads: true, seed: true, tokenizer: true, ignoreMismatchedSizes: true }),
    'initTrainableModel() options',
  );
  const { architecture } = options;
  let base: Record<string, unknown> = {};
  const checkpoint = new Map<string, RawTensor>();
  let tokenizer = options.tokenizer;
  if (options.from) {
    base = configToJSON(await readConfig(`${options.from}/config.json`));
    const ck = await readCheckpoint(options.from);
    for (const [n, t] of ck.tensors) checkpoint.set(n, t);
    if (!tokenizer && (await hasTokenizerFiles(options.from))) tokenizer = await loadTokenizer(options.from);
  }
  const config: BertConfig = parseConfig({ ...base, ...options.config, architectures: [architecture] }, 'config');
  // Fresh weights get BERT's checkpoint names: the other families train from their checkpoints.
  if (config.encoder.family !== 'bert') {
    throw new UnsupportedModelError(`initTrainableModel builds BERT models; train a ${config.model_type} checkpoint with loadModel(dir, { training: true })`);
  }
  const expected = expectedTensors(config, architecture);
  const byCanonical = new Map<string, RawTensor>();
  const dropped: string[] = [];
  for (const [name, t] of checkpoint) {
    const c = canonical(name);
    if (expected.has(c) && !byCanonical.has(c)) byCanonical.set(c, t);
    else dropped.push(name);
  }
  const rng = new Rng(options.seed ?? 42);
  const normal = () => {
    let u = 0;
    while (u === 0) u = rng.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  };
  const std = config.initializer_range;
  const tensors: TensorView[] = [];
  const sourceNames = new Map<string, string>();
  const initialized: string[] = [];
  for (const [name, dims] of expected) {
    const have = byCanonical.get(name);
    let data: Float32Array;
    if (have && have.dims.length === dims.length && have.dims.every((d, i) => d === dims[i])) {
      data = toF32(have);
    } else {
      if (have && !options.ignoreMismatchedSizes) {
        throw new InvalidInputError(
          `${name} is [${have.dims.join(', ')}] in the checkpoint, the config needs [${dims.join(', ')}] (ignoreMismatchedSizes re-initializes it)`,
        );
      }
      initialized.push(name);
      data = new Float32Array(dims.reduce((a, b) => a * b, 1));
      if (/LayerNorm\.weight$/.test(name)) data.fill(1);
      else if (dims.length === 2) {
        for (let i = 0; i < data.length; i++) data[i] = normal() * std;
        if (name === 'embeddings.word_embeddings.weight' && config.pad_token_id != null && config.pad_token_id >= 0 && config.pad_token_id < dims[0]!) {
          data.fill(0, config.pad_token_id * dims[1]!, (config.pad_token_id + 1) * dims[1]!);
        }
      }
    }
    tensors.push({ name, dtype: 'F32', dims, data: new Uint8Array(data.buffer) });
    sourceNames.set(name, hfName(name, config, architecture));
  }
  const nativeConfig = toNativeConfig(config, architecture, true);
  const model = await buildTrainableModel({
    binding: loadBinding(),
    config,
    architecture,
    nativeConfig,
    tensors,
    threads: options.threads ?? 0,
    dtype: 'float32',
    weights: { files: options.from ? [`${options.from}/config.json`] : [], format: 'memory', ignored: dropped, sourceNames },
    hasPooler: true,
    ...(tokenizer ? { tokenizer } : {}),
  });
  return { model, initialized, dropped };
}
