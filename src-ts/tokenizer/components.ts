/**
 * tokenizer.json components other than the WordPiece ones: normalisers, pre-tokenizers, the BPE
 * and Unigram models and decoders, read into the pipeline's pieces. A component this library does
 * not implement is an UnsupportedModelError naming it (never a silently different tokenization);
 * a malformed one is an InvalidFileError.
 */
import { InvalidFileError, UnsupportedModelError } from '../errors.js';
import { BpeModel } from './bpe.js';
import * as dec from './decoders.js';
import * as norm from './normalizers.js';
import { Precompiled } from './precompiled.js';
import * as pre from './pre-tokenizers.js';
import type { WordModel } from './pipeline.js';
import { UnigramModel } from './unigram.js';
import { quote } from '../util/quote.js';

type Json = Record<string, unknown>;

function isObj(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function fail(file: string | undefined, msg: string): never {
  throw new InvalidFileError(msg, file);
}

function typeOf(x: unknown): string {
  return quote(isObj(x) ? x['type'] : x);
}

function unsupported(what: string, x: unknown, supported: string): never {
  throw new UnsupportedModelError(`tokenizer.json ${what} ${typeOf(x)} is not supported (supported: ${supported})`);
}

function bool(v: unknown, def: boolean, file: string | undefined, what: string): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') fail(file, `${what} must be a boolean`);
  return v;
}

function str(v: unknown, file: string | undefined, what: string): string {
  if (typeof v !== 'string') fail(file, `${what} must be a string`);
  return v;
}

function int(v: unknown, file: string | undefined, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) fail(file, `${what} must be a non-negative integer`);
  return v;
}

/**
 * A Replace / Split pattern: `{String}` literally, `{Regex}` as a JavaScript Unicode regex
 * (Oniguruma syntax mostly carries over; what does not compile is reported).
 */
function pattern(p: unknown, file: string | undefined, what: string): RegExp | string {
  if (!isObj(p)) fail(file, `${what}.pattern must be {"String": …} or {"Regex": …}`);
  if (typeof p['String'] === 'string') return p['String'];
  if (typeof p['Regex'] === 'string') {
    try {
      return new RegExp(p['Regex'], 'gu');
    } catch (e) {
      throw new UnsupportedModelError(`tokenizer.json ${what}: regex ${quote(p['Regex'])} is not supported (${(e as Error).message})`);
    }
  }
  fail(file, `${what}.pattern must be {"String": …} or {"Regex": …}`);
}

function base64(s: string, file: string | undefined): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) fail(file, 'normalizer Precompiled: precompiled_charsmap is not base64');
  return new Uint8Array(Buffer.from(s, 'base64'));
}

const NORMALIZERS = 'Sequence, Precompiled, Replace, Lowercase, NFD, NFKD, NFC, NFKC, StripAccents, Strip, Prepend';

export function parseNormalizer(n: unknown, file: string | undefined): norm.Normalizer | null {
  if (n === null || n === undefined) return null;
  if (!isObj(n)) fail(file, 'normalizer must be an object or null');
  switch (n['type']) {
    case 'Sequence': {
      const list = n['normalizers'];
      if (!Array.isArray(list)) fail(file, 'normalizer Sequence needs "normalizers"');
      const parts = list.map((x) => parseNormalizer(x, file)).filter((x): x is norm.Normalizer => x !== null);
      return parts.length === 0 ? null : parts.length === 1 ? parts[0]! : norm.sequence(parts);
    }
    case 'Precompiled': {
      const cm = n['precompiled_charsmap'];
      if (typeof cm !== 'string') fail(file, 'normalizer Precompiled: precompiled_charsmap must be a base64 string');
      return norm.precompiled(new Precompiled(base64(cm, file), file));
    }
    case 'Replace':
      return norm.replace(pattern(n['pattern'], file, 'normalizer Replace'), str(n['content'], file, 'normalizer Replace.content'));
    case 'Lowercase':
      return norm.lowercase();
    case 'NFD':
    case 'NFKD':
      return norm.decompose(n['type']);
    case 'NFC':
    case 'NFKC':
      return norm.compose(n['type']);
    case 'StripAccents':
      return norm.stripAccents();
    case 'Strip':
      return norm.strip(bool(n['strip_left'], true, file, 'Strip.strip_left'), bool(n['strip_right'], true, file, 'Strip.strip_right'));
    case 'Prepend':
      return norm.prepend(str(n['prepend'], file, 'Prepend.prepend'));
    default:
      return unsupported('normalizer', n, NORMALIZERS);
  }
}

function prependScheme(p: Json, file: string | undefined): 'always' | 'first' | 'never' {
  const s = p['prepend_scheme'];
  if (s === undefined || s === null) {
    // Files older than prepend_scheme say add_prefix_space.
    return bool(p['add_prefix_space'], true, file, 'Metaspace.add_prefix_space') ? 'always' : 'never';
  }
  if (s !== 'always' && s !== 'first' && s !== 'never') fail(file, `Metaspace.prepend_scheme ${quote(s)} is not always/first/never`);
  return s;
}

function replacement(p: Json, file: string | undefined): string {
  const r = str(p['replacement'] ?? '▁', file, 'Metaspace.replacement');
  if ([...r].length !== 1) fail(file, 'Metaspace.replacement must be one character');
  return r;
}

const BEHAVIORS: Record<string, pre.SplitBehavior> = {
  Removed: 'removed',
  Isolated: 'isolated',
  MergedWithPrevious: 'merged_with_previous',
  MergedWithNext: 'merged_with_next',
  Contiguous: 'contiguous',
};

const PRE_TOKENIZERS = 'ByteLevel, Metaspace, Split, Whitespace, WhitespaceSplit, BertPreTokenizer, Sequence';

export interface ParsedPre {
  pre: pre.PreTokenizer | null;
  /** Set when the pre-tokenizer is ByteLevel with its regex alone (the direct byte-level path). */
  byteLevel: { addPrefixSpace: boolean } | null;
}

export function parsePreTokenizer(p: unknown, file: string | undefined): ParsedPre {
  if (p === null || p === undefined) return { pre: null, byteLevel: null };
  if (!isObj(p)) fail(file, 'pre_tokenizer must be an object or null');
  switch (p['type']) {
    case 'ByteLevel': {
      const addPrefixSpace = bool(p['add_prefix_space'], true, file, 'ByteLevel.add_prefix_space');
      const useRegex = bool(p['use_regex'], true, file, 'ByteLevel.use_regex');
      return { pre: pre.byteLevel(addPrefixSpace, useRegex), byteLevel: useRegex ? { addPrefixSpace } : null };
    }
    case 'Metaspace':
      return { pre: pre.metaspace(replacement(p, file), prependScheme(p, file), bool(p['split'], true, file, 'Metaspace.split')), byteLevel: null };
    case 'Split': {
      const b = BEHAVIORS[String(p['behavior'])];
      if (!b) fail(file, `Split.behavior ${quote(p['behavior'])} is not one of ${Object.keys(BEHAVIORS).join(', ')}`);
      return { pre: pre.splitPre(pattern(p['pattern'], file, 'pre_tokenizer Split'), b, bool(p['invert'], false, file, 'Split.invert')), byteLevel: null };
    }
    case 'Whitespace':
      return { pre: pre.whitespace(), byteLevel: null };
    case 'WhitespaceSplit':
      return { pre: pre.whitespaceSplit(), byteLevel: null };
    case 'BertPreTokenizer':
      return { pre: pre.bertPre(), byteLevel: null };
    case 'Sequence': {
      const list = p['pretokenizers'];
      if (!Array.isArray(list)) fail(file, 'pre_tokenizer Sequence needs "pretokenizers"');
      const parts = list.map((x) => parsePreTokenizer(x, file));
      if (parts.length === 1) return parts[0]!;
      return { pre: pre.sequencePre(parts.map((x) => x.pre).filter((x): x is pre.PreTokenizer => x !== null)), byteLevel: null };
    }
    default:
      return unsupported('pre_tokenizer', p, PRE_TOKENIZERS);
  }
}

const DECODERS = 'WordPiece, ByteLevel, Metaspace, Replace, Strip, Fuse, ByteFallback, BPEDecoder, Sequence';

export function parseDecoder(d: unknown, file: string | undefined): dec.Decoder | null {
  if (d === null || d === undefined) return null;
  if (!isObj(d)) fail(file, 'decoder must be an object or null');
  switch (d['type']) {
    case 'WordPiece':
      return dec.wordPieceDecoder(str(d['prefix'] ?? '##', file, 'decoder.prefix'), bool(d['cleanup'], true, file, 'decoder.cleanup'));
    case 'ByteLevel':
      return dec.byteLevelDecoder();
    case 'Metaspace':
      return dec.metaspaceDecoder(replacement(d, file), prependScheme(d, file));
    case 'Replace':
      return dec.replaceDecoder(pattern(d['pattern'], file, 'decoder Replace'), str(d['content'], file, 'decoder Replace.content'));
    case 'Strip':
      return dec.stripDecoder(str(d['content'], file, 'Strip.content'), int(d['start'] ?? 0, file, 'Strip.start'), int(d['stop'] ?? 0, file, 'Strip.stop'));
    case 'Fuse':
      return dec.fuseDecoder();
    case 'ByteFallback':
      return dec.byteFallbackDecoder();
    case 'BPEDecoder':
      return dec.bpeDecoder(str(d['suffix'] ?? '</w>', file, 'BPEDecoder.suffix'));
    case 'Sequence': {
      const list = d['decoders'];
      if (!Array.isArray(list)) fail(file, 'decoder Sequence needs "decoders"');
      return dec.sequenceDecoder(list.map((x) => parseDecoder(x, file)).filter((x): x is dec.Decoder => x !== null));
    }
    default:
      return unsupported('decoder', d, DECODERS);
  }
}

/** merges as "a b" strings (tokenizers < 0.20, merges.txt) or [a, b] pairs. */
export function parseMerges(list: unknown, file: string | undefined, what = 'model.merges'): [string, string][] {
  if (!Array.isArray(list)) fail(file, `${what} must be an array`);
  return list.map((m, i): [string, string] => {
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length !== 2 || !parts[0] || !parts[1]) fail(file, `${what}[${i}] ${quote(m)} is not two tokens separated by one space`);
      return [parts[0], parts[1]];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    fail(file, `${what}[${i}] must be "a b" or ["a", "b"]`);
  });
}

export function parseBpe(model: Json, file: string | undefined): BpeModel {
  const v = model['vocab'];
  if (!isObj(v)) fail(file, 'model.vocab must be an object of token → id');
  const vocab = new Map<string, number>();
  for (const [k, id] of Object.entries(v)) vocab.set(k, int(id, file, `model.vocab[${quote(k)}]`));
  const dropout = model['dropout'];
  if (dropout !== null && dropout !== undefined && dropout !== 0) {
    throw new UnsupportedModelError('tokenizer.json BPE dropout is not supported (it makes tokenization random)');
  }
  const unk = model['unk_token'];
  return new BpeModel(
    vocab,
    parseMerges(model['merges'] ?? [], file),
    {
      unkToken: unk === null || unk === undefined ? null : str(unk, file, 'model.unk_token'),
      continuingSubwordPrefix: str(model['continuing_subword_prefix'] ?? '', file, 'model.continuing_subword_prefix'),
      endOfWordSuffix: str(model['end_of_word_suffix'] ?? '', file, 'model.end_of_word_suffix'),
      fuseUnk: bool(model['fuse_unk'], false, file, 'model.fuse_unk'),
      byteFallback: bool(model['byte_fallback'], false, file, 'model.byte_fallback'),
      ignoreMerges: bool(model['ignore_merges'], false, file, 'model.ignore_merges'),
    },
    file,
  );
}

export function parseUnigram(model: Json, file: string | undefined): UnigramModel {
  const v = model['vocab'];
  if (!Array.isArray(v)) fail(file, 'model.vocab must be an array of [piece, score]');
  const pieces = v.map((p, i): [string, number] => {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'number' || !Number.isFinite(p[1])) {
      fail(file, `model.vocab[${i}] must be [piece, finite score]`);
    }
    return [p[0], p[1]];
  });
  const unk = model['unk_id'];
  return new UnigramModel(pieces, unk === null || unk === undefined ? null : int(unk, file, 'model.unk_id'), bool(model['byte_fallback'], false, file, 'model.byte_fallback'), file);
}

export function parseWordModel(model: Json, file: string | undefined): WordModel {
  if (model['type'] === 'BPE') return { kind: 'bpe', bpe: parseBpe(model, file) };
  if (model['type'] === 'Unigram') return { kind: 'unigram', unigram: parseUnigram(model, file) };
  return unsupported('model', model, 'WordPiece, BPE, Unigram');
}
