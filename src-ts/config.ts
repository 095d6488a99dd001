/**
 * config.json, parsed with Hugging Face's names and defaults (transformers' `BertConfig` and the
 * `PretrainedConfig` keys a BERT checkpoint uses; the other families' configs through their row of
 * src-ts/families.ts, with their keys renamed to BERT's). Keys we do not interpret are kept in
 * `extra`. The parsed config carries the encoder's description (`encoder`); `describeHead` gives
 * the head's for an architecture.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, InvalidFileError, UnsupportedModelError } from './errors.js';
import { architecturesOf, familyOfModelType, familyRows, headKindOf, type Family, type FamilyRow, type HeadAct, type HeadKind } from './families.js';
import type { ModelConfig, NativeArchitecture } from './native/types.js';
import { quote } from './util/quote.js';

export type Architecture = NativeArchitecture;
/** Every architecture of every family, in table order. */
export const ARCHITECTURES: readonly Architecture[] = familyRows().flatMap((r) => architecturesOf(r)) as Architecture[];

/** config.json model_type values bertkit runs (and those of families added with registerFamily). */
export type ModelType = 'bert' | 'distilbert' | 'roberta' | 'xlm-roberta' | 'camembert' | 'albert' | 'electra' | (string & {});

/** The encoder, as the engine runs it (bertkit::EncoderConfig's structure fields). */
export interface EncoderDescription {
  family: Family;
  /** Token type embeddings exist (DistilBERT has none: token types are ignored). */
  tokenTypes: boolean;
  /** >= 0: positions are made from the ids after this id (RoBERTa's padding_idx); -1: 0..n-1. */
  paddingIdx: number;
  /** The first position id a sequence uses and the most tokens it may have. */
  positionOffset: number;
  maxSequenceLength: number;
  /** The lookup tables' width; projected to hidden_size (embeddings_project) when different. */
  embeddingSize: number;
  /** ALBERT: weight sets shared across depth (0 = none) and layers per group. */
  numHiddenGroups: number;
  innerGroupNum: number;
  /** Layer applications: hidden_states has one more, attentions as many. */
  layerApplications: number;
  /** The family's encoder has a pooler. */
  pooler: boolean;
}

/** The task head on the encoder (bertkit::HeadConfig + HeadSpec). */
export interface HeadDescription {
  architecture: Architecture;
  kind: HeadKind;
  /** Reads the pooled first token (the pooler runs). */
  pooler: boolean;
  /** Its own dense layer + activation before its linear, on the first token (or every token). */
  ownDense: Exclude<HeadAct, 'hidden_act'> | HiddenAct | null;
  /** The MLM transform's activation (MLM heads only). */
  transformAct: Exclude<HeadAct, 'hidden_act'> | HiddenAct | null;
}

/** Activations `hidden_act` may name. "gelu" is the exact erf GELU, as in transformers. */
export const HIDDEN_ACTS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'relu'] as const;
export type HiddenAct = (typeof HIDDEN_ACTS)[number];

export type ProblemType = 'regression' | 'single_label_classification' | 'multi_label_classification';

export interface BertConfig {
  model_type: ModelType;
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
  /** What the engine runs, from the family's row (src-ts/families.ts). */
  encoder: EncoderDescription;
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
  'embedding_size',
  'num_hidden_groups',
  'inner_group_num',
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
  const given = json as Record<string, unknown>;
  const modelType = given.model_type ?? 'bert';
  const row = typeof modelType === 'string' ? familyOfModelType(modelType) : undefined;
  if (!row) {
    throw new UnsupportedModelError(
      `${file}: model_type ${quote(modelType)} is not supported; supported: ${familyRows().flatMap((r) => r.modelTypes).join(', ')}`,
    );
  }
  for (const [key, supported] of Object.entries(row.unsupported)) {
    if (given[key] !== undefined && given[key] !== supported) {
      throw new UnsupportedModelError(`${file}: ${key} ${quote(given[key])} is not supported for model_type ${quote(modelType)}; only ${quote(supported)} is`);
    }
  }
  // The family's keys under BERT's names; what it hard-codes wins over the file.
  const raw: Record<string, unknown> = { ...given };
  for (const [from, to] of Object.entries(row.keyAliases)) {
    if (from in raw) {
      if (!(to in given)) raw[to] = raw[from];
      delete raw[from];
    }
  }
  Object.assign(raw, row.fixed);
  const defaults: Record<string, unknown> = { ...DEFAULTS, ...row.defaults };

  const int = (key: keyof typeof LIMITS, min: number): number => {
    const v = raw[key] ?? defaults[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > LIMITS[key]!) {
      throw new ConfigError(`"${key}" must be an integer in [${min}, ${LIMITS[key]}], got ${quote(v)}`, file);
    }
    return v;
  };
  const num = (key: string, def: number, min: number, max: number): number => {
    const v = raw[key] ?? (key in row.defaults ? (row.defaults[key] as number) : def);
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

  const act = raw.hidden_act ?? defaults.hidden_act;
  if (typeof act !== 'string' || !(HIDDEN_ACTS as readonly string[]).includes(act)) {
    const key = Object.entries(row.keyAliases).find(([, to]) => to === 'hidden_act')?.[0] ?? 'hidden_act';
    throw new UnsupportedModelError(
      `${file}: ${key} ${quote(act)} is not supported; supported: ${HIDDEN_ACTS.join(', ')}`,
    );
  }
  const pet = raw.position_embedding_type ?? defaults.position_embedding_type;
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
    const unknown = (raw.architectures as string[]).filter((a) => headKindOf(row, a) === undefined);
    if (unknown.length) {
      throw new UnsupportedModelError(
        `${file}: architecture ${unknown.join(', ')} is not supported; supported: ${architecturesOf(row).join(', ')} (model_type ${quote(modelType)})`,
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
  const cd = raw.classifier_dropout ?? defaults.classifier_dropout ?? null;
  if (cd !== null && (typeof cd !== 'number' || !(cd >= 0 && cd <= 1))) {
    throw new ConfigError(`"classifier_dropout" must be null or a number in [0, 1]`, file);
  }
  const padRaw = 'pad_token_id' in raw ? raw.pad_token_id : defaults.pad_token_id;
  if (padRaw !== null && (typeof padRaw !== 'number' || !Number.isInteger(padRaw))) {
    throw new ConfigError(`"pad_token_id" must be an integer, got ${quote(padRaw)}`, file);
  }
  const dtype = raw.torch_dtype ?? raw.dtype ?? null;

  const extra: Record<string, unknown> = {};
  const known = new Set([...KNOWN_KEYS, ...Object.keys(row.keyAliases), ...Object.keys(row.unsupported)]);
  for (const [k, v] of Object.entries(given)) if (!known.has(k)) extra[k] = v;

  // The encoder's structure.
  const pad_token_id = padRaw as number | null;
  let paddingIdx = -1;
  if (row.positionsFromPadding) {
    if (pad_token_id === null || pad_token_id < 0 || pad_token_id >= vocab_size) {
      throw new ConfigError(`"pad_token_id" must be a token id: model_type ${quote(modelType)} makes position ids after it, got ${quote(pad_token_id)}`, file);
    }
    paddingIdx = pad_token_id;
  }
  const positionOffset = paddingIdx >= 0 ? paddingIdx + 1 : 0;
  if (max_position_embeddings <= positionOffset) {
    throw new ConfigError(`"max_position_embeddings" (${max_position_embeddings}) leaves no position after padding_idx + 1 (${positionOffset})`, file);
  }
  const structural = (key: string, min: number, max: number): number => {
    const v = raw[key] ?? defaults[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(`"${key}" must be an integer in [${min}, ${max}], got ${quote(v)}`, file);
    }
    return v;
  };
  const embeddingSize = row.embeddingSize ? structural('embedding_size', 1, LIMITS.hidden_size!) : hidden_size;
  const numHiddenGroups = row.sharedLayers ? structural('num_hidden_groups', 1, num_hidden_layers) : 0;
  const innerGroupNum = row.sharedLayers ? structural('inner_group_num', 1, 1024) : 1;
  const encoder: EncoderDescription = {
    family: row.family,
    tokenTypes: row.tokenTypes,
    paddingIdx,
    positionOffset,
    maxSequenceLength: max_position_embeddings - positionOffset,
    embeddingSize,
    numHiddenGroups,
    innerGroupNum,
    layerApplications: row.sharedLayers ? num_hidden_layers * innerGroupNum : num_hidden_layers,
    pooler: row.pooler,
  };

  return {
    model_type: modelType as ModelType,
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
    pad_token_id,
    position_embedding_type: 'absolute',
    classifier_dropout: cd as number | null,
    num_labels,
    id2label,
    label2id,
    problem_type: pt as ProblemType | null,
    tie_word_embeddings: raw.tie_word_embeddings !== false,
    torch_dtype: typeof dtype === 'string' ? dtype : null,
    extra,
    encoder,
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

/** The config as config.json would store it (the family's own key names), for saving a model. */
export function configToJSON(config: BertConfig): Record<string, unknown> {
  const { extra, torch_dtype, encoder, ...rest } = config;
  const row = familyOfModelType(config.model_type)!;
  const out: Record<string, unknown> = { ...extra };
  const reverse = new Map(Object.entries(row.keyAliases).map(([from, to]) => [to, from]));
  for (const [k, v] of Object.entries(rest)) {
    if (k in row.fixed || (k === 'position_embedding_type' && row.family === 'distilbert')) continue;
    out[reverse.get(k) ?? k] = v;
  }
  if (row.embeddingSize) out.embedding_size = encoder.embeddingSize;
  if (row.sharedLayers) Object.assign(out, { num_hidden_groups: encoder.numHiddenGroups, inner_group_num: encoder.innerGroupNum });
  return { ...out, ...(torch_dtype ? { torch_dtype } : {}) };
}

/** The family row of a parsed config. */
export function familyOf(config: BertConfig): FamilyRow {
  return familyOfModelType(config.model_type)!;
}

/** The head an architecture puts on this config's encoder. */
export function describeHead(config: BertConfig, architecture: Architecture): HeadDescription {
  const row = familyOf(config);
  const kind = headKindOf(row, architecture);
  if (kind === undefined) {
    throw new UnsupportedModelError(`architecture ${quote(architecture)} is not one of model_type ${quote(config.model_type)}'s: ${architecturesOf(row).join(', ')}`);
  }
  const act = (a: HeadAct | null) => (a === 'hidden_act' ? config.hidden_act : a);
  const dense =
    kind === 'sequence_classification' ? row.sequenceDense : kind === 'multiple_choice' ? row.multipleChoiceDense : kind === 'discriminator' ? 'hidden_act' : null;
  const pooled = kind === 'next_sentence_prediction' || kind === 'pretraining' || kind === 'sequence_classification' || kind === 'multiple_choice';
  return {
    architecture,
    kind,
    pooler: kind === 'none' ? row.pooler : pooled && dense === null,
    ownDense: act(dense),
    transformAct: kind === 'masked_lm' || kind === 'pretraining' ? act(row.transformAct) : null,
  };
}

/** The engine's view of a config (src-ts/native/types.ts), for one architecture. */
export function toNativeConfig(config: BertConfig, architecture: Architecture, hasPooler: boolean): ModelConfig {
  const head = describeHead(config, architecture);
  const e = config.encoder;
  const native: ModelConfig = {
    architecture,
    vocab_size: config.vocab_size,
    hidden_size: config.hidden_size,
    num_hidden_layers: config.num_hidden_layers,
    num_attention_heads: config.num_attention_heads,
    intermediate_size: config.intermediate_size,
    max_position_embeddings: config.max_position_embeddings,
    type_vocab_size: config.type_vocab_size,
    num_labels: head.kind === 'multiple_choice' || head.kind === 'discriminator' ? 1 : config.num_labels,
    layer_norm_eps: config.layer_norm_eps,
    hidden_act: config.hidden_act,
    has_pooler: hasPooler,
    tie_word_embeddings: config.tie_word_embeddings,
  };
  // BERT's description is the default: only what differs is sent.
  if (!e.tokenTypes) native.token_type_embeddings = false;
  if (e.paddingIdx >= 0) native.padding_idx = e.paddingIdx;
  if (e.embeddingSize !== config.hidden_size) native.embedding_size = e.embeddingSize;
  if (e.numHiddenGroups > 0) Object.assign(native, { num_hidden_groups: e.numHiddenGroups, inner_group_num: e.innerGroupNum });
  if (head.ownDense) Object.assign(native, { own_dense: true, own_dense_act: head.ownDense, own_dense_input_dropout: familyOf(config).denseInputDropout });
  if (head.transformAct && head.transformAct !== config.hidden_act) native.transform_act = head.transformAct;
  return native;
}
