/**
 * config.json, parsed with Hugging Face's names and defaults (transformers' `BertConfig` and the
 * `PretrainedConfig` keys a BERT checkpoint uses). Keys we do not interpret are kept in `extra`.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, InvalidFileError, UnsupportedModelError } from './errors.js';
import type { ModelConfig } from './native/types.js';
import { quote } from './util/quote.js';

export const ARCHITECTURES = [
  'BertModel',
  'BertForMaskedLM',
  'BertForNextSentencePrediction',
  'BertForPreTraining',
  'BertForSequenceClassification',
  'BertForTokenClassification',
  'BertForQuestionAnswering',
  'BertForMultipleChoice',
] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/** Activations `hidden_act` may name. "gelu" is the exact erf GELU, as in transformers. */
export const HIDDEN_ACTS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'relu'] as const;
export type HiddenAct = (typeof HIDDEN_ACTS)[number];

export type ProblemType = 'regression' | 'single_label_classification' | 'multi_label_classification';

export interface BertConfig {
  model_type: 'bert';
  architectures: Architecture[] | null;
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: HiddenAct;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  initializer_range: number;
  layer_norm_eps: number;
  /** The embedding row that receives no gradient (`padding_idx`); null when the config says so. */
  pad_token_id: number | null;
  position_embedding_type: 'absolute';
  classifier_dropout: number | null;
  /** Derived from id2label when present (as `PretrainedConfig` does), else 2. */
  num_labels: number;
  id2label: Record<number, string>;
  label2id: Record<string, number>;
  problem_type: ProblemType | null;
  tie_word_embeddings: boolean;
  /** `torch_dtype` (transformers < 4.56) or `dtype`: the dtype the weights were saved in. */
  torch_dtype: string | null;
  /** Every other key of config.json, untouched. */
  extra: Record<string, unknown>;
}

const DEFAULTS = {
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
  position_embedding_type: 'absolute',
  classifier_dropout: null,
  tie_word_embeddings: true,
} as const;

const KNOWN_KEYS = new Set<string>([
  ...Object.keys(DEFAULTS),
  'model_type',
  'architectures',
  'num_labels',
  'id2label',
  'label2id',
  'problem_type',
  'torch_dtype',
  'dtype',
]);

/** Ceilings far above any real BERT, so a hostile config cannot make us allocate terabytes. */
const LIMITS: Record<string, number> = {
  vocab_size: 1 << 22,
  hidden_size: 1 << 15,
  num_hidden_layers: 1024,
  num_attention_heads: 1024,
  intermediate_size: 1 << 17,
  max_position_embeddings: 1 << 17,
  type_vocab_size: 1 << 16,
  num_labels: 1 << 20,
};

export function parseConfig(json: unknown, file = 'config.json'): BertConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ConfigError('config must be a JSON object', file);
  }
  const raw = json as Record<string, unknown>;
  const modelType = raw.model_type ?? 'bert';
  if (modelType !== 'bert') {
    throw new UnsupportedModelError(
      `${file}: model_type ${quote(modelType)} is not supported; bertkit runs model_type "bert" (${ARCHITECTURES.join(', ')})`,
    );
  }

  const int = (key: keyof typeof LIMITS, min: number): number => {
    const v = raw[key] ?? (DEFAULTS as Record<string, unknown>)[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > LIMITS[key]!) {
      throw new ConfigError(`"${key}" must be an integer in [${min}, ${LIMITS[key]}], got ${quote(v)}`, file);
    }
    return v;
  };
  const num = (key: string, def: number, min: number, max: number): number => {
    const v = raw[key] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new ConfigError(`"${key}" must be a number in [${min}, ${max}], got ${quote(v)}`, file);
    }
    return v;
  };

  const vocab_size = int('vocab_size', 1);
  const hidden_size = int('hidden_size', 1);
  const num_hidden_layers = int('num_hidden_layers', 1);
  const num_attention_heads = int('num_attention_heads', 1);
  if (hidden_size % num_attention_heads !== 0) {
    throw new ConfigError(
      `hidden_size (${hidden_size}) is not a multiple of num_attention_heads (${num_attention_heads})`,
      file,
    );
  }
  const intermediate_size = int('intermediate_size', 1);
  const max_position_embeddings = int('max_position_embeddings', 1);
  const type_vocab_size = int('type_vocab_size', 1);

  const act = raw.hidden_act ?? DEFAULTS.hidden_act;
  if (typeof act !== 'string' || !(HIDDEN_ACTS as readonly string[]).includes(act)) {
    throw new UnsupportedModelError(
      `${file}: hidden_act ${quote(act)} is not supported; supported: ${HIDDEN_ACTS.join(', ')}`,
    );
  }
  const pet = raw.position_embedding_type ?? DEFAULTS.position_embedding_type;
  if (pet !== 'absolute') {
    throw new UnsupportedModelError(
      `${file}: position_embedding_type ${quote(pet)} is not supported; only "absolute" is`,
    );
  }
  if (raw.is_decoder === true || raw.add_cross_attention === true) {
    throw new UnsupportedModelError(`${file}: decoder BERT (is_decoder / add_cross_attention) is not supported`);
  }

  let architectures: Architecture[] | null = null;
  if (raw.architectures != null) {
    if (!Array.isArray(raw.architectures) || raw.architectures.some((a) => typeof a !== 'string')) {
      throw new ConfigError('"architectures" must be a list of class names', file);
    }
    const unknown = (raw.architectures as string[]).filter((a) => !(ARCHITECTURES as readonly string[]).includes(a));
    if (unknown.length) {
      throw new UnsupportedModelError(
        `${file}: architecture ${unknown.join(', ')} is not supported; supported: ${ARCHITECTURES.join(', ')}`,
      );
    }
    architectures = raw.architectures as Architecture[];
  }

  // id2label / label2id / num_labels as PretrainedConfig reconciles them.
  let id2label: Record<number, string> = {};
  if (raw.id2label != null) {
    if (typeof raw.id2label !== 'object' || Array.isArray(raw.id2label)) {
      throw new ConfigError('"id2label" must be an object', file);
    }
    for (const [k, v] of Object.entries(raw.id2label as Record<string, unknown>)) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0 || typeof v !== 'string') {
        throw new ConfigError(`"id2label" has an invalid entry ${quote(k)}: ${quote(v)}`, file);
      }
      id2label[i] = v;
    }
  }
  let num_labels: number;
  if (raw.num_labels != null) {
    num_labels = int('num_labels', 1);
  } else if (Object.keys(id2label).length) {
    num_labels = Object.keys(id2label).length;
  } else {
    num_labels = 2;
  }
  if (Object.keys(id2label).length === 0 || Object.keys(id2label).length !== num_labels) {
    if (Object.keys(id2label).length !== num_labels) {
      id2label = {};
      for (let i = 0; i < num_labels; i++) id2label[i] = `LABEL_${i}`;
    }
  }
  const label2id: Record<string, number> = {};
  if (raw.label2id != null && typeof raw.label2id === 'object' && !Array.isArray(raw.label2id)) {
    for (const [k, v] of Object.entries(raw.label2id as Record<string, unknown>)) {
      if (typeof v === 'number' && Number.isInteger(v)) label2id[k] = v;
    }
  }
  if (Object.keys(label2id).length !== num_labels) {
    for (const k of Object.keys(label2id)) delete label2id[k];
    for (const [i, l] of Object.entries(id2label)) label2id[l] = Number(i);
  }

  const pt = raw.problem_type ?? null;
  if (pt !== null && pt !== 'regression' && pt !== 'single_label_classification' && pt !== 'multi_label_classification') {
    throw new ConfigError(`"problem_type" ${quote(pt)} is not one of regression, single_label_classification, multi_label_classification`, file);
  }
  const cd = raw.classifier_dropout ?? null;
  if (cd !== null && (typeof cd !== 'number' || !(cd >= 0 && cd <= 1))) {
    throw new ConfigError(`"classifier_dropout" must be null or a number in [0, 1]`, file);
  }
  const padRaw = 'pad_token_id' in raw ? raw.pad_token_id : DEFAULTS.pad_token_id;
  if (padRaw !== null && (typeof padRaw !== 'number' || !Number.isInteger(padRaw))) {
    throw new ConfigError(`"pad_token_id" must be an integer, got ${quote(padRaw)}`, file);
  }
  const dtype = raw.torch_dtype ?? raw.dtype ?? null;

  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!KNOWN_KEYS.has(k)) extra[k] = v;

  return {
    model_type: 'bert',
    architectures,
    vocab_size,
    hidden_size,
    num_hidden_layers,
    num_attention_heads,
    intermediate_size,
    hidden_act: act as HiddenAct,
    hidden_dropout_prob: num('hidden_dropout_prob', DEFAULTS.hidden_dropout_prob, 0, 1),
    attention_probs_dropout_prob: num('attention_probs_dropout_prob', DEFAULTS.attention_probs_dropout_prob, 0, 1),
    max_position_embeddings,
    type_vocab_size,
    initializer_range: num('initializer_range', DEFAULTS.initializer_range, 0, 1e3),
    layer_norm_eps: num('layer_norm_eps', DEFAULTS.layer_norm_eps, 0, 1),
    pad_token_id: padRaw as number | null,
    position_embedding_type: 'absolute',
    classifier_dropout: cd as number | null,
    num_labels,
    id2label,
    label2id,
    problem_type: pt as ProblemType | null,
    tie_word_embeddings: raw.tie_word_embeddings !== false,
    torch_dtype: typeof dtype === 'string' ? dtype : null,
    extra,
  };
}

export async function readConfig(file: string): Promise<BertConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new InvalidFileError(`cannot read config: ${(cause as Error).message}`, file, 'ERR_INVALID_FILE', { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`not valid JSON: ${(cause as Error).message}`, file);
  }
  return parseConfig(json, file);
}

/** The config as config.json would store it (HF names), for saving a model. */
export function configToJSON(config: BertConfig): Record<string, unknown> {
  const { extra, torch_dtype, ...rest } = config;
  return { ...extra, ...rest, ...(torch_dtype ? { torch_dtype } : {}) };
}

/** The engine's view of a config (src-ts/native/types.ts), for one architecture. */
export function toNativeConfig(config: BertConfig, architecture: Architecture, hasPooler: boolean): ModelConfig {
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
