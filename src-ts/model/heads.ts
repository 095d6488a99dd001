/**
 * The task heads, once: what each one outputs (native buffer, ModelOutput field, shape) and
 * whether it runs the pooler. The model sizes and shapes its outputs from this table, the batcher
 * its budgets and per-sequence views, the trainer its logits. A head does not depend on the model
 * family: `BertForMaskedLM` and any `<Family>ForMaskedLM` share the MaskedLM head, so code that
 * asks for a head (`model.head`) never lists architecture names.
 */
import type { ProblemType } from '../config.js';

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
  field: 'lastHiddenState' | 'poolerOutput' | 'logits' | 'predictionLogits' | 'seqRelationshipLogits' | 'startLogits' | 'endLogits';
  /** One row per token ([T, width]) or per sequence ([B, width]). */
  perToken: boolean;
  width: number;
  /** transformers drops the width-1 axis ([B, L] start/end logits, [B] choice scores). */
  squeeze?: boolean;
  /** The masked-LM logits (rows selectable with logitsTokens). */
  mlm?: boolean;
  /** The next-sentence logits ([B, 2]: is-next, not-next). */
  nsp?: boolean;
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
}

/**
 * Every output a model with `head` computes: the last hidden state, the pooler's output when the
 * head runs the pooler, then the head's own.
 */
export function outputSpecs(head: Head, sizes: HeadSizes, hasPooler: boolean): OutputSpec[] {
  const spec = TABLE[head];
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

/** The field holding the head's masked-LM or next-sentence logits, when it has them. */
export function outputField(head: Head, role: 'mlm' | 'nsp'): OutputSpec['field'] | undefined {
  return TABLE[head].outputs.find((o) => o[role])?.field;
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
