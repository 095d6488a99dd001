/**
 * What a model's family and head mean for the model class: its outputs, the architecture it
 * loads as, and how a padded batch is adapted to the encoder (positions, token types). Read from
 * the encoder and head descriptions (src-ts/config.ts), never from class names.
 */
import { describeHead, familyOf, parseConfig, type Architecture, type BertConfig } from '../config.js';
import { UnsupportedModelError } from '../errors.js';
import { architecturesOf, familyOfModelType, headOf } from '../families.js';
import type { BatchInput } from '../native/types.js';
import { quote } from '../util/quote.js';
import { expectedTensors } from '../weights/index.js';

/** One output of an architecture: its native buffer, its ModelOutput field and its shape. */
export interface OutputSpec {
  native: 'last_hidden_state' | 'pooler_output' | 'logits' | 'prediction_logits' | 'seq_relationship_logits' | 'start_logits' | 'end_logits';
  field: 'lastHiddenState' | 'poolerOutput' | 'logits' | 'predictionLogits' | 'seqRelationshipLogits' | 'sopLogits' | 'startLogits' | 'endLogits';
  /** One row per token ([T, width]) or per sequence ([B, width]). */
  perToken: boolean;
  width: number;
  /** transformers drops the width-1 axis ([B, L] start/end logits, [B] choice scores). */
  squeeze?: boolean;
  /** The masked-LM logits (rows selectable with logitsTokens). */
  mlm?: boolean;
  /** Multiple choice: the input is [B][choices][L] and the scores [B, choices]. */
  choices?: boolean;
}

export function outputSpecs(config: BertConfig, architecture: Architecture, hasPooler: boolean): OutputSpec[] {
  const H = config.hidden_size;
  const V = config.vocab_size;
  const head = describeHead(config, architecture);
  const specs: OutputSpec[] = [{ native: 'last_hidden_state', field: 'lastHiddenState', perToken: true, width: H }];
  if (head.kind === 'none' ? hasPooler : head.pooler) specs.push({ native: 'pooler_output', field: 'poolerOutput', perToken: false, width: H });
  switch (head.kind) {
    case 'masked_lm':
      specs.push({ native: 'logits', field: 'logits', perToken: true, width: V, mlm: true });
      break;
    case 'next_sentence_prediction':
      specs.push({ native: 'logits', field: 'logits', perToken: false, width: 2 });
      break;
    case 'pretraining':
      specs.push({ native: 'prediction_logits', field: 'predictionLogits', perToken: true, width: V, mlm: true });
      // ALBERT's second task is sentence order (transformers' sop_logits).
      specs.push({ native: 'seq_relationship_logits', field: config.encoder.family === 'albert' ? 'sopLogits' : 'seqRelationshipLogits', perToken: false, width: 2 });
      break;
    case 'sequence_classification':
      specs.push({ native: 'logits', field: 'logits', perToken: false, width: config.num_labels });
      break;
    case 'token_classification':
      specs.push({ native: 'logits', field: 'logits', perToken: true, width: config.num_labels });
      break;
    case 'discriminator':
      specs.push({ native: 'logits', field: 'logits', perToken: true, width: 1, squeeze: true });
      break;
    case 'multiple_choice':
      specs.push({ native: 'logits', field: 'logits', perToken: false, width: 1, squeeze: true, choices: true });
      break;
    case 'question_answering':
      specs.push({ native: 'start_logits', field: 'startLogits', perToken: true, width: 1, squeeze: true });
      specs.push({ native: 'end_logits', field: 'endLogits', perToken: true, width: 1, squeeze: true });
      break;
    case 'none':
      break;
  }
  return specs;
}

/** The architecture to run: the one asked for, else config.architectures[0], else the family's bare encoder. */
export function pickArchitecture(config: BertConfig, requested: unknown): Architecture {
  const row = familyOf(config);
  const all = architecturesOf(row);
  const prefix = row.prefixes[Math.max(0, row.modelTypes.indexOf(config.model_type))]!;
  const arch = requested ?? config.architectures?.[0] ?? `${prefix}Model`;
  if (typeof arch !== 'string' || headOf(row, arch) === undefined) {
    throw new UnsupportedModelError(`architecture ${quote(arch)} is not supported; supported: ${all.join(', ')} (model_type ${quote(config.model_type)})`);
  }
  return arch as Architecture;
}

/**
 * The architecture of this config's family with the same head as `architecture` (of any family):
 * a task that loads folders "as BertForMaskedLM" loads a RoBERTa folder as RobertaForMaskedLM.
 * Undefined when the family has no such head.
 */
export function sameHeadAs(config: BertConfig, architecture: string): Architecture | undefined {
  const row = familyOf(config);
  const kind = headOf(row, architecture) ?? headOf(familyOfModelType('bert')!, architecture);
  if (kind === undefined) return undefined;
  const declared = config.architectures?.[0];
  const prefix = row.prefixes.find((p) => declared?.startsWith(p)) ?? row.prefixes[Math.max(0, row.modelTypes.indexOf(config.model_type))]!;
  const suffix = Object.entries(row.heads).find(([, k]) => k === kind)?.[0];
  return suffix === undefined ? undefined : (`${prefix}${suffix}` as Architecture);
}

/**
 * A packed batch as the encoder reads it: the padded positions are dropped where the family makes
 * positions from the ids (RoBERTa: the engine derives them, so left padding lands where
 * transformers puts it), token types where it has none (DistilBERT's forward takes none).
 */
export function adaptBatch(config: BertConfig, input: BatchInput): BatchInput {
  const e = config.encoder;
  if (e.paddingIdx < 0 && e.tokenTypes) return input;
  const out = { ...input };
  if (e.paddingIdx >= 0) delete out.position_ids;
  if (!e.tokenTypes) delete out.token_type_ids;
  return out;
}

/** The families the trainer implements (FamilyRow.training); the others are refused before anything is built. */
export function refuseTraining(config: BertConfig): void {
  if (!familyOf(config).training) {
    throw new UnsupportedModelError(`training is not yet supported for model_type ${quote(config.model_type)}; load it without training: true to run it`);
  }
}

/** The BERT class with the same head as `architecture` of this config's family (what labels and outputs follow). */
export function bertArchitectureOf(config: BertConfig, architecture: Architecture): Architecture {
  const kind = describeHead(config, architecture).kind;
  const bert = familyOfModelType('bert')!;
  const suffix = Object.entries(bert.heads).find(([, k]) => k === kind)?.[0];
  return (suffix === undefined ? architecture : `Bert${suffix}`) as Architecture;
}

/** The bare encoder's tensors (canonical names → shapes) for a config.json object: what a random model of the family needs. */
export function expectedEncoderTensors(config: Record<string, unknown>): Map<string, number[]> {
  const parsed = parseConfig(config, 'config');
  return expectedTensors(parsed, pickArchitecture(parsed, undefined));
}
