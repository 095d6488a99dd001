/**
 * Folders without tokenizer.json: the tokenizer.json that transformers' converters
 * (convert_slow_tokenizer) build from the classic files, as a JSON object for tokenizerFromJSON.
 *  - vocab.json + merges.txt: RobertaConverter (RoBERTa, and the classes that reuse it) and
 *    GPT2Converter (no special tokens around the text).
 *  - spiece.model: AlbertConverter (SentencePiece Unigram).
 * Other classes with these files are refused by name rather than guessed.
 */
import { InvalidFileError, UnsupportedModelError } from '../errors.js';
import { PIECE_CONTROL, PIECE_USER_DEFINED, type SpmModel } from './spiece.js';
import { quote } from '../util/quote.js';

type Json = Record<string, unknown>;

function isObj(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function content(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v['content'] === 'string') return v['content'];
  return undefined;
}

function flag(v: unknown, def: boolean): boolean {
  return typeof v === 'boolean' ? v : def;
}

/** merges.txt as `tokenizers` reads it: a `#version` first line is skipped, then "a b" per line. */
export function parseMergesTxt(text: string, file?: string): [string, string][] {
  const out: [string, string][] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if ((i === 0 && line.startsWith('#version')) || line.length === 0) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new InvalidFileError(`line ${i + 1}: ${quote(line)} is not two tokens separated by one space`, file);
    out.push([parts[0], parts[1]]);
  });
  return out;
}

/**
 * The added tokens of a slow tokenizer's configuration, in tokenizer.json form: added_tokens_decoder
 * (id order), then the named special tokens not already there. `lstripMask`: the class makes its
 * mask token lstrip (RoBERTa, ALBERT).
 */
function addedTokens(config: Json, specialMap: Json, lstripMask: boolean, extra: { content: string; special: boolean }[] = []): Json[] {
  const out: Json[] = [];
  const seen = new Set<string>();
  const atd = config['added_tokens_decoder'];
  if (isObj(atd)) {
    for (const [, v] of Object.entries(atd).sort((a, b) => Number(a[0]) - Number(b[0]))) {
      const c = content(v);
      if (c === undefined || !isObj(v)) continue;
      seen.add(c);
      out.push({ content: c, single_word: flag(v['single_word'], false), lstrip: flag(v['lstrip'], false), rstrip: flag(v['rstrip'], false), normalized: flag(v['normalized'], !flag(v['special'], false)), special: flag(v['special'], false) });
    }
  }
  for (const t of extra) {
    if (seen.has(t.content)) continue;
    seen.add(t.content);
    out.push({ content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: t.special });
  }
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token']) {
    const v = config[key] ?? specialMap[key];
    const c = content(v);
    if (c === undefined || seen.has(c)) continue;
    seen.add(c);
    const o = isObj(v) ? v : {};
    const lstrip = key === 'mask_token' && lstripMask;
    out.push({ content: c, single_word: flag(o['single_word'], false), lstrip: flag(o['lstrip'], lstrip), rstrip: flag(o['rstrip'], false), normalized: flag(o['normalized'], false), special: true });
  }
  return out;
}

function tokenOf(config: Json, specialMap: Json, key: string, def: string): string {
  return content(config[key]) ?? content(specialMap[key]) ?? def;
}

/** RobertaConverter / GPT2Converter on vocab.json + merges.txt. */
export function bpeFilesToJson(vocab: Json, merges: [string, string][], config: Json, specialMap: Json, file?: string): Json {
  const cls = typeof config['tokenizer_class'] === 'string' ? config['tokenizer_class'] : 'RobertaTokenizer';
  const roberta = /^(Roberta|Longformer|Bart|Mvp|Led|Blenderbot)Tokenizer(Fast)?$/.test(cls);
  const gpt2 = /^GPT2Tokenizer(Fast)?$/.test(cls);
  if (!roberta && !gpt2) {
    throw new UnsupportedModelError(`${file ?? 'vocab.json'}: tokenizer_class ${cls} is not supported without a tokenizer.json (RoBERTa-style or GPT-2 byte-level BPE only)`);
  }
  const addPrefixSpace = flag(config['add_prefix_space'], false);
  const trim = flag(config['trim_offsets'], true);
  const id = (t: string): number => {
    const v = vocab[t];
    if (typeof v !== 'number') throw new InvalidFileError(`the special token ${quote(t)} is not in vocab.json`, file);
    return v;
  };
  let post: Json;
  if (roberta) {
    const sep = tokenOf(config, specialMap, 'sep_token', '</s>');
    const c = tokenOf(config, specialMap, 'cls_token', '<s>');
    post = { type: 'RobertaProcessing', sep: [sep, id(sep)], cls: [c, id(c)], trim_offsets: trim, add_prefix_space: addPrefixSpace };
  } else {
    post = { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: false, use_regex: true };
  }
  return {
    version: '1.0',
    added_tokens: addedTokens(config, specialMap, roberta),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: trim, use_regex: true },
    post_processor: post,
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges, dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false },
  };
}

/** AlbertConverter on spiece.model. */
export function spieceToJson(spm: SpmModel, config: Json, specialMap: Json, file?: string): Json {
  const cls = typeof config['tokenizer_class'] === 'string' ? config['tokenizer_class'] : 'AlbertTokenizer';
  if (!/^AlbertTokenizer(Fast)?$/.test(cls)) {
    throw new UnsupportedModelError(`${file ?? 'spiece.model'}: tokenizer_class ${cls} is not supported without a tokenizer.json (AlbertTokenizer only)`);
  }
  if (spm.modelType !== 1) throw new UnsupportedModelError(`${file ?? 'spiece.model'}: SentencePiece model type ${spm.modelType} is not supported (Unigram only)`);
  const norms: Json[] = [
    { type: 'Replace', pattern: { String: '``' }, content: '"' },
    { type: 'Replace', pattern: { String: "''" }, content: '"' },
  ];
  if (!flag(config['keep_accents'], false)) norms.push({ type: 'NFKD' }, { type: 'StripAccents' });
  if (flag(config['do_lower_case'], true)) norms.push({ type: 'Lowercase' });
  if (spm.charsmap.length) norms.push({ type: 'Precompiled', precompiled_charsmap: Buffer.from(spm.charsmap).toString('base64') });
  norms.push({ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' });
  const pieces = spm.pieces.map((p) => [p.piece, p.score]);
  const idOf = (t: string): number => {
    const i = spm.pieces.findIndex((p) => p.piece === t);
    if (i < 0) throw new InvalidFileError(`the special token ${quote(t)} is not a piece of the model`, file);
    return i;
  };
  const clsTok = tokenOf(config, specialMap, 'cls_token', '[CLS]');
  const sepTok = tokenOf(config, specialMap, 'sep_token', '[SEP]');
  const special = (t: string): Json => ({ id: t, ids: [idOf(t)], tokens: [t] });
  const extra = spm.pieces
    .filter((p) => p.type === PIECE_CONTROL || p.type === PIECE_USER_DEFINED)
    .map((p) => ({ content: p.piece, special: p.type === PIECE_CONTROL }));
  const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  return {
    version: '1.0',
    added_tokens: addedTokens(config, specialMap, true, extra),
    normalizer: { type: 'Sequence', normalizers: norms },
    pre_tokenizer: metaspace,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: clsTok, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: sepTok, type_id: 0 } }],
      pair: [
        { SpecialToken: { id: clsTok, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: sepTok, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: sepTok, type_id: 1 } },
      ],
      special_tokens: { [clsTok]: special(clsTok), [sepTok]: special(sepTok) },
    },
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: spm.unkId, vocab: pieces, byte_fallback: spm.byteFallback },
  };
}
