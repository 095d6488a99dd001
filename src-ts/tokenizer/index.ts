/**
 * Hugging Face tokenization in TypeScript: WordPiece (BERT), byte-level BPE (RoBERTa, GPT-2) and
 * SentencePiece Unigram (XLM-R, ALBERT), loaded from a model folder; encoding with offsets,
 * truncation with overflow windows, padding, batch and packed output, decoding.
 *
 * Files: load.ts (folders, tokenizer.json), converters.ts + spiece.ts (folders without one),
 * components.ts (tokenizer.json components), tokenizer.ts (the Tokenizer) with options.ts,
 * truncation.ts, padding.ts, decoders.ts, spec.ts; the models: core.ts (fused WordPiece),
 * pipeline.ts (normalizers.ts, precompiled.ts, pre-tokenizers.ts, bpe.ts, unigram.ts over the
 * alignments of normalized.ts); added.ts (added tokens), encoding.ts, buffer.ts, vocab.ts,
 * unicode.ts (+ generated unicode-data.ts).
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
export { loadTokenizer, hasTokenizerFiles } from './load.js';
export { tokenizerFromJSON } from './from-json.js';
export { tokenizerFromVocab, parseVocabTxt } from './from-vocab.js';
export type { BertTokenizerOptions, LoadTokenizerOptions } from './load-options.js';
export type { AddedToken } from './added.js';
