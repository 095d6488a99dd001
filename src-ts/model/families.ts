/**
 * What a model's family means for the model class: the architecture it loads as, and how a padded
 * batch is adapted to the encoder (positions, token types). Read from the family's row and the
 * encoder description (src-ts/config.ts), never from class names. What each head outputs, for any
 * family, is the head table's (heads.ts).
 */
import { familyOf, parseConfig, type Architecture, type BertConfig } from '../config.js';
import { UnsupportedModelError } from '../errors.js';
import { architecturesOf, headKindOf } from '../families.js';
import type { BatchInput } from '../native/types.js';
import { quote } from '../util/quote.js';
import { expectedTensors } from '../weights/index.js';

/** The architecture to run: the one asked for, else config.architectures[0], else the family's bare encoder. */
export function pickArchitecture(config: BertConfig, requested: unknown): Architecture {
  const row = familyOf(config);
  const all = architecturesOf(row);
  const prefix = row.prefixes[Math.max(0, row.modelTypes.indexOf(config.model_type))]!;
  const arch = requested ?? config.architectures?.[0] ?? `${prefix}Model`;
  if (typeof arch !== 'string' || headKindOf(row, arch) === undefined) {
    throw new UnsupportedModelError(`architecture ${quote(arch)} is not supported; supported: ${all.join(', ')} (model_type ${quote(config.model_type)})`);
  }
  return arch as Architecture;
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

/** The bare encoder's tensors (canonical names → shapes) for a config.json object: what a random model of the family needs. */
export function expectedEncoderTensors(config: Record<string, unknown>): Map<string, number[]> {
  const parsed = parseConfig(config, 'config');
  return expectedTensors(parsed, pickArchitecture(parsed, undefined));
}
