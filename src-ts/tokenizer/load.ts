/**
 * Building a Tokenizer from a model folder (or Hub id): `tokenizer.json` (Hugging Face `tokenizers`
 * format, from-json.ts) when present, otherwise `vocab.txt` + `tokenizer_config.json` +
 * `special_tokens_map.json` (from-vocab.ts); converted sentencepiece / BPE files otherwise.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InvalidFileError, InvalidInputError, UnsupportedModelError } from '../errors.js';
import { hubOptionsOf, resolveModel } from '../hub/index.js';
import { checkOptionNames } from '../options.js';
import { bpeFilesToJson, parseMergesTxt, spieceToJson } from './converters.js';
import { readSentencePieceModel } from './spiece.js';
import { Tokenizer } from './tokenizer.js';
import { quote } from '../util/quote.js';
import { tokenizerFromJSON } from './from-json.js';
import { tokenizerFromVocab } from './from-vocab.js';

import { BERT_TOKENIZER_OPTION_NAMES, LOAD_TOKENIZER_OPTION_NAMES, isObj, fail } from './load-options.js';
import type { BertTokenizerOptions, LoadTokenizerOptions, StoredDefaultsOption, TokenizerFromJSONOptions, TokenizerFromVocabOptions, Json } from './load-options.js';

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
