/**
 * `vocab.txt` + `tokenizer_config.json` + `special_tokens_map.json` to a Tokenizer, with
 * BertTokenizer's options, built the way transformers builds its (tokenizers-backed) BertTokenizer.
 */
import { InvalidInputError } from '../errors.js';
import { checkOptionNames } from '../options.js';
import type { AddedToken } from './added.js';
import { WordPieceCore } from './core.js';
import { wordPieceDecoder } from './decoders.js';
import type { TemplatePiece } from './spec.js';
import { Tokenizer } from './tokenizer.js';
import { Vocab } from './vocab.js';
import { quote } from '../util/quote.js';
import { FROM_VOCAB_OPTION_NAMES, hasOverrides, configWithOverrides, jsonFile, isObj, fail, bool, int, tokenContent, assignAddedIds, checkUnk, readSideConfig } from './load-options.js';
import type { TokenizerFromVocabOptions, SourceFiles, Json } from './load-options.js';

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
