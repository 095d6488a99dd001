/**
 * What a loader works out from the files (tokenizer.json, vocab.txt, …): the model pipeline, the
 * added tokens, the post-processor's template, the decoder and the defaults. A Tokenizer is built
 * from it.
 */
import type { AddedToken } from './added.js';
import type { Decoder } from './decoders.js';
import type { PaddingParams, Side, TruncationParams } from './options.js';
import type { SequenceModel } from './pipeline.js';

export type TemplatePiece =
  | { kind: 'special'; ids: number[]; tokens: string[]; typeId: number }
  | { kind: 'sequence'; seq: 0 | 1; typeId: number };

export interface TokenizerSpec {
  /** Normaliser, pre-tokenizer and model for text between added tokens. */
  model: SequenceModel;
  addedTokens: AddedToken[];
  /** Slow BertTokenizer's `never_split`: whitespace-delimited words kept whole. */
  neverSplit: string[];
  /** Id of never_split words missing from the vocabulary. */
  unkId: number;
  single: TemplatePiece[];
  pair: TemplatePiece[];
  /**
   * The model's continuing-subword prefix (WordPiece "##"; null for Unigram and for BPE without
   * one). Undefined: a WordPiece vocabulary (vocab.txt).
   */
  continuingSubwordPrefix?: string | null;
  /** RobertaProcessing: every token, overflow windows included, takes type id 0. */
  typeIdsAllZero: boolean;
  /**
   * ByteLevel / RobertaProcessing `trim_offsets`: offsets leave out the spaces a token starts or
   * ends with (`add_prefix_space` keeps the one added before a first token).
   */
  trimOffsets: { addPrefixSpace: boolean } | null;
  /** tokens → strings; null: tokens joined with spaces. */
  decoder: Decoder | null;
  truncation: TruncationParams | null;
  padding: PaddingParams | null;
  modelMaxLength: number;
  cleanUpTokenizationSpaces: boolean;
  truncationSide: Side;
  paddingSide: Side;
  /** Named special tokens (cls_token, sep_token, …) as the configuration gives them. */
  specialTokens: Record<string, string>;
  /** False for a tokenizer.json without post_processor (its overflow windows report sequence 0 throughout). */
  hasPostProcessor: boolean;
  /** The files (name → contents) that build this same tokenizer again; what saving a model writes. */
  files?: () => Record<string, string>;
}
