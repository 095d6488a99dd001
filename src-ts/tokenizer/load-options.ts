/**
 * What the tokenizer loaders take (option types and names) and how they read values out of
 * tokenizer.json and tokenizer_config.json: shared by from-json.ts, from-vocab.ts and load.ts.
 */
import { InvalidFileError } from '../errors.js';
import { HUB_OPTION_NAMES, type HubOptions } from '../hub/index.js';
import { optionNames } from '../options.js';
import type { AddedToken } from './added.js';
import type { ModelVocab } from './bpe.js';
import type { Side } from './options.js';
import { Vocab } from './vocab.js';
import { quote } from '../util/quote.js';

/** BertTokenizer's options (transformers' names in camelCase); they override tokenizer_config.json. */
export interface BertTokenizerOptions {
  doLowerCase?: boolean;
  /** null / undefined: follow `doLowerCase` (as the original BERT). */
  stripAccents?: boolean | null;
  tokenizeChineseChars?: boolean;
  /**
   * Words kept whole when they appear between whitespace (the slow BertTokenizer's option).
   * transformers' current (tokenizers-backed) BertTokenizer ignores it; it has no effect unless set.
   */
  neverSplit?: string[] | null;
  unkToken?: string;
  sepToken?: string;
  padToken?: string;
  clsToken?: string;
  maskToken?: string;
  /** More special tokens (skipped by decode with skipSpecialTokens, never split). */
  additionalSpecialTokens?: string[];
  modelMaxLength?: number;
  maxInputCharsPerWord?: number;
  cleanUpTokenizationSpaces?: boolean;
  paddingSide?: Side;
  truncationSide?: Side;
}

export interface LoadTokenizerOptions extends BertTokenizerOptions, HubOptions, StoredDefaultsOption {
  /**
   * Which files to read: 'auto' (the first present of tokenizer.json, vocab.json + merges.txt,
   * spiece.model, vocab.txt), or one of them.
   */
  format?: 'auto' | 'tokenizer.json' | 'vocab.json' | 'spiece.model' | 'vocab.txt';
}

export interface StoredDefaultsOption {
  /**
   * Apply the truncation and padding stored in tokenizer.json to every call that does not say
   * otherwise, as the `tokenizers` library does. Default false, as transformers: stored settings
   * are ignored and a call truncates or pads only when it asks to (the real bert-base-uncased file
   * stores Fixed-128 padding and 128-token truncation, which would otherwise cut every text).
   */
  useStoredTruncationAndPadding?: boolean;
}

export interface TokenizerFromJSONOptions extends BertTokenizerOptions, StoredDefaultsOption {
  /** The file name for error messages. */
  file?: string;
  /** tokenizer_config.json's contents (model_max_length, special tokens, sides). */
  tokenizerConfig?: Json | null;
  /** special_tokens_map.json's contents. */
  specialTokensMap?: Json | null;
}

export interface TokenizerFromVocabOptions extends BertTokenizerOptions {
  /** The file name for error messages. */
  file?: string;
  /** tokenizer_config.json's contents (do_lower_case, special tokens, ...); options override it. */
  tokenizerConfig?: Json | null;
  /** special_tokens_map.json's contents. */
  specialTokensMap?: Json | null;
}

/** @internal What a folder loader read verbatim, so that saving writes the same files back. */
export interface SourceFiles {
  sourceFiles?: Record<string, string>;
}

export const BERT_TOKENIZER_OPTION_NAMES = optionNames<BertTokenizerOptions>({
  doLowerCase: true,
  stripAccents: true,
  tokenizeChineseChars: true,
  neverSplit: true,
  unkToken: true,
  sepToken: true,
  padToken: true,
  clsToken: true,
  maskToken: true,
  additionalSpecialTokens: true,
  modelMaxLength: true,
  maxInputCharsPerWord: true,
  cleanUpTokenizationSpaces: true,
  paddingSide: true,
  truncationSide: true,
});
export const LOAD_TOKENIZER_OPTION_NAMES = [...BERT_TOKENIZER_OPTION_NAMES, ...HUB_OPTION_NAMES, 'format', 'useStoredTruncationAndPadding'];
export const FROM_JSON_OPTION_NAMES = [...BERT_TOKENIZER_OPTION_NAMES, 'file', 'tokenizerConfig', 'specialTokensMap', 'useStoredTruncationAndPadding'];
export const FROM_VOCAB_OPTION_NAMES = [...BERT_TOKENIZER_OPTION_NAMES, 'file', 'tokenizerConfig', 'specialTokensMap'];

export function hasOverrides(o: BertTokenizerOptions): boolean {
  return BERT_TOKENIZER_OPTION_NAMES.some((k) => (o as Record<string, unknown>)[k] !== undefined);
}

/** tokenizer_config.json with the options that override it written in (what a reload must see). */
export function configWithOverrides(config: Json | null, o: BertTokenizerOptions, extra: Json = {}): Json {
  const c: Json = { ...(config ?? {}), ...extra };
  const names: [keyof BertTokenizerOptions, string][] = [
    ['unkToken', 'unk_token'],
    ['sepToken', 'sep_token'],
    ['padToken', 'pad_token'],
    ['clsToken', 'cls_token'],
    ['maskToken', 'mask_token'],
    ['modelMaxLength', 'model_max_length'],
    ['cleanUpTokenizationSpaces', 'clean_up_tokenization_spaces'],
    ['paddingSide', 'padding_side'],
    ['truncationSide', 'truncation_side'],
  ];
  for (const [opt, key] of names) if (o[opt] !== undefined) c[key] = o[opt];
  return c;
}

export function jsonFile(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}

/** Above this, transformers treats model_max_length as "no limit". */
export const LARGE_INTEGER = 1e20;

export type Json = Record<string, unknown>;

export function isObj(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function fail(file: string | undefined, msg: string): never {
  throw new InvalidFileError(msg, file);
}

export function bool(v: unknown, def: boolean, file: string | undefined, what: string): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') fail(file, `${what} must be a boolean`);
  return v;
}

export function int(v: unknown, file: string | undefined, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) fail(file, `${what} must be a non-negative integer`);
  return v;
}

export function str(v: unknown, file: string | undefined, what: string): string {
  if (typeof v !== 'string') fail(file, `${what} must be a string`);
  return v;
}

/** A special token in a config: a string or an AddedToken-like {content, ...}. */
export function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v['content'] === 'string') return v['content'];
  return undefined;
}

export function side(v: unknown, def: Side, file: string | undefined, what: string): Side {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'string') fail(file, `${what} must be "left" or "right"`);
  const s = v.toLowerCase();
  if (s !== 'left' && s !== 'right') fail(file, `${what} must be "left" or "right"`);
  return s;
}

/**
 * The ids `tokenizers`' AddedVocabulary gives added tokens: an existing id for a known content
 * (added first, then the model vocabulary), otherwise the next id after the vocabulary.
 */
export function assignAddedIds(vocab: ModelVocab, tokens: Omit<AddedToken, 'id'>[]): AddedToken[] {
  const byContent = new Map<string, AddedToken>();
  let maxAdded = -1;
  const out = new Map<number, AddedToken>();
  for (const t of tokens) {
    if (t.content.length === 0) continue;
    const prev = byContent.get(t.content);
    let id: number;
    if (prev) id = prev.id;
    else if (vocab.map.has(t.content)) id = vocab.map.get(t.content)!;
    else {
      const size = vocab.size;
      id = maxAdded < 0 ? size : maxAdded >= size || size === 0 ? maxAdded + 1 : size;
    }
    if (id > maxAdded) maxAdded = id;
    const tok: AddedToken = { ...t, id };
    byContent.set(t.content, tok);
    out.set(id, tok);
  }
  return [...out.values()];
}

export function checkUnk(vocab: Vocab, unk: string, file: string | undefined): void {
  if (!vocab.map.has(unk)) {
    fail(file, `the vocabulary has no unknown token ${quote(unk)}: WordPiece cannot encode unknown words without it`);
  }
}

/** The options of tokenizer_config.json that matter next to a tokenizer.json. */
export interface SideConfig {
  modelMaxLength: number;
  cleanUp: boolean;
  specialTokens: Record<string, string>;
  paddingSide: Side;
  truncationSide: Side;
}

export function readSideConfig(config: Json | null, specialMap: Json | null, opts: BertTokenizerOptions, file: string | undefined, defaults: { cleanUp: boolean }): SideConfig {
  const c = config ?? {};
  const specialTokens: Record<string, string> = {};
  for (const key of ['unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token', 'bos_token', 'eos_token']) {
    const v = tokenContent(c[key]) ?? tokenContent(specialMap?.[key]);
    if (v !== undefined) specialTokens[key] = v;
  }
  const rename: Record<string, keyof BertTokenizerOptions> = {
    unk_token: 'unkToken',
    sep_token: 'sepToken',
    pad_token: 'padToken',
    cls_token: 'clsToken',
    mask_token: 'maskToken',
  };
  for (const [k, o] of Object.entries(rename)) {
    const v = opts[o];
    if (typeof v === 'string') specialTokens[k] = v;
  }
  let mml: number = opts.modelMaxLength ?? (typeof c['model_max_length'] === 'number' ? c['model_max_length'] : Infinity);
  if (!(mml <= LARGE_INTEGER)) mml = Infinity;
  if (Number.isFinite(mml) && (!Number.isInteger(mml) || mml < 0)) fail(file, 'model_max_length must be a non-negative integer');
  return {
    modelMaxLength: mml,
    cleanUp: opts.cleanUpTokenizationSpaces ?? bool(c['clean_up_tokenization_spaces'], defaults.cleanUp, file, 'clean_up_tokenization_spaces'),
    specialTokens,
    paddingSide: opts.paddingSide ?? side(c['padding_side'], 'right', file, 'padding_side'),
    truncationSide: opts.truncationSide ?? side(c['truncation_side'], 'right', file, 'truncation_side'),
  };
}

/** A WordPiece model.json with its BertNormalizer and BertPreTokenizer: the fused core. */
