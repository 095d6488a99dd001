/** `tokenizer.json` (Hugging Face `tokenizers` format) to a Tokenizer. */
import { InvalidFileError, UnsupportedModelError } from '../errors.js';
import { checkOptionNames } from '../options.js';
import { parseDecoder, parseNormalizer, parsePreTokenizer, parseWordModel } from './components.js';
import { WordPieceCore, type NormalizerOptions } from './core.js';
import type { PaddingParams, TruncationParams, TruncationStrategy } from './options.js';
import { Pipeline, type SequenceModel } from './pipeline.js';
import type { TemplatePiece, TokenizerSpec } from './spec.js';
import { Tokenizer } from './tokenizer.js';
import { Vocab } from './vocab.js';
import { quote } from '../util/quote.js';
import { FROM_JSON_OPTION_NAMES, hasOverrides, configWithOverrides, jsonFile, isObj, fail, bool, int, str, side, assignAddedIds, checkUnk, readSideConfig } from './load-options.js';
import type { TokenizerFromJSONOptions, SourceFiles, Json } from './load-options.js';

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
