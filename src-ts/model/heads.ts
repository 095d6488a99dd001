/**
 * The task heads, once: what each one outputs (native buffer, ModelOutput field, shape) and
 * whether it runs the pooler. The model sizes and shapes its outputs from this table, the batcher
 * its budgets and per-sequence views, the trainer its logits. A head does not depend on the model
 * family: `BertForMaskedLM` and any `<Family>ForMaskedLM` share the MaskedLM head, so code that
 * asks for a head (`model.head`) never lists architecture names. Where a family's class of a head
 * computes something else than BERT's (ELECTRA's discriminator, ALBERT's sentence order, the
 * heads with their own dense layer instead of the pooler), the difference is read here from the
 * family's row (src-ts/families.ts) through `sizes.model_type`.
 */
import type { ProblemType } from '../config.js';
import { familyOfModelType, type HeadKind } from '../families.js';

export const HEADS = [
  'base',
  'MaskedLM',
  'NextSentencePrediction',
  'PreTraining',
  'SequenceClassification',
  'TokenClassification',
  'QuestionAnswering',
  'MultipleChoice',
] as const;
/** The head of an architecture: `<Family>For<Head>`, or 'base' for `<Family>Model`. */
export type Head = (typeof HEADS)[number];

/** What an output's width is in: a config size, or a fixed number of values. */
type Width = 'hidden' | 'vocab' | 'labels' | 1 | 2;

/** One output of a head: its native buffer, its ModelOutput field and its shape. */
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
  /** The sentence-pair logits ([B, 2]: is-next, not-next; ALBERT: in order, swapped), labelled by nextSentenceLabel. */
  nsp?: boolean;
  /** ELECTRA's replaced-token logits ([B, L]: one per token, labelled 1 = replaced). */
  replaced?: boolean;
}

type HeadOutput = Omit<OutputSpec, 'width'> & { width: Width };

interface HeadSpec {
  /** The pooler runs always, or (base models) when the checkpoint has one. */
  pooler: 'always' | 'if-present' | 'never';
  /** The head's own outputs (the encoder's last hidden state and the pooler's come first). */
  outputs: readonly HeadOutput[];
  /** Inputs are [B][choices][L] and every (example, choice) row is scored. */
  choices?: boolean;
}

const TABLE: Record<Head, HeadSpec> = {
  base: { pooler: 'if-present', outputs: [] },
  MaskedLM: { pooler: 'never', outputs: [{ native: 'logits', field: 'logits', perToken: true, width: 'vocab', mlm: true }] },
  NextSentencePrediction: { pooler: 'always', outputs: [{ native: 'logits', field: 'logits', perToken: false, width: 2, nsp: true }] },
  PreTraining: {
    pooler: 'always',
    outputs: [
      { native: 'prediction_logits', field: 'predictionLogits', perToken: true, width: 'vocab', mlm: true },
      { native: 'seq_relationship_logits', field: 'seqRelationshipLogits', perToken: false, width: 2, nsp: true },
    ],
  },
  SequenceClassification: { pooler: 'always', outputs: [{ native: 'logits', field: 'logits', perToken: false, width: 'labels' }] },
  TokenClassification: { pooler: 'never', outputs: [{ native: 'logits', field: 'logits', perToken: true, width: 'labels' }] },
  QuestionAnswering: {
    pooler: 'never',
    outputs: [
      { native: 'start_logits', field: 'startLogits', perToken: true, width: 1, squeeze: true },
      { native: 'end_logits', field: 'endLogits', perToken: true, width: 1, squeeze: true },
    ],
  },
  MultipleChoice: { pooler: 'always', choices: true, outputs: [{ native: 'logits', field: 'logits', perToken: false, width: 1, squeeze: true }] },
};

/**
 * Heads whose engine kind (a family row's `heads`) is not BERT's: ElectraForPreTraining is the
 * replaced-token discriminator (dense + hidden_act + one logit per token, no pooler).
 */
const KIND_VARIANTS: Partial<Record<HeadKind, HeadSpec>> = {
  discriminator: { pooler: 'never', outputs: [{ native: 'logits', field: 'logits', perToken: true, width: 1, squeeze: true, replaced: true }] },
};

/** Output fields a family names otherwise (transformers' output classes): ALBERT's second pre-training task is sentence order. */
const FIELD_NAMES: Readonly<Record<string, Partial<Record<OutputSpec['field'], OutputSpec['field']>>>> = {
  albert: { seqRelationshipLogits: 'sopLogits' },
};

/** `head` as the family of `modelType` (default BERT) computes it. */
function specOf(head: Head, modelType: string | undefined): HeadSpec {
  const row = familyOfModelType(modelType ?? 'bert');
  if (!row) return TABLE[head];
  const kind = row.heads[head === 'base' ? 'Model' : `For${head}`];
  let spec = (kind !== undefined ? KIND_VARIANTS[kind] : undefined) ?? TABLE[head];
  // A sequence head with its own dense layer on the first token reads that instead of the pooler
  // (RobertaClassificationHead, DistilBERT's pre_classifier, ElectraClassificationHead).
  const dense = head === 'SequenceClassification' ? row.sequenceDense : head === 'MultipleChoice' ? row.multipleChoiceDense : null;
  if (dense !== null && spec.pooler === 'always') spec = { ...spec, pooler: 'never' };
  const names = FIELD_NAMES[row.family];
  if (names) spec = { ...spec, outputs: spec.outputs.map((o) => ({ ...o, field: names[o.field] ?? o.field })) };
  return spec;
}

/** The head of `architecture` ('BertForMaskedLM' → 'MaskedLM', 'BertModel' → 'base'), or undefined. */
export function headOf(architecture: string): Head | undefined {
  const m = /^[A-Z][A-Za-z0-9]*?For([A-Za-z]+)$/.exec(architecture);
  if (m) return (HEADS as readonly string[]).includes(m[1]!) && m[1] !== 'base' ? (m[1] as Head) : undefined;
  return /^[A-Z][A-Za-z0-9]*Model$/.test(architecture) ? 'base' : undefined;
}

/** The same family with another head: ('BertForPreTraining', 'MaskedLM') → 'BertForMaskedLM'. */
export function withHead(architecture: string, head: Head): string {
  const family = /^([A-Z][A-Za-z0-9]*?)(?:For[A-Za-z]+|Model)$/.exec(architecture)?.[1] ?? 'Bert';
  return head === 'base' ? `${family}Model` : `${family}For${head}`;
}

/** Sizes an output's width is given in. */
export interface HeadSizes {
  hidden_size: number;
  vocab_size: number;
  num_labels: number;
  /** The family (config.json model_type; BERT when absent): where its class of a head differs. */
  model_type?: string;
}

/**
 * Every output a model with `head` computes: the last hidden state, the pooler's output when the
 * head runs the pooler, then the head's own.
 */
export function outputSpecs(head: Head, sizes: HeadSizes, hasPooler: boolean): OutputSpec[] {
  const spec = specOf(head, sizes.model_type);
  const width = (w: Width): number => (w === 'hidden' ? sizes.hidden_size : w === 'vocab' ? sizes.vocab_size : w === 'labels' ? sizes.num_labels : w);
  const out: OutputSpec[] = [{ native: 'last_hidden_state', field: 'lastHiddenState', perToken: true, width: sizes.hidden_size }];
  if (spec.pooler === 'always' || (spec.pooler === 'if-present' && hasPooler)) {
    out.push({ native: 'pooler_output', field: 'poolerOutput', perToken: false, width: sizes.hidden_size });
  }
  for (const o of spec.outputs) out.push({ ...o, width: width(o.width) });
  return out;
}

/** The head's own outputs (what training returns as logits). */
export function headOutputs(head: Head, sizes: HeadSizes): OutputSpec[] {
  return outputSpecs(head, sizes, false).filter((o) => o.native !== 'last_hidden_state' && o.native !== 'pooler_output');
}

/**
 * The field holding the head's masked-LM, sentence-pair or replaced-token logits, when the
 * family's class of it (`modelType`, default BERT) has them.
 */
export function outputField(head: Head, role: 'mlm' | 'nsp' | 'replaced', modelType?: string): OutputSpec['field'] | undefined {
  return specOf(head, modelType).outputs.find((o) => o[role])?.field;
}

/** Whether the head takes [B][choices][L] inputs (multiple choice). */
export function takesChoices(head: Head): boolean {
  return TABLE[head].choices === true;
}

/** Floats a forward writes per token: the hidden state plus every per-token head output. */
export function floatsPerToken(head: Head, sizes: HeadSizes): number {
  let n = 0;
  for (const o of outputSpecs(head, sizes, false)) if (o.perToken) n += o.width;
  return n;
}

export type ClassificationFunction = 'softmax' | 'sigmoid' | 'none';

/**
 * transformers' default for sequence-classification scores: 'none' for regression, 'sigmoid' for
 * multi-label or a single label, else 'softmax'.
 */
export function defaultClassificationFunction(config: { problem_type?: ProblemType | null; num_labels: number }): ClassificationFunction {
  if (config.problem_type === 'regression') return 'none';
  if (config.problem_type === 'multi_label_classification' || config.num_labels === 1) return 'sigmoid';
  return 'softmax';
}
