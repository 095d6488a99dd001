/**
 * Hugging Face BERT tokenization (WordPiece) in TypeScript: loading from a model folder, encoding
 * with offsets, truncation with overflow windows, padding, batch and packed output, decoding.
 */
export { Tokenizer } from './tokenizer.js';
export type {
  DecodeOptions,
  EncodeInput,
  EncodeOptions,
  PaddingParams,
  Side,
  TruncationParams,
  TruncationStrategy,
} from './tokenizer.js';
export { Encoding, BatchEncoding } from './encoding.js';
export { loadTokenizer, tokenizerFromJSON, tokenizerFromVocab, hasTokenizerFiles, parseVocabTxt } from './load.js';
export type { BertTokenizerOptions, LoadTokenizerOptions } from './load.js';
export type { AddedToken } from './added.js';
