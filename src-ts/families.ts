/**
 * The BERT family as data: one row per family says how its config.json reads (key names,
 * defaults, what it hard-codes), which architectures it has and what each head reads. The
 * encoder description (`EncoderDescription`) and the head description (`HeadDescription`) made
 * from a row are what the engine runs (src-ts/config.ts → native ModelConfig); the checkpoint
 * names of each family are in src-ts/weights/names.ts. Adding a family is a row here, a row of
 * names there, and its architecture names in the engine's table (README: "Adding a model family").
 */

/** The built-in families. XLM-RoBERTa and CamemBERT are RoBERTa's graph. */
export type BuiltinFamily = 'bert' | 'distilbert' | 'roberta' | 'albert' | 'electra';
/** A family's name: a built-in one, or one added with registerFamily. */
export type Family = BuiltinFamily | (string & {});

/** The task heads, as transformers' *For* classes name them; `discriminator` is ElectraForPreTraining. */
export type HeadKind =
  | 'none'
  | 'masked_lm'
  | 'next_sentence_prediction'
  | 'pretraining'
  | 'sequence_classification'
  | 'token_classification'
  | 'question_answering'
  | 'multiple_choice'
  | 'discriminator';

/** An activation a head hard-codes ('tanh' is the pooler's), or the config's hidden_act. */
export type HeadAct = 'tanh' | 'relu' | 'gelu' | 'hidden_act';

const BERT_HEADS = {
  Model: 'none',
  ForMaskedLM: 'masked_lm',
  ForNextSentencePrediction: 'next_sentence_prediction',
  ForPreTraining: 'pretraining',
  ForSequenceClassification: 'sequence_classification',
  ForTokenClassification: 'token_classification',
  ForQuestionAnswering: 'question_answering',
  ForMultipleChoice: 'multiple_choice',
} as const;

export interface FamilyRow {
  family: Family;
  /** config.json model_type values. */
  modelTypes: readonly string[];
  /** Architecture class-name prefixes, then suffix → head. */
  prefixes: readonly string[];
  heads: Readonly<Record<string, HeadKind>>;
  /** This family's config.json keys → BERT's names (DistilBERT's `dim` is `hidden_size`). */
  keyAliases: Readonly<Record<string, string>>;
  /** Defaults where they differ from BertConfig's (transformers' <Family>Config). */
  defaults: Readonly<Record<string, unknown>>;
  /** Values the family hard-codes whatever the config says (DistilBERT's LayerNorm eps). */
  fixed: Readonly<Record<string, unknown>>;
  /** Other keys of this family's config that are understood (kept in `extra`, not reported as foreign). */
  keys: readonly string[];
  /** Keys whose non-default value the engine does not run: key → the value it supports. */
  unsupported: Readonly<Record<string, unknown>>;
  tokenTypes: boolean;
  /** Position ids made from the ids after pad_token_id (RoBERTa's create_position_ids_from_input_ids). */
  positionsFromPadding: boolean;
  /** Lookup tables `embedding_size` wide, projected to hidden_size when different. */
  embeddingSize: boolean;
  /** Layers in shared groups (num_hidden_groups, inner_group_num). */
  sharedLayers: boolean;
  /** The family's encoder has a pooler (BertPooler: dense + tanh on the first token). */
  pooler: boolean;
  /** The sequence heads' own dense layer on the first token (instead of the pooler), and its activation. */
  sequenceDense: HeadAct | null;
  multipleChoiceDense: HeadAct | null;
  /** Training: the classifier dropout also runs before that dense layer (RoBERTa, ELECTRA). */
  denseInputDropout: boolean;
  /** The trainer implements the family (its backward). */
  training: boolean;
  /** The MLM transform's activation. */
  transformAct: HeadAct;
}

export const FAMILIES: readonly FamilyRow[] = [
  {
    family: 'bert',
    modelTypes: ['bert'],
    prefixes: ['Bert'],
    heads: BERT_HEADS,
    keyAliases: {},
    defaults: {},
    fixed: {},
    keys: [],
    unsupported: {},
    tokenTypes: true,
    positionsFromPadding: false,
    embeddingSize: false,
    sharedLayers: false,
    pooler: true,
    sequenceDense: null,
    multipleChoiceDense: null,
    denseInputDropout: false,
    training: true,
    transformAct: 'hidden_act',
  },
  {
    family: 'distilbert',
    modelTypes: ['distilbert'],
    prefixes: ['DistilBert'],
    heads: {
      Model: 'none',
      ForMaskedLM: 'masked_lm',
      ForSequenceClassification: 'sequence_classification',
      ForTokenClassification: 'token_classification',
      ForQuestionAnswering: 'question_answering',
      ForMultipleChoice: 'multiple_choice',
    },
    keyAliases: {
      dim: 'hidden_size',
      n_layers: 'num_hidden_layers',
      n_heads: 'num_attention_heads',
      hidden_dim: 'intermediate_size',
      activation: 'hidden_act',
      dropout: 'hidden_dropout_prob',
      attention_dropout: 'attention_probs_dropout_prob',
      seq_classif_dropout: 'classifier_dropout',
    },
    defaults: { num_hidden_layers: 6 },
    // DistilBERT's LayerNorms are nn.LayerNorm(dim, eps=1e-12) whatever the config says; no token types.
    fixed: { layer_norm_eps: 1e-12, type_vocab_size: 1 },
    // sinusoidal_pos_embds: the fixed table is stored as position_embeddings.weight like a learned one.
    keys: ['qa_dropout', 'tie_weights_', 'sinusoidal_pos_embds'],
    unsupported: {},
    tokenTypes: false,
    positionsFromPadding: false,
    embeddingSize: false,
    sharedLayers: false,
    pooler: false,
    sequenceDense: 'relu',
    multipleChoiceDense: 'relu',
    denseInputDropout: false,
    training: true,
    transformAct: 'hidden_act',
  },
  {
    family: 'roberta',
    modelTypes: ['roberta', 'xlm-roberta', 'camembert'],
    prefixes: ['Roberta', 'XLMRoberta', 'Camembert'],
    heads: {
      Model: 'none',
      ForMaskedLM: 'masked_lm',
      ForSequenceClassification: 'sequence_classification',
      ForTokenClassification: 'token_classification',
      ForQuestionAnswering: 'question_answering',
      ForMultipleChoice: 'multiple_choice',
    },
    keyAliases: {},
    defaults: { pad_token_id: 1 },
    fixed: {},
    keys: [],
    unsupported: {},
    tokenTypes: true,
    positionsFromPadding: true,
    embeddingSize: false,
    sharedLayers: false,
    pooler: true,
    // RobertaClassificationHead: dense -> tanh -> out_proj on <s>; multiple choice uses the pooler.
    sequenceDense: 'tanh',
    multipleChoiceDense: null,
    denseInputDropout: true,
    training: true,
    // RobertaLMHead hard-codes gelu.
    transformAct: 'gelu',
  },
  {
    family: 'albert',
    modelTypes: ['albert'],
    prefixes: ['Albert'],
    heads: {
      Model: 'none',
      ForMaskedLM: 'masked_lm',
      ForPreTraining: 'pretraining',
      ForSequenceClassification: 'sequence_classification',
      ForTokenClassification: 'token_classification',
      ForQuestionAnswering: 'question_answering',
      ForMultipleChoice: 'multiple_choice',
    },
    keyAliases: { classifier_dropout_prob: 'classifier_dropout' },
    defaults: {
      vocab_size: 30000,
      embedding_size: 128,
      hidden_size: 4096,
      num_attention_heads: 64,
      intermediate_size: 16384,
      hidden_act: 'gelu_new',
      hidden_dropout_prob: 0,
      attention_probs_dropout_prob: 0,
      classifier_dropout: 0.1,
      num_hidden_groups: 1,
      inner_group_num: 1,
    },
    fixed: {},
    keys: [],
    unsupported: {},
    tokenTypes: true,
    positionsFromPadding: false,
    embeddingSize: true,
    sharedLayers: true,
    pooler: true,
    sequenceDense: null,
    multipleChoiceDense: null,
    denseInputDropout: false,
    training: true,
    transformAct: 'hidden_act',
  },
  {
    family: 'electra',
    modelTypes: ['electra'],
    prefixes: ['Electra'],
    heads: {
      Model: 'none',
      ForPreTraining: 'discriminator',
      ForMaskedLM: 'masked_lm',
      ForSequenceClassification: 'sequence_classification',
      ForTokenClassification: 'token_classification',
      ForQuestionAnswering: 'question_answering',
    },
    keyAliases: {},
    defaults: { embedding_size: 128, hidden_size: 256, num_attention_heads: 4, intermediate_size: 1024 },
    fixed: {},
    keys: ['summary_type', 'summary_use_proj', 'summary_activation', 'summary_last_dropout'],
    unsupported: {},
    tokenTypes: true,
    positionsFromPadding: false,
    embeddingSize: true,
    sharedLayers: false,
    pooler: false,
    // ElectraClassificationHead and ElectraGeneratorPredictions hard-code gelu.
    sequenceDense: 'gelu',
    multipleChoiceDense: null,
    denseInputDropout: true,
    training: true,
    transformAct: 'gelu',
  },
];

/** Rows added at run time (tests, extensions): see registerFamily. */
const registered: FamilyRow[] = [];

/**
 * Adds a family row (for a graph the engine already describes: a BERT-like encoder with the
 * structure fields above). Its architecture names must be ones the engine knows.
 */
export function registerFamily(row: FamilyRow): void {
  registered.push(row);
}

export function familyRows(): readonly FamilyRow[] {
  return [...FAMILIES, ...registered];
}

export function familyOfModelType(modelType: string): FamilyRow | undefined {
  return familyRows().find((r) => r.modelTypes.includes(modelType));
}

/** Every architecture name of a family row, in table order. */
export function architecturesOf(row: FamilyRow): string[] {
  return row.prefixes.flatMap((p) => Object.keys(row.heads).map((s) => `${p}${s}`));
}

/** The head an architecture name of a row stands for, or undefined when it is not the row's. */
export function headKindOf(row: FamilyRow, architecture: string): HeadKind | undefined {
  for (const p of row.prefixes) {
    if (!architecture.startsWith(p)) continue;
    const suffix = architecture.slice(p.length);
    if (Object.hasOwn(row.heads, suffix)) return row.heads[suffix];
  }
  return undefined;
}
