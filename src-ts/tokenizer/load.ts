/**
 * Building a Tokenizer from a model folder: `tokenizer.json` (Hugging Face `tokenizers` format)
 * when present, otherwise `vocab.txt` + `tokenizer_config.json` + `special_tokens_map.json` with
 * BertTokenizer's options, built the way transformers builds its (tokenizers-backed) BertTokenizer.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InvalidFileError, InvalidInputError, UnsupportedModelError } from '../errors.js';
import { HUB_OPTION_NAMES, hubOptionsOf, resolveModel, type HubOptions } from '../hub/index.js';
import { checkOptionNames, optionNames } from '../options.js';
import type { AddedToken } from './added.js';
import type { ModelVocab } from './bpe.js';
import { parseDecoder, parseNormalizer, parsePreTokenizer, parseWordModel } from './components.js';
import { bpeFilesToJson, parseMergesTxt, spieceToJson } from './converters.js';
import { WordPieceCore, type NormalizerOptions } from './core.js';
import { wordPieceDecoder } from './decoders.js';
import type { PaddingParams, Side, TruncationParams, TruncationStrategy } from './options.js';
import { Pipeline, type SequenceModel } from './pipeline.js';
import type { TemplatePiece, TokenizerSpec } from './spec.js';
import { readSentencePieceModel } from './spiece.js';
import { Tokenizer } from './tokenizer.js';
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
interface SourceFiles {
  sourceFiles?: Record<string, string>;
}

const BERT_TOKENIZER_OPTION_NAMES = optionNames<BertTokenizerOptions>({
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
const LOAD_TOKENIZER_OPTION_NAMES = [...BERT_TOKENIZER_OPTION_NAMES, ...HUB_OPTION_NAMES, 'format', 'useStoredTruncationAndPadding'];
const FROM_JSON_OPTION_NAMES = [...BERT_TOKENIZER_OPTION_NAMES, 'file', 'tokenizerConfig', 'specialTokensMap', 'useStoredTruncationAndPadding'];
const FROM_VOCAB_OPTION_NAMES = [...BERT_TOKENIZER_OPTION_NAMES, 'file', 'tokenizerConfig', 'specialTokensMap'];

function hasOverrides(o: BertTokenizerOptions): boolean {
  return BERT_TOKENIZER_OPTION_NAMES.some((k) => (o as Record<string, unknown>)[k] !== undefined);
}

/** tokenizer_config.json with the options that override it written in (what a reload must see). */
function configWithOverrides(config: Json | null, o: BertTokenizerOptions, extra: Json = {}): Json {
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

function jsonFile(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}

/** Above this, transformers treats model_max_length as "no limit". */
const LARGE_INTEGER = 1e20;

type Json = Record<string, unknown>;

function isObj(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function fail(file: string | undefined, msg: string): never {
  throw new InvalidFileError(msg, file);
}

function bool(v: unknown, def: boolean, file: string | undefined, what: string): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') fail(file, `${what} must be a boolean`);
  return v;
}

function int(v: unknown, file: string | undefined, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) fail(file, `${what} must be a non-negative integer`);
  return v;
}

function str(v: unknown, file: string | undefined, what: string): string {
  if (typeof v !== 'string') fail(file, `${what} must be a string`);
  return v;
}

/** A special token in a config: a string or an AddedToken-like {content, ...}. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v['content'] === 'string') return v['content'];
  return undefined;
}

function side(v: unknown, def: Side, file: string | undefined, what: string): Side {
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
function assignAddedIds(vocab: ModelVocab, tokens: Omit<AddedToken, 'id'>[]): AddedToken[] {
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

function checkUnk(vocab: Vocab, unk: string, file: string | undefined): void {
  if (!vocab.map.has(unk)) {
    fail(file, `the vocabulary has no unknown token ${quote(unk)}: WordPiece cannot encode unknown words without it`);
  }
}

// ---- tokenizer.json ---------------------------------------------------------------------------

function parseTemplate(v: unknown, specials: Map<string, { ids: number[]; tokens: string[] }>, file: string | undefined, what: string): TemplatePiece[] {
  if (!Array.isArray(v)) fail(file, `post_processor.${what} must be an array`);
  const out: TemplatePiece[] = [];
  for (const piece of v) {
    if (isObj(piece) && isObj(piece['SpecialToken'])) {
      const p = piece['SpecialToken'];
      const name = str(p['id'], file, `post_processor.${what} SpecialToken.id`);
      const sp = specials.get(name);
      if (!sp) fail(file, `post_processor.${what} uses special token ${quote(name)} missing from special_tokens`);
      out.push({ kind: 'special', ids: sp.ids, tokens: sp.tokens, typeId: int(p['type_id'] ?? 0, file, 'type_id') });
    } else if (isObj(piece) && isObj(piece['Sequence'])) {
      const p = piece['Sequence'];
      const id = p['id'];
      if (id !== 'A' && id !== 'B') fail(file, `post_processor.${what} Sequence.id must be "A" or "B"`);
      out.push({ kind: 'sequence', seq: id === 'A' ? 0 : 1, typeId: int(p['type_id'] ?? 0, file, 'type_id') });
    } else {
      fail(file, `post_processor.${what} has an invalid piece`);
    }
  }
  return out;
}

function checkTemplate(t: TemplatePiece[], pair: boolean): void {
  const seqs = t.filter((p) => p.kind === 'sequence').map((p) => (p as { seq: number }).seq);
  if (!seqs.includes(0) || (pair && !seqs.includes(1)) || (!pair && seqs.includes(1))) {
    throw new UnsupportedModelError(`unsupported post_processor template: the ${pair ? 'pair' : 'single'} template must use $A${pair ? ' and $B' : ' only'}`);
  }
}

/** The options of tokenizer_config.json that matter next to a tokenizer.json. */
interface SideConfig {
  modelMaxLength: number;
  cleanUp: boolean;
  specialTokens: Record<string, string>;
  paddingSide: Side;
  truncationSide: Side;
}

function readSideConfig(config: Json | null, specialMap: Json | null, opts: BertTokenizerOptions, file: string | undefined, defaults: { cleanUp: boolean }): SideConfig {
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
function wordPieceModel(root: Json, model: Json, file: string | undefined): { core: WordPieceCore } {
  const rawVocab = model['vocab'];
  if (!isObj(rawVocab)) fail(file, 'model.vocab must be an object of token → id');
  const vmap = new Map<string, number>();
  for (const [k, v] of Object.entries(rawVocab)) vmap.set(k, int(v, file, `model.vocab[${quote(k)}]`));
  const unkToken = str(model['unk_token'] ?? '[UNK]', file, 'model.unk_token');
  const prefix = str(model['continuing_subword_prefix'] ?? '##', file, 'model.continuing_subword_prefix');
  const maxChars = int(model['max_input_chars_per_word'] ?? 100, file, 'model.max_input_chars_per_word');
  const vocab = new Vocab(vmap, prefix);
  checkUnk(vocab, unkToken, file);

  // Normalizer: BertNormalizer or none.
  const n = root['normalizer'];
  let normalizer: NormalizerOptions;
  if (n === null || n === undefined) {
    normalizer = { cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: false };
  } else if (isObj(n) && n['type'] === 'BertNormalizer') {
    const lower = bool(n['lowercase'], true, file, 'normalizer.lowercase');
    normalizer = {
      cleanText: bool(n['clean_text'], true, file, 'normalizer.clean_text'),
      handleChineseChars: bool(n['handle_chinese_chars'], true, file, 'normalizer.handle_chinese_chars'),
      stripAccents: bool(n['strip_accents'], lower, file, 'normalizer.strip_accents'),
      lowercase: lower,
    };
  } else {
    throw new UnsupportedModelError(`tokenizer.json normalizer ${quote(isObj(n) ? n['type'] : n)} is not supported (BertNormalizer only)`);
  }

  const pt = root['pre_tokenizer'];
  if (!isObj(pt) || pt['type'] !== 'BertPreTokenizer') {
    throw new UnsupportedModelError(`tokenizer.json pre_tokenizer ${quote(isObj(pt) ? pt['type'] : pt)} is not supported (BertPreTokenizer only)`);
  }

  const unkId = vocab.map.get(unkToken)!;
  return { core: new WordPieceCore(vocab, normalizer, { unkId, maxInputCharsPerWord: maxChars }) };
}

interface PostProcessor {
  single: TemplatePiece[];
  pair: TemplatePiece[];
  typeIdsAllZero: boolean;
  trimOffsets: { addPrefixSpace: boolean } | null;
}

/** [token, id] of BertProcessing / RobertaProcessing. */
function specialPair(v: unknown, file: string | undefined, what: string): { ids: number[]; tokens: string[] } {
  if (!Array.isArray(v) || v.length !== 2) fail(file, `post_processor.${what} must be [token, id]`);
  return { ids: [int(v[1], file, `${what} id`)], tokens: [str(v[0], file, `${what} token`)] };
}

/**
 * The post-processor: TemplateProcessing, BertProcessing, RobertaProcessing (all type ids 0,
 * trim_offsets), ByteLevel (trim_offsets only) or a Sequence of those.
 */
function parsePostProcessor(pp: unknown, file: string | undefined): PostProcessor {
  let single: TemplatePiece[];
  let pair: TemplatePiece[];
  let typeIdsAllZero = false;
  let trimOffsets: { addPrefixSpace: boolean } | null = null;
  const plain = (): void => {
    single = [{ kind: 'sequence', seq: 0, typeId: 0 }];
    pair = [
      { kind: 'sequence', seq: 0, typeId: 0 },
      { kind: 'sequence', seq: 1, typeId: 1 },
    ];
  };
  if (pp === null || pp === undefined) {
    plain();
  } else if (isObj(pp) && pp['type'] === 'TemplateProcessing') {
    const specials = new Map<string, { ids: number[]; tokens: string[] }>();
    const st = pp['special_tokens'];
    if (st !== undefined && !isObj(st)) fail(file, 'post_processor.special_tokens must be an object');
    for (const [name, v] of Object.entries(st ?? {})) {
      if (!isObj(v) || !Array.isArray(v['ids']) || !Array.isArray(v['tokens']) || v['ids'].length !== v['tokens'].length) {
        fail(file, `post_processor.special_tokens[${quote(name)}] must have ids and tokens of the same length`);
      }
      specials.set(name, {
        ids: v['ids'].map((x: unknown) => int(x, file, 'special token id')),
        tokens: v['tokens'].map((x: unknown) => str(x, file, 'special token')),
      });
    }
    single = parseTemplate(pp['single'], specials, file, 'single');
    pair = parseTemplate(pp['pair'], specials, file, 'pair');
  } else if (isObj(pp) && pp['type'] === 'BertProcessing') {
    const sep = pp['sep'];
    const cls = pp['cls'];
    if (!Array.isArray(sep) || !Array.isArray(cls) || sep.length !== 2 || cls.length !== 2) fail(file, 'BertProcessing needs sep and cls as [token, id]');
    const s = { ids: [int(sep[1], file, 'sep id')], tokens: [str(sep[0], file, 'sep token')] };
    const c = { ids: [int(cls[1], file, 'cls id')], tokens: [str(cls[0], file, 'cls token')] };
    single = [
      { kind: 'special', ...c, typeId: 0 },
      { kind: 'sequence', seq: 0, typeId: 0 },
      { kind: 'special', ...s, typeId: 0 },
    ];
    pair = [...single, { kind: 'sequence', seq: 1, typeId: 1 }, { kind: 'special', ...s, typeId: 1 }];
  } else if (isObj(pp) && pp['type'] === 'RobertaProcessing') {
    const s = specialPair(pp['sep'], file, 'sep');
    const c = specialPair(pp['cls'], file, 'cls');
    single = [
      { kind: 'special', ...c, typeId: 0 },
      { kind: 'sequence', seq: 0, typeId: 0 },
      { kind: 'special', ...s, typeId: 0 },
    ];
    pair = [...single, { kind: 'special', ...s, typeId: 0 }, { kind: 'sequence', seq: 1, typeId: 0 }, { kind: 'special', ...s, typeId: 0 }];
    typeIdsAllZero = true;
    if (bool(pp['trim_offsets'], true, file, 'post_processor.trim_offsets')) {
      trimOffsets = { addPrefixSpace: bool(pp['add_prefix_space'], true, file, 'post_processor.add_prefix_space') };
    }
  } else if (isObj(pp) && pp['type'] === 'ByteLevel') {
    plain();
    if (bool(pp['trim_offsets'], true, file, 'post_processor.trim_offsets')) {
      trimOffsets = { addPrefixSpace: bool(pp['add_prefix_space'], true, file, 'post_processor.add_prefix_space') };
    }
  } else if (isObj(pp) && pp['type'] === 'Sequence' && Array.isArray(pp['processors'])) {
    // ByteLevel offset trimming and at most one template, in any order.
    plain();
    let templated = false;
    for (const sub of pp['processors']) {
      const r = parsePostProcessor(sub, file);
      if (r.trimOffsets) trimOffsets = r.trimOffsets;
      if (isObj(sub) && sub['type'] !== 'ByteLevel') {
        if (templated) throw new UnsupportedModelError('tokenizer.json post_processor Sequence with two templates is not supported');
        templated = true;
        single = r.single;
        pair = r.pair;
        typeIdsAllZero = r.typeIdsAllZero;
      }
    }
  } else {
    throw new UnsupportedModelError(
      `tokenizer.json post_processor ${quote(isObj(pp) ? pp['type'] : pp)} is not supported (supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)`,
    );
  }
  checkTemplate(single!, false);
  checkTemplate(pair!, true);
  return { single: single!, pair: pair!, typeIdsAllZero, trimOffsets };
}

/** Builds a Tokenizer from the contents of a tokenizer.json (a string or the parsed object). */
export function tokenizerFromJSON(json: string | object, options: TokenizerFromJSONOptions = {}): Tokenizer {
  checkOptionNames(options, FROM_JSON_OPTION_NAMES.concat((options as SourceFiles).sourceFiles ? ['sourceFiles'] : []), 'tokenizerFromJSON() options');
  const file = options.file;
  let root: unknown = json;
  if (typeof json === 'string') {
    try {
      root = JSON.parse(json);
    } catch (e) {
      throw new InvalidFileError(`not valid JSON: ${(e as Error).message}`, file, 'ERR_INVALID_FILE', { cause: e });
    }
  }
  if (!isObj(root)) fail(file, 'a tokenizer.json must be a JSON object');
  if (root['version'] !== undefined && root['version'] !== '1.0') {
    throw new UnsupportedModelError(`unsupported tokenizer.json version ${quote(root['version'])}`);
  }

  // Model: WordPiece (the fused BERT pipeline), or BPE / Unigram with the general one.
  const model = root['model'];
  if (!isObj(model)) fail(file, 'tokenizer.json has no "model" object');
  const mtype =
    model['type'] ??
    (Array.isArray(model['vocab']) ? 'Unigram' : 'merges' in model ? 'BPE' : isObj(model['vocab']) && 'continuing_subword_prefix' in model ? 'WordPiece' : undefined);
  let seqModel: SequenceModel;
  let unkId = 0;
  let unkToken: string | undefined;
  if (mtype === 'WordPiece') {
    const wp = wordPieceModel(root, model, file);
    seqModel = wp.core;
    unkId = wp.core.unkId;
    unkToken = wp.core.vocab.byId[unkId];
  } else if (mtype === 'BPE' || mtype === 'Unigram') {
    const word = parseWordModel({ ...model, type: mtype }, file);
    unkToken = word.kind === 'bpe' ? word.bpe.unkToken ?? undefined : word.unigram.unkToken;
    const pt = parsePreTokenizer(root['pre_tokenizer'], file);
    seqModel = new Pipeline(parseNormalizer(root['normalizer'], file), pt.pre, word, pt.byteLevel);
  } else {
    throw new UnsupportedModelError(
      `tokenizer.json model ${quote(mtype ?? 'unknown')} is not supported (supported: WordPiece, BPE, Unigram)`,
    );
  }
  const vocab = seqModel.vocab;

  // Post-processor.
  const pp = root['post_processor'];
  const post = parsePostProcessor(pp, file);

  const decoder = parseDecoder(root['decoder'], file);

  // Added tokens.
  const at = root['added_tokens'] ?? [];
  if (!Array.isArray(at)) fail(file, 'added_tokens must be an array');
  const added = assignAddedIds(
    vocab,
    at.map((t: unknown, i: number) => {
      if (!isObj(t)) fail(file, `added_tokens[${i}] must be an object`);
      const special = bool(t['special'], false, file, 'added token special');
      return {
        content: str(t['content'], file, `added_tokens[${i}].content`),
        singleWord: bool(t['single_word'], false, file, 'added token single_word'),
        lstrip: bool(t['lstrip'], false, file, 'added token lstrip'),
        rstrip: bool(t['rstrip'], false, file, 'added token rstrip'),
        normalized: bool(t['normalized'], !special, file, 'added token normalized'),
        special,
      };
    }),
  );

  // Stored truncation / padding: parsed (and checked) always, applied only when asked to.
  let truncation: TruncationParams | null = null;
  const tr = root['truncation'];
  if (isObj(tr)) {
    const strategies: Record<string, TruncationStrategy> = { LongestFirst: 'longest_first', OnlyFirst: 'only_first', OnlySecond: 'only_second' };
    // Own keys only: "constructor" or "toString" must not find Object.prototype's.
    const name = tr['strategy'] ?? 'LongestFirst';
    const strategy = typeof name === 'string' && Object.hasOwn(strategies, name) ? strategies[name] : undefined;
    if (!strategy) fail(file, `unknown truncation strategy ${quote(tr['strategy'])}`);
    truncation = {
      maxLength: int(tr['max_length'], file, 'truncation.max_length'),
      strategy,
      stride: int(tr['stride'] ?? 0, file, 'truncation.stride'),
      direction: side(tr['direction'], 'right', file, 'truncation.direction'),
    };
  } else if (tr !== null && tr !== undefined) fail(file, 'truncation must be an object or null');
  let padding: PaddingParams | null = null;
  const pd = root['padding'];
  if (isObj(pd)) {
    const s = pd['strategy'];
    let strategy: 'longest' | 'max_length';
    let maxLength: number | undefined;
    if (s === 'BatchLongest' || s === undefined) strategy = 'longest';
    else if (isObj(s) && s['Fixed'] !== undefined) {
      strategy = 'max_length';
      maxLength = int(s['Fixed'], file, 'padding.strategy.Fixed');
    } else fail(file, `unknown padding strategy ${quote(s)}`);
    const multiple = pd['pad_to_multiple_of'];
    padding = {
      strategy,
      maxLength,
      padToMultipleOf: multiple === null || multiple === undefined ? undefined : int(multiple, file, 'padding.pad_to_multiple_of'),
      direction: side(pd['direction'], 'right', file, 'padding.direction'),
      padId: int(pd['pad_id'] ?? 0, file, 'padding.pad_id'),
      padTypeId: int(pd['pad_type_id'] ?? 0, file, 'padding.pad_type_id'),
      padToken: str(pd['pad_token'] ?? '[PAD]', file, 'padding.pad_token'),
    };
  } else if (pd !== null && pd !== undefined) fail(file, 'padding must be an object or null');

  const sideCfg = readSideConfig(options.tokenizerConfig ?? null, options.specialTokensMap ?? null, options, file, { cleanUp: false });
  const specialTokens = { ...sideCfg.specialTokens };
  if (specialTokens['unk_token'] === undefined && unkToken !== undefined) specialTokens['unk_token'] = unkToken;
  if (specialTokens['pad_token'] === undefined && padding) specialTokens['pad_token'] = padding.padToken;
  const applyStored = options.useStoredTruncationAndPadding === true;
  if (!applyStored) {
    truncation = null;
    padding = null;
  }
  const overrides = { ...options };
  const files = (): Record<string, string> => {
    const out: Record<string, string> = { ...(overrides as SourceFiles).sourceFiles };
    if (out['tokenizer.json'] === undefined) out['tokenizer.json'] = typeof json === 'string' ? json : jsonFile(json);
    if (hasOverrides(overrides) || (out['tokenizer_config.json'] === undefined && overrides.tokenizerConfig)) {
      out['tokenizer_config.json'] = jsonFile(configWithOverrides(overrides.tokenizerConfig ?? null, overrides));
    }
    if (out['special_tokens_map.json'] === undefined && overrides.specialTokensMap) out['special_tokens_map.json'] = jsonFile(overrides.specialTokensMap);
    return out;
  };
  const prefix = model['continuing_subword_prefix'];
  const spec: TokenizerSpec = {
    model: seqModel,
    addedTokens: added,
    neverSplit: [],
    unkId,
    // What transformers reads as tokenizer._tokenizer.model.continuing_subword_prefix (WordPiece's
    // "##" by default; BPE's when set; Unigram has none).
    continuingSubwordPrefix: mtype === 'WordPiece' ? (typeof prefix === 'string' ? prefix : '##') : typeof prefix === 'string' && prefix ? prefix : null,
    single: post.single,
    pair: post.pair,
    typeIdsAllZero: post.typeIdsAllZero,
    trimOffsets: post.trimOffsets,
    decoder,
    truncation,
    padding,
    modelMaxLength: sideCfg.modelMaxLength,
    cleanUpTokenizationSpaces: sideCfg.cleanUp,
    truncationSide: truncation?.direction ?? sideCfg.truncationSide,
    paddingSide: padding?.direction ?? sideCfg.paddingSide,
    specialTokens,
    hasPostProcessor: pp !== null && pp !== undefined,
    files,
  };
  return new Tokenizer(spec);
}

// ---- vocab.txt --------------------------------------------------------------------------------

/** Parses vocab.txt as `tokenizers`' WordPiece reads it: one token per line, trailing whitespace trimmed. */
export function parseVocabTxt(text: string): Map<string, number> {
  const map = new Map<string, number>();
  if (text.length === 0) return map;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    // Rust `BufRead::lines` drops "\n" and a "\r" before it; `trim_end` drops trailing White_Space.
    map.set(lines[i]!.replace(/\p{White_Space}+$/u, ''), i);
  }
  return map;
}

/**
 * Builds a BertTokenizer from a vocabulary (vocab.txt contents, a token list in id order, or a
 * token → id map) and BertTokenizer options, as transformers does for a folder without tokenizer.json.
 */
export function tokenizerFromVocab(
  vocabInput: string | readonly string[] | Map<string, number> | Record<string, number>,
  options: TokenizerFromVocabOptions = {},
): Tokenizer {
  checkOptionNames(options, FROM_VOCAB_OPTION_NAMES.concat((options as SourceFiles).sourceFiles ? ['sourceFiles'] : []), 'tokenizerFromVocab() options');
  const file = options.file;
  let vmap: Map<string, number>;
  if (typeof vocabInput === 'string') vmap = parseVocabTxt(vocabInput);
  else if (Array.isArray(vocabInput)) {
    vmap = new Map();
    vocabInput.forEach((t, i) => {
      if (typeof t !== 'string') throw new InvalidInputError('vocabulary entries must be strings');
      vmap.set(t, i);
    });
  } else if (vocabInput instanceof Map) vmap = new Map(vocabInput);
  else if (isObj(vocabInput)) {
    vmap = new Map();
    for (const [k, v] of Object.entries(vocabInput)) vmap.set(k, int(v, file, `vocab[${quote(k)}]`));
  } else throw new InvalidInputError('the vocabulary must be vocab.txt text, a token array or a token → id map');

  const c: Json = options.tokenizerConfig ?? {};
  const sm: Json = options.specialTokensMap ?? {};
  const cfgTok = (key: string, opt: string | undefined, def: string): string => opt ?? tokenContent(c[key]) ?? tokenContent(sm[key]) ?? def;
  const unk = cfgTok('unk_token', options.unkToken, '[UNK]');
  const sep = cfgTok('sep_token', options.sepToken, '[SEP]');
  const pad = cfgTok('pad_token', options.padToken, '[PAD]');
  const cls = cfgTok('cls_token', options.clsToken, '[CLS]');
  const mask = cfgTok('mask_token', options.maskToken, '[MASK]');
  const doLower = options.doLowerCase ?? bool(c['do_lower_case'], true, file, 'do_lower_case');
  const stripRaw = options.stripAccents !== undefined ? options.stripAccents : c['strip_accents'];
  const strip = stripRaw === null || stripRaw === undefined ? doLower : bool(stripRaw, doLower, file, 'strip_accents');
  const chinese = options.tokenizeChineseChars ?? bool(c['tokenize_chinese_chars'], true, file, 'tokenize_chinese_chars');
  const neverRaw = options.neverSplit !== undefined ? options.neverSplit : c['never_split'];
  let neverSplit: string[] = [];
  if (neverRaw !== null && neverRaw !== undefined) {
    if (!Array.isArray(neverRaw) || neverRaw.some((x) => typeof x !== 'string')) fail(file, 'never_split must be a list of strings');
    neverSplit = neverRaw as string[];
  }
  const maxChars = options.maxInputCharsPerWord ?? 100;
  if (!Number.isInteger(maxChars) || maxChars < 0) throw new InvalidInputError('maxInputCharsPerWord must be a non-negative integer');

  const vocab = new Vocab(vmap, '##');
  checkUnk(vocab, unk, file);

  // Added tokens: tokenizer_config's added_tokens_decoder first (in id order), then the named
  // special tokens and additional special tokens not already there (transformers' order).
  const addedIn: Omit<AddedToken, 'id'>[] = [];
  const seen = new Set<string>();
  const atd = c['added_tokens_decoder'];
  if (isObj(atd)) {
    const entries = Object.entries(atd).sort((x, y) => Number(x[0]) - Number(y[0]));
    for (const [, v] of entries) {
      if (!isObj(v)) continue;
      const content = tokenContent(v);
      if (content === undefined) continue;
      const special = bool(v['special'], false, file, 'added token special');
      addedIn.push({
        content,
        singleWord: bool(v['single_word'], false, file, 'single_word'),
        lstrip: bool(v['lstrip'], false, file, 'lstrip'),
        rstrip: bool(v['rstrip'], false, file, 'rstrip'),
        normalized: bool(v['normalized'], !special, file, 'normalized'),
        special,
      });
      seen.add(content);
    }
  }
  const extra: string[] = [...(options.additionalSpecialTokens ?? [])];
  for (const key of ['additional_special_tokens', 'extra_special_tokens']) {
    for (const src of [c[key], sm[key]]) {
      if (Array.isArray(src)) for (const x of src) {
        const t = tokenContent(x);
        if (t !== undefined) extra.push(t);
      }
    }
  }
  for (const t of [unk, sep, pad, cls, mask, ...extra]) {
    if (seen.has(t)) {
      const prev = addedIn.find((a) => a.content === t);
      if (prev) prev.special = true;
      continue;
    }
    seen.add(t);
    addedIn.push({ content: t, singleWord: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  const added = assignAddedIds(vocab, addedIn);
  const idOf = (t: string): number => added.find((a) => a.content === t)?.id ?? vocab.map.get(t)!;
  const clsPiece = { kind: 'special' as const, ids: [idOf(cls)], tokens: [cls], typeId: 0 };
  const sepPiece = { kind: 'special' as const, ids: [idOf(sep)], tokens: [sep], typeId: 0 };
  const single: TemplatePiece[] = [clsPiece, { kind: 'sequence', seq: 0, typeId: 0 }, sepPiece];
  const pair: TemplatePiece[] = [...single, { kind: 'sequence', seq: 1, typeId: 1 }, { ...sepPiece, typeId: 1 }];

  const sideCfg = readSideConfig(c, sm, options, file, { cleanUp: false });
  const specialTokens: Record<string, string> = { ...sideCfg.specialTokens, unk_token: unk, sep_token: sep, pad_token: pad, cls_token: cls, mask_token: mask };
  const unkId = vocab.map.get(unk)!;
  const core = new WordPieceCore(vocab, { cleanText: true, handleChineseChars: chinese, stripAccents: strip, lowercase: doLower }, { unkId, maxInputCharsPerWord: maxChars });
  // The files a reload builds this same tokenizer from: the folder's own when nothing overrides
  // them, else a tokenizer_config.json that states every setting (transformers reads it too).
  const source = (options as SourceFiles).sourceFiles;
  const overridden = hasOverrides(options);
  const vocabFile = typeof vocabInput === 'string' ? vocabInput : undefined;
  const files = (): Record<string, string> => {
    const out: Record<string, string> = { ...source };
    out['vocab.txt'] = vocabFile ?? vocabText(vmap);
    if (overridden || out['tokenizer_config.json'] === undefined) {
      const extra: Json = {
        tokenizer_class: typeof c['tokenizer_class'] === 'string' ? c['tokenizer_class'] : 'BertTokenizer',
        do_lower_case: doLower,
        strip_accents: stripRaw === undefined ? null : stripRaw,
        tokenize_chinese_chars: chinese,
        unk_token: unk,
        sep_token: sep,
        pad_token: pad,
        cls_token: cls,
        mask_token: mask,
      };
      if (neverSplit.length) extra['never_split'] = neverSplit;
      if (options.additionalSpecialTokens?.length) extra['additional_special_tokens'] = [...new Set([...((c['additional_special_tokens'] as string[] | undefined) ?? []), ...options.additionalSpecialTokens])];
      if (Number.isFinite(sideCfg.modelMaxLength)) extra['model_max_length'] = sideCfg.modelMaxLength;
      out['tokenizer_config.json'] = jsonFile(configWithOverrides(c, options, extra));
    }
    if (out['special_tokens_map.json'] === undefined && options.specialTokensMap) out['special_tokens_map.json'] = jsonFile(options.specialTokensMap);
    return out;
  };
  return new Tokenizer({
    model: core,
    addedTokens: added,
    neverSplit,
    unkId,
    single,
    pair,
    typeIdsAllZero: false,
    trimOffsets: null,
    decoder: wordPieceDecoder('##', true),
    truncation: null,
    padding: null,
    modelMaxLength: sideCfg.modelMaxLength,
    cleanUpTokenizationSpaces: sideCfg.cleanUp,
    truncationSide: sideCfg.truncationSide,
    paddingSide: sideCfg.paddingSide,
    specialTokens,
    hasPostProcessor: true,
    files,
  });
}

/** vocab.txt: one token a line, by id (gaps, which a file cannot have, as [unused_N]). */
function vocabText(vmap: Map<string, number>): string {
  let max = -1;
  for (const id of vmap.values()) max = Math.max(max, id);
  if (max >= 2 * vmap.size + 1024) throw new InvalidInputError(`the vocabulary's ids go up to ${max} for ${vmap.size} tokens: too sparse to write as vocab.txt`);
  const lines: string[] = [];
  for (const [tok, id] of vmap) lines[id] = tok;
  for (let i = 0; i < lines.length; i++) if (lines[i] === undefined) lines[i] = `[unused_${i}]`;
  return `${lines.join('\n')}\n`;
}

// ---- folders ----------------------------------------------------------------------------------

async function exists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function readJsonIfPresent(p: string, keep?: Record<string, string>): Promise<Json | null> {
  if (!(await exists(p))) return null;
  let text: string;
  try {
    text = await readFile(p, 'utf8');
  } catch (e) {
    throw new InvalidFileError(`cannot read: ${(e as Error).message}`, p, 'ERR_INVALID_FILE', { cause: e });
  }
  if (keep) keep[basename(p)] = text;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InvalidFileError(`not valid JSON: ${(e as Error).message}`, p, 'ERR_INVALID_FILE', { cause: e });
  }
  if (!isObj(v)) fail(p, 'must be a JSON object');
  return v;
}

/** The BertTokenizer options (and useStoredTruncationAndPadding) of loadTokenizer's options, without the Hub ones. */
function pickTokenizerOptions(o: LoadTokenizerOptions): BertTokenizerOptions & StoredDefaultsOption {
  const out: Record<string, unknown> = {};
  for (const k of [...BERT_TOKENIZER_OPTION_NAMES, 'useStoredTruncationAndPadding']) {
    if ((o as Record<string, unknown>)[k] !== undefined) out[k] = (o as Record<string, unknown>)[k];
  }
  return out;
}

/** Whether a model folder holds tokenizer files (tokenizer.json, vocab.json + merges.txt, spiece.model or vocab.txt). */
export async function hasTokenizerFiles(dir: string): Promise<boolean> {
  return (
    (await exists(join(dir, 'tokenizer.json'))) ||
    ((await exists(join(dir, 'vocab.json'))) && (await exists(join(dir, 'merges.txt')))) ||
    (await exists(join(dir, 'spiece.model'))) ||
    (await exists(join(dir, 'vocab.txt')))
  );
}

async function readText(p: string): Promise<string> {
  try {
    return await readFile(p, 'utf8');
  } catch (e) {
    throw new InvalidFileError(`cannot read: ${(e as Error).message}`, p, 'ERR_INVALID_FILE', { cause: e });
  }
}

/**
 * Loads the tokenizer of a model folder: the first present of tokenizer.json, vocab.json +
 * merges.txt, spiece.model and vocab.txt, with tokenizer_config.json and special_tokens_map.json.
 * tokenizer.json's stored truncation and padding apply only with `useStoredTruncationAndPadding`
 * (transformers' rule). `options` override the configuration files.
 */
export async function loadTokenizer(dirOrId: string, options: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  if (typeof dirOrId !== 'string') throw new InvalidInputError('loadTokenizer expects a folder path or a Hub id');
  checkOptionNames(options, LOAD_TOKENIZER_OPTION_NAMES, 'loadTokenizer() options');
  const dir = await resolveModel(dirOrId, hubOptionsOf(options));
  const format = options.format ?? 'auto';
  if (!['auto', 'tokenizer.json', 'vocab.json', 'spiece.model', 'vocab.txt'].includes(format)) throw new InvalidInputError(`unknown format ${quote(format)}`);
  const tjPath = join(dir, 'tokenizer.json');
  const vocabPath = join(dir, 'vocab.txt');
  const vjPath = join(dir, 'vocab.json');
  const mergesPath = join(dir, 'merges.txt');
  const spPath = join(dir, 'spiece.model');
  // What was read verbatim, so that saving writes the same files back.
  const sourceFiles: Record<string, string> = {};
  const tokenizerConfig = await readJsonIfPresent(join(dir, 'tokenizer_config.json'), sourceFiles);
  const specialTokensMap = await readJsonIfPresent(join(dir, 'special_tokens_map.json'), sourceFiles);
  // Not read here, but transformers' slow tokenizers read them: kept for saving.
  for (const name of ['added_tokens.json', 'vocab.txt', 'vocab.json', 'merges.txt']) {
    const p = join(dir, name);
    if (await exists(p)) sourceFiles[name] = await readText(p);
  }
  const { format: _format, ...rest } = options;
  const fromOptions = { ...pickTokenizerOptions(rest), sourceFiles };
  const auto = format === 'auto';
  if (format === 'tokenizer.json' || (auto && (await exists(tjPath)))) {
    const text = await readText(tjPath);
    sourceFiles['tokenizer.json'] = text;
    return tokenizerFromJSON(text, { ...fromOptions, file: tjPath, tokenizerConfig, specialTokensMap } as TokenizerFromJSONOptions);
  }
  if (format === 'vocab.json' || (auto && (await exists(vjPath)) && (await exists(mergesPath)))) {
    const vocab = await readJsonIfPresent(vjPath);
    if (!vocab) throw new InvalidFileError('vocab.json not found', vjPath);
    if (!(await exists(mergesPath))) throw new InvalidFileError('merges.txt not found (needed with vocab.json)', mergesPath);
    const json = bpeFilesToJson(vocab, parseMergesTxt(await readText(mergesPath), mergesPath), tokenizerConfig ?? {}, specialTokensMap ?? {}, vjPath);
    return tokenizerFromJSON(json, { ...fromOptions, file: vjPath, tokenizerConfig, specialTokensMap } as TokenizerFromJSONOptions);
  }
  if (format === 'spiece.model' || (auto && (await exists(spPath)))) {
    let buf: Buffer;
    try {
      buf = await readFile(spPath);
    } catch (e) {
      throw new InvalidFileError(`cannot read: ${(e as Error).message}`, spPath, 'ERR_INVALID_FILE', { cause: e });
    }
    const json = spieceToJson(readSentencePieceModel(buf, spPath), tokenizerConfig ?? {}, specialTokensMap ?? {}, spPath);
    return tokenizerFromJSON(json, { ...fromOptions, file: spPath, tokenizerConfig, specialTokensMap } as TokenizerFromJSONOptions);
  }
  if (auto && !(await exists(vocabPath)) && ((await exists(join(dir, 'sentencepiece.bpe.model'))) || (await exists(join(dir, 'tokenizer.model'))))) {
    throw new UnsupportedModelError(`this folder has a SentencePiece model (sentencepiece.bpe.model / tokenizer.model) but no tokenizer.json: only tokenizer.json, vocab.json + merges.txt, spiece.model (ALBERT) and vocab.txt are supported (${dir})`);
  }
  if (!(await exists(vocabPath))) {
    throw new InvalidFileError(
      format === 'vocab.txt' ? 'vocab.txt not found' : 'no tokenizer files in this folder (tokenizer.json, vocab.json + merges.txt, spiece.model or vocab.txt)',
      format === 'vocab.txt' ? vocabPath : dir,
    );
  }
  let text: string;
  try {
    text = await readFile(vocabPath, 'utf8');
  } catch (e) {
    throw new InvalidFileError(`cannot read: ${(e as Error).message}`, vocabPath, 'ERR_INVALID_FILE', { cause: e });
  }
  if (tokenizerConfig) {
    const cls = tokenizerConfig['tokenizer_class'];
    if (typeof cls === 'string' && !/^(Bert|DistilBert|Electra|SqueezeBert|Lxmert|LayoutLM|MobileBert|RetriBert|ConvBert)Tokenizer(Fast)?$/.test(cls)) {
      throw new UnsupportedModelError(`tokenizer_class ${cls} is not supported without a tokenizer.json (BertTokenizer only)`);
    }
  }
  sourceFiles['vocab.txt'] = text;
  const { useStoredTruncationAndPadding: _stored, ...vocabOptions } = fromOptions;
  return tokenizerFromVocab(text, { ...vocabOptions, file: vocabPath, tokenizerConfig, specialTokensMap } as TokenizerFromVocabOptions);
}
