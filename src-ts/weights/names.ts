/**
 * Checkpoint tensor names → canonical names, checked against what an architecture needs.
 *
 * Canonical names are transformers' `BertModel` names (no `bert.` prefix) for the encoder and
 * transformers' BERT head names, so a canonical name is also a valid BERT checkpoint name. The
 * other families' names are renamed by their row of `CHECKPOINT_NAMES` (prefix, renames, what is
 * tied and not stored), in this one place; the engine (native/core/bert_weights.h) knows only the
 * canonical names.
 */
import { ARCHITECTURES, describeHead, type Architecture, type BertConfig } from '../config.js';
import { InvalidFileError, UnsupportedModelError, WeightsMismatchError } from '../errors.js';
import { architecturesOf, familyOfModelType, type Family } from '../families.js';
import type { RawTensor } from './types.js';

const POOLER = ['pooler.dense.weight', 'pooler.dense.bias'];
const DECODER_WEIGHT = 'cls.predictions.decoder.weight';
/** The same parameter as `cls.predictions.bias` in transformers (`decoder.bias = bias`). */
const DECODER_BIAS = 'cls.predictions.decoder.bias';
const MLM_BIAS = 'cls.predictions.bias';
/** Buffers the embeddings register; old checkpoints store them, nothing reads them. */
const BUFFERS = ['embeddings.position_ids', 'embeddings.token_type_ids'];

/** One family's checkpoint names: the encoder's prefix in head models, then renames to canonical names. */
export interface CheckpointNames {
  /** Head models store the encoder under `<prefix>.` (bert., roberta., ...). */
  prefix: string;
  /** The encoder's top-level modules (what the prefix applies to). */
  encoderModules: readonly string[];
  /** [pattern, replacement] on the unprefixed name, first match wins; `$G`/`$I` are ALBERT's group and inner layer. */
  renames: readonly (readonly [RegExp, string | ((config: BertConfig, ...groups: string[]) => string)])[];
}

const MLM_RENAMES = (module: string, dense: string, norm: string, bias: string, decoder: string) =>
  [
    [new RegExp(`^${module}\\.${dense}\\.`), 'cls.predictions.transform.dense.'],
    [new RegExp(`^${module}\\.${norm}\\.`), 'cls.predictions.transform.LayerNorm.'],
    [new RegExp(`^${bias}$`), MLM_BIAS],
    [new RegExp(`^${decoder}\\.weight$`), DECODER_WEIGHT],
    [new RegExp(`^${decoder}\\.bias$`), DECODER_BIAS],
  ] as const;

const CHECKPOINT_NAMES: Record<string, CheckpointNames> = {
  bert: {
    prefix: 'bert',
    encoderModules: ['embeddings', 'encoder', 'pooler'],
    renames: [],
  },
  distilbert: {
    prefix: 'distilbert',
    encoderModules: ['embeddings', 'transformer'],
    renames: [
      [/^transformer\.layer\.(\d+)\.attention\.q_lin\./, (_c, i) => `encoder.layer.${i}.attention.self.query.`],
      [/^transformer\.layer\.(\d+)\.attention\.k_lin\./, (_c, i) => `encoder.layer.${i}.attention.self.key.`],
      [/^transformer\.layer\.(\d+)\.attention\.v_lin\./, (_c, i) => `encoder.layer.${i}.attention.self.value.`],
      [/^transformer\.layer\.(\d+)\.attention\.out_lin\./, (_c, i) => `encoder.layer.${i}.attention.output.dense.`],
      [/^transformer\.layer\.(\d+)\.sa_layer_norm\./, (_c, i) => `encoder.layer.${i}.attention.output.LayerNorm.`],
      [/^transformer\.layer\.(\d+)\.ffn\.lin1\./, (_c, i) => `encoder.layer.${i}.intermediate.dense.`],
      [/^transformer\.layer\.(\d+)\.ffn\.lin2\./, (_c, i) => `encoder.layer.${i}.output.dense.`],
      [/^transformer\.layer\.(\d+)\.output_layer_norm\./, (_c, i) => `encoder.layer.${i}.output.LayerNorm.`],
      [/^vocab_transform\./, 'cls.predictions.transform.dense.'],
      [/^vocab_layer_norm\./, 'cls.predictions.transform.LayerNorm.'],
      [/^vocab_projector\.bias$/, MLM_BIAS],
      [/^vocab_projector\.weight$/, DECODER_WEIGHT],
      [/^pre_classifier\./, 'classifier.dense.'],
    ],
  },
  roberta: {
    prefix: 'roberta',
    encoderModules: ['embeddings', 'encoder', 'pooler'],
    renames: [...MLM_RENAMES('lm_head', 'dense', 'layer_norm', 'lm_head\\.bias', 'lm_head\\.decoder'), [/^classifier\.out_proj\./, 'classifier.']],
  },
  albert: {
    prefix: 'albert',
    encoderModules: ['embeddings', 'encoder', 'pooler'],
    renames: [
      [/^encoder\.embedding_hidden_mapping_in\./, 'embeddings_project.'],
      [
        /^encoder\.albert_layer_groups\.(\d+)\.albert_layers\.(\d+)\.(attention\.(?:query|key|value|dense|LayerNorm)|ffn|ffn_output|full_layer_layer_norm)\./,
        (c, g, i, part) => {
          const n = Number(g) * c.encoder.innerGroupNum + Number(i);
          const canonical: Record<string, string> = {
            'attention.query': 'attention.self.query',
            'attention.key': 'attention.self.key',
            'attention.value': 'attention.self.value',
            'attention.dense': 'attention.output.dense',
            'attention.LayerNorm': 'attention.output.LayerNorm',
            ffn: 'intermediate.dense',
            ffn_output: 'output.dense',
            full_layer_layer_norm: 'output.LayerNorm',
          };
          // Indices beyond the config's groups stay out of range, so they are reported as unexpected.
          return Number(i) < c.encoder.innerGroupNum ? `encoder.layer.${n}.${canonical[part!]}.` : `encoder.albert_layer_groups.${g}.albert_layers.${i}.${part}.`;
        },
      ],
      [/^pooler\.(weight|bias)$/, (_c, w) => `pooler.dense.${w}`],
      ...MLM_RENAMES('predictions', 'dense', 'LayerNorm', 'predictions\\.bias', 'predictions\\.decoder'),
      [/^sop_classifier\.classifier\./, 'cls.seq_relationship.'],
    ],
  },
  electra: {
    prefix: 'electra',
    encoderModules: ['embeddings', 'embeddings_project', 'encoder'],
    renames: [
      [/^discriminator_predictions\.dense\./, 'classifier.dense.'],
      [/^discriminator_predictions\.dense_prediction\./, 'classifier.'],
      ...MLM_RENAMES('generator_predictions', 'dense', 'LayerNorm', 'generator_lm_head\\.bias', 'generator_lm_head'),
      [/^classifier\.out_proj\./, 'classifier.'],
    ],
  },
};

/** A family's checkpoint names (with registerFamily, for a family added at run time). */
export function registerCheckpointNames(family: Family, names: CheckpointNames): void {
  CHECKPOINT_NAMES[family] = names;
}

export function checkpointNamesOf(family: Family): CheckpointNames {
  const names = Object.hasOwn(CHECKPOINT_NAMES, family) ? CHECKPOINT_NAMES[family] : undefined;
  if (!names) throw new UnsupportedModelError(`family ${JSON.stringify(family)} has no checkpoint names (registerCheckpointNames)`);
  return names;
}

/** Canonical name → shape of every tensor the architecture uses (a bare encoder's pooler included). */
export function expectedTensors(config: BertConfig, architecture: Architecture): Map<string, number[]> {
  // A name from config.json must not reach Object.prototype ("constructor"): describeHead checks it against the family's table.
  if (typeof architecture !== 'string' || !(ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new UnsupportedModelError(`architecture ${JSON.stringify(architecture)} is not supported; supported: ${ARCHITECTURES.join(', ')}`);
  }
  const head = describeHead(config, architecture);
  const e = config.encoder;
  const H = config.hidden_size;
  const E = e.embeddingSize;
  const I = config.intermediate_size;
  const m = new Map<string, number[]>();
  const linear = (prefix: string, out: number, inp: number) => {
    m.set(`${prefix}.weight`, [out, inp]);
    m.set(`${prefix}.bias`, [out]);
  };
  const layerNorm = (prefix: string, n = H) => {
    m.set(`${prefix}.weight`, [n]);
    m.set(`${prefix}.bias`, [n]);
  };

  m.set('embeddings.word_embeddings.weight', [config.vocab_size, E]);
  m.set('embeddings.position_embeddings.weight', [config.max_position_embeddings, E]);
  if (e.tokenTypes) m.set('embeddings.token_type_embeddings.weight', [config.type_vocab_size, E]);
  layerNorm('embeddings.LayerNorm', E);
  if (E !== H) linear('embeddings_project', H, E);
  const weightSets = e.numHiddenGroups > 0 ? e.numHiddenGroups * e.innerGroupNum : config.num_hidden_layers;
  for (let i = 0; i < weightSets; i++) {
    const l = `encoder.layer.${i}`;
    linear(`${l}.attention.self.query`, H, H);
    linear(`${l}.attention.self.key`, H, H);
    linear(`${l}.attention.self.value`, H, H);
    linear(`${l}.attention.output.dense`, H, H);
    layerNorm(`${l}.attention.output.LayerNorm`);
    linear(`${l}.intermediate.dense`, I, H);
    linear(`${l}.output.dense`, H, I);
    layerNorm(`${l}.output.LayerNorm`);
  }
  if (head.pooler) linear('pooler.dense', H, H);
  if (head.transformAct) {
    linear('cls.predictions.transform.dense', E, H);
    layerNorm('cls.predictions.transform.LayerNorm', E);
    m.set(MLM_BIAS, [config.vocab_size]);
    if (!config.tie_word_embeddings) m.set(DECODER_WEIGHT, [config.vocab_size, E]);
  }
  if (head.ownDense) linear('classifier.dense', H, H);
  switch (head.kind) {
    case 'next_sentence_prediction':
    case 'pretraining':
      linear('cls.seq_relationship', 2, H);
      break;
    case 'sequence_classification':
    case 'token_classification':
      linear('classifier', config.num_labels, H);
      break;
    case 'multiple_choice':
    case 'discriminator':
      linear('classifier', 1, H);
      break;
    case 'question_answering':
      linear('qa_outputs', 2, H);
      break;
    case 'none':
    case 'masked_lm':
      break;
  }
  return m;
}

export interface ResolvedWeights {
  /** Canonical name → tensor, in `expectedTensors` order; float dtypes only (F64 became F32). */
  tensors: Map<string, RawTensor>;
  /** Canonical name → the name it had in the checkpoint. */
  sourceNames: Map<string, string>;
  /** Checkpoint names that belong to BERT but not to this architecture (other heads, buffers, tied copies). */
  ignored: string[];
  /** False for a bare encoder saved without its pooler (or a family without one). */
  hasPooler: boolean;
}

/** The canonical name a checkpoint name stands for (not yet checked against anything). */
function canonicalName(name: string, config: BertConfig): string {
  const names = checkpointNamesOf(config.encoder.family);
  let n = name;
  const prefix = `${names.prefix}.`;
  if (n.startsWith(prefix) && names.encoderModules.some((m) => n.startsWith(`${prefix}${m}.`))) n = n.slice(prefix.length);
  // TF-era LayerNorm names, renamed as transformers does on load.
  if (n.endsWith('LayerNorm.gamma')) n = `${n.slice(0, -'gamma'.length)}weight`;
  else if (n.endsWith('LayerNorm.beta')) n = `${n.slice(0, -'beta'.length)}bias`;
  for (const [pattern, to] of names.renames) {
    const match = pattern.exec(n);
    if (!match) continue;
    const replaced = typeof to === 'string' ? to : to(config, ...match.slice(1));
    return replaced + n.slice(match[0].length);
  }
  return n;
}

export function resolveWeights(
  tensors: Map<string, RawTensor>,
  config: BertConfig,
  architecture: Architecture,
  file?: string,
): ResolvedWeights {
  const expected = expectedTensors(config, architecture);
  // Everything any architecture of the family may store, so only foreign names count as unexpected.
  const known = new Set<string>([DECODER_WEIGHT, DECODER_BIAS, ...BUFFERS]);
  for (const a of architecturesOf(familyOfModelType(config.model_type)!)) {
    for (const n of expectedTensors(config, a as Architecture).keys()) known.add(n);
  }

  const found = new Map<string, RawTensor>();
  const sourceNames = new Map<string, string>();
  const ignored: string[] = [];
  const unexpected: string[] = [];
  let decoderBias: [string, RawTensor] | undefined;
  for (const [source, t] of tensors) {
    const name = canonicalName(source, config);
    if (name === DECODER_BIAS && expected.has(MLM_BIAS)) {
      decoderBias = [source, t];
    } else if (expected.has(name)) {
      const other = sourceNames.get(name);
      if (other !== undefined) throw new InvalidFileError(`"${other}" and "${source}" are both stored for ${name}`, file);
      found.set(name, t);
      sourceNames.set(name, source);
    } else if (known.has(name)) {
      ignored.push(source);
    } else {
      unexpected.push(source);
    }
  }
  if (decoderBias) {
    if (found.has(MLM_BIAS)) {
      ignored.push(decoderBias[0]);
    } else {
      found.set(MLM_BIAS, decoderBias[1]);
      sourceNames.set(MLM_BIAS, decoderBias[0]);
    }
  }

  // A bare encoder's pooler is optional (add_pooling_layer=False models are saved without one).
  const bare = describeHead(config, architecture).kind === 'none';
  const hasPooler = expected.has(POOLER[0]!) && (!bare || POOLER.some((n) => found.has(n)));
  const missing: string[] = [];
  const wrongShape: { name: string; expected: number[]; actual: number[] }[] = [];
  for (const [name, shape] of expected) {
    const t = found.get(name);
    if (!t) {
      if (hasPooler || !POOLER.includes(name)) missing.push(name);
    } else if (t.dims.length !== shape.length || t.dims.some((d, i) => d !== shape[i])) {
      wrongShape.push({ name: sourceNames.get(name)!, expected: shape, actual: t.dims });
    }
  }
  if (missing.length || unexpected.length || wrongShape.length) throw new WeightsMismatchError({ missing, unexpected, wrongShape }, file);

  const notFloat: string[] = [];
  const out = new Map<string, RawTensor>();
  for (const name of expected.keys()) {
    const t = found.get(name);
    if (!t) continue;
    if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') out.set(name, { ...t, name });
    else if (t.dtype === 'F64') out.set(name, { name, dtype: 'F32', dims: t.dims, data: f64ToF32(t.data) });
    else notFloat.push(`${sourceNames.get(name)} (${t.dtype})`);
  }
  if (notFloat.length) throw new InvalidFileError(`weights must be floating point (F32, F16, BF16 or F64): ${notFloat.join(', ')}`, file);
  return { tensors: out, sourceNames, ignored, hasPooler };
}

function f64ToF32(data: Uint8Array): Uint8Array {
  const src = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength / 2);
  const dst = new DataView(out.buffer);
  for (let i = 0; i * 8 < data.byteLength; i++) dst.setFloat32(i * 4, src.getFloat64(i * 8, true), true);
  return out;
}
