/**
 * The general `tokenizers` pipeline for one stretch of text without added tokens: normaliser →
 * pre-tokenizer → model (BPE or Unigram), writing ids, UTF-16 offsets into the caller's string and
 * word indexes into a TokenBuffer. It offers the same four entry points as the fused WordPiece core
 * (SequenceModel), so the Tokenizer drives both alike.
 *
 * Byte-level BPE without a normaliser (RoBERTa, GPT-2) takes a direct path: the GPT-2 split runs on
 * the caller's string and each word's tokens, with offsets relative to the word, are cached by the
 * word's text, so a repeated word costs one map lookup.
 */
import type { TokenBuffer } from './buffer.js';
import type { BpeModel, ModelVocab } from './bpe.js';
import type { NormBuffer } from './core.js';
import { NStr } from './normalized.js';
import type { Normalizer } from './normalizers.js';
import { BYTE_CHARS, GPT2_SPLIT, type PreTokenizer } from './pre-tokenizers.js';
import type { UnigramModel } from './unigram.js';

/** What the Tokenizer needs from a model: the WordPiece core and Pipeline both provide it. */
export interface SequenceModel {
  readonly vocab: ModelVocab;
  /** Normalisation changes nothing, so `normalized` added tokens can be matched in the raw text. */
  readonly identityNormalizer: boolean;
  /** Tokenizes text[from, to); returns the next word index. */
  encodeRange(text: string, from: number, to: number, out: TokenBuffer, word: number): number;
  /** The same through the step-by-step path (tests compare the two). */
  encodeRangeReference(text: string, from: number, to: number, out: TokenBuffer, word: number): number;
  /** Normalises text[from, to) into `nb` with the original span of every unit. */
  normalizeInto(text: string, from: number, to: number, nb: NormBuffer): void;
  /** Pre-tokenizes and tokenizes normalised units [from, to) of `nb`. */
  pretokenizeUnits(nb: NormBuffer, from: number, to: number, out: TokenBuffer, word: number): number;
}

export type WordModel = { kind: 'bpe'; bpe: BpeModel } | { kind: 'unigram'; unigram: UnigramModel };

const BYTE_LIMIT = 100_000;

export class Pipeline implements SequenceModel {
  readonly vocab: ModelVocab;
  readonly identityNormalizer: boolean;
  private readonly normalizer: Normalizer | null;
  private readonly pre: PreTokenizer | null;
  private readonly model: WordModel;
  /** ByteLevel pre-tokenizer alone, no normaliser, BPE: the direct path (with this add_prefix_space). */
  private readonly byteLevel: { addPrefixSpace: boolean } | null;
  private readonly wordCache = new Map<string, Int32Array>();

  constructor(normalizer: Normalizer | null, pre: PreTokenizer | null, model: WordModel, byteLevel: { addPrefixSpace: boolean } | null) {
    this.normalizer = normalizer;
    this.pre = pre;
    this.model = model;
    this.vocab = model.kind === 'bpe' ? model.bpe : model.unigram;
    this.identityNormalizer = normalizer === null;
    this.byteLevel = normalizer === null && model.kind === 'bpe' ? byteLevel : null;
  }

  encodeRange(text: string, from: number, to: number, out: TokenBuffer, word: number): number {
    if (this.byteLevel) return this.byteLevelRange(text, from, to, out, word);
    return this.encodeRangeReference(text, from, to, out, word);
  }

  encodeRangeReference(text: string, from: number, to: number, out: TokenBuffer, word: number): number {
    if (from >= to) return word;
    let ns = NStr.fromText(text, from, to);
    if (this.normalizer) ns = this.normalizer(ns);
    return this.encodeNormalized(ns, out, word);
  }

  normalizeInto(text: string, from: number, to: number, nb: NormBuffer): void {
    let ns = NStr.fromText(text, from, to);
    if (this.normalizer) ns = this.normalizer(ns);
    for (let i = 0; i < ns.s.length; i++) nb.push(ns.s.charCodeAt(i), ns.st[i]!, ns.en[i]!);
  }

  pretokenizeUnits(nb: NormBuffer, from: number, to: number, out: TokenBuffer, word: number): number {
    if (from >= to) return word;
    const ns = new NStr(nb.toString(from, to), Array.from(nb.starts.subarray(from, to)), Array.from(nb.ends.subarray(from, to)));
    return this.encodeNormalized(ns, out, word);
  }

  private encodeNormalized(ns: NStr, out: TokenBuffer, word: number): number {
    if (ns.length === 0) return word;
    const words: NStr[] = [];
    if (this.pre) this.pre(ns, words);
    else words.push(ns);
    for (const w of words) {
      if (w.length === 0) continue;
      this.encodeWord(w, out, word++);
    }
    return word;
  }

  private encodeWord(w: NStr, out: TokenBuffer, word: number): void {
    const m = this.model;
    if (m.kind === 'bpe') {
      const t = m.bpe.tokenize(w.s);
      for (let k = 0; k < t.length; k += 3) out.push(t[k]!, w.st[t[k + 1]!]!, w.en[t[k + 2]! - 1]!, word);
      return;
    }
    const { triples: t, texts } = m.unigram.tokenize(w.s);
    for (let k = 0; k < t.length; k += 3) {
      const at = out.length;
      out.push(t[k]!, w.st[t[k + 1]!]!, w.en[t[k + 2]! - 1]!, word);
      const text = texts?.get(k / 3);
      if (text !== undefined && text !== m.unigram.byId[t[k]!]) out.setOverride(at, text);
    }
  }

  /** Tokens of a raw GPT-2 word: (id, start, end) with offsets in the word's UTF-16 units. */
  private byteLevelWord(piece: string): Int32Array {
    let r = this.wordCache.get(piece);
    if (r !== undefined) return r;
    // Byte characters, and for each the units of the character it came from.
    let mapped = '';
    const bs: number[] = [];
    const be: number[] = [];
    for (let i = 0; i < piece.length; ) {
      const cp = piece.codePointAt(i)!;
      const len = cp > 0xffff ? 2 : 1;
      const add = (b: number): void => {
        mapped += BYTE_CHARS[b]!;
        bs.push(i);
        be.push(i + len);
      };
      if (cp < 0x80) add(cp);
      else if (cp < 0x800) {
        add(0xc0 | (cp >> 6));
        add(0x80 | (cp & 63));
      } else if (cp < 0x10000) {
        add(0xe0 | (cp >> 12));
        add(0x80 | ((cp >> 6) & 63));
        add(0x80 | (cp & 63));
      } else {
        add(0xf0 | (cp >> 18));
        add(0x80 | ((cp >> 12) & 63));
        add(0x80 | ((cp >> 6) & 63));
        add(0x80 | (cp & 63));
      }
      i += len;
    }
    const t = (this.model as { bpe: BpeModel }).bpe.tokenize(mapped);
    r = new Int32Array(t.length);
    for (let k = 0; k < t.length; k += 3) {
      r[k] = t[k]!;
      r[k + 1] = bs[t[k + 1]!]!;
      r[k + 2] = be[t[k + 2]! - 1]!;
    }
    if (this.wordCache.size >= BYTE_LIMIT) this.wordCache.clear();
    this.wordCache.set(piece, r);
    return r;
  }

  private byteLevelRange(text: string, from: number, to: number, out: TokenBuffer, word: number): number {
    if (from >= to) return word;
    let seg = text.slice(from, to);
    // add_prefix_space: a space before the first character, sharing its span.
    const prefix = this.byteLevel!.addPrefixSpace && seg.charCodeAt(0) !== 0x20;
    const firstLen = seg.codePointAt(0)! > 0xffff ? 2 : 1;
    if (prefix) seg = ' ' + seg;
    const re = GPT2_SPLIT;
    re.lastIndex = 0;
    for (let m = re.exec(seg); m; m = re.exec(seg)) {
      const piece = m[0];
      const p0 = m.index;
      const t = this.byteLevelWord(piece);
      for (let k = 0; k < t.length; k += 3) {
        const s0 = p0 + t[k + 1]!;
        const e0 = p0 + t[k + 2]!;
        let s: number;
        let e: number;
        if (prefix) {
          s = s0 === 0 ? from : from + s0 - 1;
          e = e0 === 1 ? from + firstLen : from + e0 - 1;
        } else {
          s = from + s0;
          e = from + e0;
        }
        out.push(t[k]!, s, e, word);
      }
      word++;
    }
    return word;
  }
}
