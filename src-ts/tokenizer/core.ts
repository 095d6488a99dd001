/**
 * The tokenization core: BertNormalizer → BertPreTokenizer → WordPiece on one stretch of text,
 * writing token ids, UTF-16 offsets into the caller's string and word indexes into a TokenBuffer.
 *
 * Two implementations of the same semantics live here:
 *  - `encodeRange`, the fused single pass used in production. Each UTF-16 unit is classified once
 *    per tokenizer (a 64K table, filled lazily); runs of characters that normalise to themselves
 *    (ASCII letters and digits, lowercased on the fly, and most other BMP letters) are never copied:
 *    WordPiece walks the vocabulary trie directly over the caller's string. Only words that contain
 *    a character the normaliser changes or deletes go through a small word buffer.
 *  - `encodeRangeReference`, which follows the Rust pipeline step by step (normalise the whole
 *    stretch with alignments, then split, then WordPiece). It serves `normalized: true` added tokens,
 *    which must be matched in the normalised text, and the tests compare the two on large corpora.
 *
 * Every normalised character keeps the original span of the character it came from, which is
 * exactly what `tokenizers`' NormalizedString alignments give for these normalisers (its inserted
 * characters inherit the span of the character they were inserted after, i.e. the same one), so a
 * token's offsets are (start of its first character, end of its last). The one exception is NFD's
 * canonical reordering under strip_accents, where Rust hands spans out by position: `normalizeInto`
 * reproduces it, and the fused scanner sends the rare words it can affect (a surviving mark with a
 * combining class, e.g. U+1D165) there.
 */
import type { TokenBuffer } from './buffer.js';
import {
  cccRank,
  isChineseChar,
  isNonspacingMark,
  isPunctuation,
  isRemovedByCleanText,
  isWhitespace,
  lowercase,
  nfd,
} from './unicode.js';
import type { Vocab } from './vocab.js';

export interface NormalizerOptions {
  cleanText: boolean;
  handleChineseChars: boolean;
  stripAccents: boolean;
  lowercase: boolean;
}

export interface WordPieceOptions {
  unkId: number;
  maxInputCharsPerWord: number;
}

// Per-unit kinds of the fused scanner.
const K_UNSEEN = 0;
/** Maps to itself and belongs to a word. */
const K_WORD = 1;
const K_REMOVE = 2;
const K_WS = 3;
/** Maps to itself and is punctuation: a word of its own. */
const K_PUNCT = 4;
/** Anything else in the BMP: see its CharInfo. */
const K_COMPLEX = 5;
const K_HIGH_SURROGATE = 6;
/** ASCII A–Z under lowercasing: unit + 32, same offsets. */
const K_UPPER = 7;

const ASTRAL_CACHE = 4096;

// Kinds of the characters a normalised character expands to.
const O_PLAIN = 0;
const O_WS = 1;
const O_PUNCT = 2;

/** What one input character becomes. */
interface CharInfo {
  remove: boolean;
  ws: boolean;
  /** A CJK ideograph under handle_chinese_chars: a word of its own. */
  isolated: boolean;
  /** Normalised code points and their kinds (whitespace / punctuation can appear, e.g. U+1FEF → `). */
  outCps: number[];
  outKinds: number[];
  /** Id of the one-character word for punctuation outputs. */
  outIds: number[];
  /** For an isolated character that normalises to one plain character: its word's id. */
  isoId: number;
  /**
   * Under strip_accents: its decomposition holds a non-starter that survives (a spacing mark with a
   * combining class). Canonical reordering can then move it, and `tokenizers` aligns reordered
   * characters by position, so the word is redone by the exact pipeline.
   */
  reorder: boolean;
}

/** Normalises one character (strip_accents, then lowercase); clean_text and CJK are separate. */
export function normalizeChar(cp: number, o: NormalizerOptions): string {
  let s: string;
  if (o.stripAccents) {
    s = '';
    for (const ch of nfd(cp)) if (!isNonspacingMark(ch.codePointAt(0)!)) s += ch;
  } else {
    s = String.fromCodePoint(cp);
  }
  return o.lowercase ? lowercase(s) : s;
}

/** Normalised text with the original UTF-16 span of every unit. */
export class NormBuffer {
  units = new Uint16Array(256);
  starts = new Int32Array(256);
  ends = new Int32Array(256);
  length = 0;

  push(unit: number, start: number, end: number): void {
    if (this.length === this.units.length) {
      const n = this.length * 2;
      const u = new Uint16Array(n);
      u.set(this.units);
      this.units = u;
      const s = new Int32Array(n);
      s.set(this.starts);
      this.starts = s;
      const e = new Int32Array(n);
      e.set(this.ends);
      this.ends = e;
    }
    this.units[this.length] = unit;
    this.starts[this.length] = start;
    this.ends[this.length] = end;
    this.length++;
  }

  pushString(s: string, start: number, end: number): void {
    for (let i = 0; i < s.length; i++) this.push(s.charCodeAt(i), start, end);
  }

  toString(from = 0, to = this.length): string {
    let out = '';
    for (let i = from; i < to; i += 8192) {
      out += String.fromCharCode(...this.units.subarray(i, Math.min(to, i + 8192)));
    }
    return out;
  }
}

export class WordPieceCore {
  readonly norm: NormalizerOptions;
  readonly vocab: Vocab;
  readonly unkId: number;
  readonly maxChars: number;
  /** BertNormalizer always has work to do (SequenceModel). */
  readonly identityNormalizer = false;

  private readonly kinds = new Uint8Array(0x10000);
  private readonly punctIds = new Int32Array(0x10000);
  private readonly bmpInfo = new Map<number, CharInfo>();
  /** Astral characters: a bounded direct-mapped cache (hostile input cannot grow it). */
  private readonly astralKeys = new Int32Array(ASTRAL_CACHE).fill(-1);
  private readonly astralVals: (CharInfo | undefined)[] = new Array<CharInfo | undefined>(ASTRAL_CACHE).fill(undefined);

  // The word buffer of the fused scanner (normalised units of the current word and their spans).
  private wb: NormBuffer = new NormBuffer();
  private wbChars = 0;
  private wbFirst = -1;
  private wbLast = -1;
  /** Cap on stored units: past it the word is certainly longer than maxChars. */
  private readonly wbCap: number;
  /** The current word must be redone by the exact pipeline (see CharInfo.reorder). */
  private exactWord = false;
  private readonly nb = new NormBuffer();
  /** The trie alphabet with A–Z mapped like a–z. */
  private readonly alphaLower: Int32Array;

  constructor(vocab: Vocab, norm: NormalizerOptions, wp: WordPieceOptions) {
    this.vocab = vocab;
    this.norm = { ...norm };
    this.unkId = wp.unkId;
    this.maxChars = wp.maxInputCharsPerWord;
    this.wbCap = Math.min(2 * this.maxChars + 2, 0x7fffffff);
    this.alphaLower = vocab.da.alpha.slice();
    for (let c = 0x41; c <= 0x5a; c++) this.alphaLower[c] = vocab.da.alpha[c + 32]!;
    // Eagerly classify ASCII: it is where the time goes.
    for (let c = 0; c < 0x80; c++) this.classifyUnit(c);
  }

  /** Id of a one-character word (WordPiece on a single character). */
  private singleCharId(s: string): number {
    if (this.maxChars < 1) return this.unkId;
    return this.vocab.map.get(s) ?? this.unkId;
  }

  private computeInfo(cp: number): CharInfo {
    const o = this.norm;
    const info: CharInfo = { remove: false, ws: false, isolated: false, outCps: [], outKinds: [], outIds: [], isoId: -1, reorder: false };
    if (o.cleanText && isRemovedByCleanText(cp)) {
      info.remove = true;
      return info;
    }
    if (isWhitespace(cp)) {
      info.ws = true;
      return info;
    }
    info.isolated = o.handleChineseChars && isChineseChar(cp);
    const out = normalizeChar(cp, o);
    for (const ch of out) {
      const c = ch.codePointAt(0)!;
      info.outCps.push(c);
      if (isWhitespace(c)) {
        info.outKinds.push(O_WS);
        info.outIds.push(-1);
      } else if (isPunctuation(c)) {
        info.outKinds.push(O_PUNCT);
        info.outIds.push(this.singleCharId(ch));
      } else {
        info.outKinds.push(O_PLAIN);
        info.outIds.push(-1);
      }
    }
    if (info.isolated && info.outCps.length === 1 && info.outKinds[0] === O_PLAIN) info.isoId = this.singleCharId(out);
    if (o.stripAccents) {
      for (const ch of nfd(cp)) {
        const c = ch.codePointAt(0)!;
        if (cccRank(c) !== 0 && !isNonspacingMark(c)) info.reorder = true;
      }
    }
    return info;
  }

  private classifyUnit(c: number): number {
    let k: number;
    if (c >= 0xd800 && c <= 0xdbff) {
      k = K_HIGH_SURROGATE;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      // Unreachable for well-formed input (callers fix lone surrogates first).
      k = K_COMPLEX;
      this.bmpInfo.set(c, this.computeInfo(0xfffd));
    } else {
      const info = this.computeInfo(c);
      if (info.remove) k = K_REMOVE;
      else if (info.ws) k = K_WS;
      else if (!info.isolated && !info.reorder && info.outCps.length === 1 && info.outCps[0] === c) {
        if (info.outKinds[0] === O_PUNCT) {
          k = K_PUNCT;
          this.punctIds[c] = info.outIds[0]!;
        } else {
          k = K_WORD;
        }
      } else if (c >= 0x41 && c <= 0x5a && info.outCps.length === 1 && info.outCps[0] === c + 32) {
        k = K_UPPER;
      } else {
        k = K_COMPLEX;
        this.bmpInfo.set(c, info);
      }
    }
    this.kinds[c] = k;
    return k;
  }

  private infoOf(cp: number): CharInfo {
    const slot = (cp ^ (cp >>> 12)) & (ASTRAL_CACHE - 1);
    if (this.astralKeys[slot] === cp) return this.astralVals[slot]!;
    const info = this.computeInfo(cp);
    this.astralKeys[slot] = cp;
    this.astralVals[slot] = info;
    return info;
  }

  // ---- WordPiece -------------------------------------------------------------------------------

  /**
   * Greedy longest-match WordPiece over text[s, e), a word whose normalised form is the text itself
   * with A–Z lowercased when `lower` (so offsets are the unit positions). Returns the next word index.
   */
  private wordpieceText(text: string, s: number, e: number, lower: boolean, out: TokenBuffer, word: number): number {
    if (e - s > this.maxChars) {
      out.push(this.unkId, s, e, word);
      return word + 1;
    }
    const da = this.vocab.da;
    // With lowercasing, A–Z read as a–z straight from the alphabet table.
    const alpha = lower ? this.alphaLower : da.alpha;
    const base = da.base;
    const check = da.check;
    const term = da.term;
    const cont = this.vocab.contSlot;
    const mark = out.length;
    let pos = s;
    while (pos < e) {
      // Walk the trie from the word start (or the `##` node) as far as it goes; remember the
      // longest prefix that is a vocabulary entry.
      let node = pos === s ? 0 : cont;
      let best = -1;
      let bestId = -1;
      let j = pos;
      while (node >= 0 && j < e) {
        const code = alpha[text.charCodeAt(j)]!;
        const t = base[node]! + code;
        if (code === 0 || check[t] !== node) break;
        node = t;
        j++;
        const id = term[t]!;
        if (id >= 0) {
          best = j;
          bestId = id;
        }
      }
      if (best < 0) {
        out.length = mark;
        out.push(this.unkId, s, e, word);
        return word + 1;
      }
      out.push(bestId, pos, best, word);
      pos = best;
    }
    return word + 1;
  }

  /** Greedy longest-match WordPiece over normalised units [from, to) of `nb`. */
  private wordpieceUnits(nb: NormBuffer, from: number, to: number, chars: number, out: TokenBuffer, word: number): number {
    const units = nb.units;
    const starts = nb.starts;
    const ends = nb.ends;
    if (chars > this.maxChars) {
      out.push(this.unkId, starts[from]!, ends[to - 1]!, word);
      return word + 1;
    }
    const da = this.vocab.da;
    const alpha = da.alpha;
    const base = da.base;
    const check = da.check;
    const term = da.term;
    const cont = this.vocab.contSlot;
    const checkSurrogates = this.vocab.endsInHighSurrogate;
    const mark = out.length;
    let pos = from;
    while (pos < to) {
      let node = pos === from ? 0 : cont;
      let best = -1;
      let bestId = -1;
      let j = pos;
      while (node >= 0 && j < to) {
        const code = alpha[units[j]!]!;
        const t = base[node]! + code;
        if (code === 0 || check[t] !== node) break;
        node = t;
        j++;
        const id = term[t]!;
        // A match may only end on a character boundary (Rust slices by chars).
        if (id >= 0 && !(checkSurrogates && j < to && units[j]! >= 0xdc00 && units[j]! <= 0xdfff && units[j - 1]! >= 0xd800 && units[j - 1]! <= 0xdbff)) {
          best = j;
          bestId = id;
        }
      }
      if (best < 0) {
        out.length = mark;
        out.push(this.unkId, starts[from]!, ends[to - 1]!, word);
        return word + 1;
      }
      out.push(bestId, starts[pos]!, ends[best - 1]!, word);
      pos = best;
    }
    return word + 1;
  }

  // ---- the word buffer of the fused scanner ---------------------------------------------------

  private wbReset(): void {
    this.wb.length = 0;
    this.wbChars = 0;
    this.wbFirst = -1;
  }

  private wbPushCp(cp: number, start: number, end: number): void {
    if (this.wbFirst < 0) this.wbFirst = start;
    this.wbLast = end;
    this.wbChars++;
    const wb = this.wb;
    if (wb.length >= this.wbCap) return;
    if (cp < 0x10000) {
      wb.push(cp, start, end);
    } else {
      wb.push(0xd800 + ((cp - 0x10000) >> 10), start, end);
      wb.push(0xdc00 + ((cp - 0x10000) & 0x3ff), start, end);
    }
  }

  /** Copies the simple-mode word text[s, e) into the word buffer. */
  private wbFromText(text: string, s: number, e: number, lower: boolean): void {
    for (let j = s; j < e; j++) {
      let u = text.charCodeAt(j);
      if (lower && u >= 0x41 && u <= 0x5a) u += 32;
      this.wbPushCp(u, j, j + 1);
    }
  }

  private wbFlush(out: TokenBuffer, word: number): number {
    if (this.wbChars === 0) return word;
    let w: number;
    if (this.wbChars > this.maxChars) {
      out.push(this.unkId, this.wbFirst, this.wbLast, word);
      w = word + 1;
    } else {
      w = this.wordpieceUnits(this.wb, 0, this.wb.length, this.wbChars, out, word);
    }
    this.wbReset();
    return w;
  }

  /** Flushes a buffered word whose characters span text[regionStart, regionEnd). */
  private flushGeneral(text: string, regionStart: number, regionEnd: number, out: TokenBuffer, word: number): number {
    if (!this.exactWord) return this.wbFlush(out, word);
    this.exactWord = false;
    this.wbReset();
    const nb = this.nb;
    nb.length = 0;
    this.normalizeInto(text, regionStart, regionEnd, nb);
    return this.pretokenizeUnits(nb, 0, nb.length, out, word);
  }

  // ---- the fused scanner ----------------------------------------------------------------------

  /**
   * Tokenizes text[from, to) (well-formed UTF-16) into `out`, numbering words from `word`.
   * Returns the next word index.
   */
  encodeRange(text: string, from: number, to: number, out: TokenBuffer, word: number): number {
    const kinds = this.kinds;
    const lower = this.norm.lowercase;
    // Current word: either "simple" (text[wStart, wEnd), normalised in place) or in the buffer.
    let wStart = -1;
    let wEnd = -1;
    let general = false;
    // Where the run of non-boundary characters holding the current word began.
    let region = from;
    this.wbReset();
    this.exactWord = false;
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i);
      let k = kinds[c]!;
      if (k === K_UNSEEN) k = this.classifyUnit(c);
      if (k === K_WORD || k === K_UPPER) {
        if (general) {
          this.wbPushCp(k === K_UPPER ? c + 32 : c, i, i + 1);
        } else if (wStart < 0) {
          wStart = i;
          wEnd = i + 1;
        } else if (wEnd === i) {
          wEnd = i + 1;
        } else {
          // A deleted character sits inside the word: its pieces are no longer contiguous.
          this.wbFromText(text, wStart, wEnd, lower);
          wStart = -1;
          general = true;
          this.wbPushCp(k === K_UPPER ? c + 32 : c, i, i + 1);
        }
        continue;
      }
      if (k === K_WS || k === K_PUNCT) {
        if (general) {
          word = this.flushGeneral(text, region, i, out, word);
          general = false;
        } else if (wStart >= 0) {
          word = this.wordpieceText(text, wStart, wEnd, lower, out, word);
          wStart = -1;
        }
        if (k === K_PUNCT) out.push(this.punctIds[c]!, i, i + 1, word++);
        region = i + 1;
        continue;
      }
      if (k === K_REMOVE) continue;
      // A character that the normaliser rewrites, a CJK ideograph, or an astral character.
      let info: CharInfo;
      let len = 1;
      if (k === K_HIGH_SURROGATE) {
        const lo = i + 1 < to ? text.charCodeAt(i + 1) : 0;
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          info = this.infoOf(((c - 0xd800) << 10) + (lo - 0xdc00) + 0x10000);
          len = 2;
        } else {
          info = this.infoOf(0xfffd);
        }
      } else {
        info = this.bmpInfo.get(c)!;
      }
      const end = i + len;
      if (info.remove) {
        i = end - 1;
        continue;
      }
      if (info.ws || info.isolated) {
        if (general) {
          word = this.flushGeneral(text, region, i, out, word);
          general = false;
        } else if (wStart >= 0) {
          word = this.wordpieceText(text, wStart, wEnd, lower, out, word);
          wStart = -1;
        }
        region = end;
        if (info.ws) {
          i = end - 1;
          continue;
        }
        if (info.isoId >= 0) {
          out.push(info.isoId, i, end, word++);
          i = end - 1;
          continue;
        }
      }
      const cps = info.outCps;
      for (let j = 0; j < cps.length; j++) {
        const ok = info.outKinds[j]!;
        if (ok === O_PLAIN) {
          if (!general) {
            if (wStart >= 0) this.wbFromText(text, wStart, wEnd, lower);
            wStart = -1;
            general = true;
          }
          if (info.reorder) this.exactWord = true;
          this.wbPushCp(cps[j]!, i, end);
        } else {
          if (general) {
            word = this.flushGeneral(text, region, i, out, word);
            general = false;
          } else if (wStart >= 0) {
            word = this.wordpieceText(text, wStart, wEnd, lower, out, word);
            wStart = -1;
          }
          if (ok === O_PUNCT) out.push(info.outIds[j]!, i, end, word++);
          region = end;
        }
      }
      if (info.isolated) {
        if (general) {
          word = this.flushGeneral(text, region, end, out, word);
          general = false;
        }
        region = end;
      }
      i = end - 1;
    }
    if (general) word = this.flushGeneral(text, region, to, out, word);
    else if (wStart >= 0) word = this.wordpieceText(text, wStart, wEnd, lower, out, word);
    return word;
  }

  // ---- the step-by-step reference pipeline ------------------------------------------------------

  /**
   * BertNormalizer over text[from, to), appending to `nb` (deleted characters leave no trace).
   * With strip_accents this reproduces the Rust NFD exactly: decompositions are canonically
   * reordered across characters (stable sort of each run of non-starters by combining class), and
   * each output character takes the span of the input character at the same position, as
   * `NormalizedString::transform` assigns them (a character that is not the first of its
   * decomposition takes the span of the previous one).
   */
  normalizeInto(text: string, from: number, to: number, nb: NormBuffer): void {
    const o = this.norm;
    if (!o.stripAccents) {
      for (let i = from; i < to; ) {
        let cp = text.codePointAt(i)!;
        const len = cp > 0xffff ? 2 : 1;
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
        const end = i + len;
        if (o.cleanText && isRemovedByCleanText(cp)) {
          // deleted
        } else if (o.cleanText && isWhitespace(cp)) {
          nb.push(0x20, i, end);
        } else if (o.handleChineseChars && isChineseChar(cp)) {
          nb.push(0x20, i, end);
          nb.pushString(normalizeChar(cp, o), i, end);
          nb.push(0x20, i, end);
        } else {
          nb.pushString(normalizeChar(cp, o), i, end);
        }
        i = end;
      }
      return;
    }
    // Spans of the characters entering NFD, and the NFD items waiting for their run to end.
    let inS: number[] = [];
    let inE: number[] = [];
    let ptr = 0;
    let lastS = from;
    let lastE = from;
    const pCp: number[] = [];
    const pFirst: boolean[] = [];
    const pRank: number[] = [];
    const lower = o.lowercase;
    const emit = (cp: number, first: boolean): void => {
      if (first) {
        lastS = inS[ptr]!;
        lastE = inE[ptr]!;
        ptr++;
      }
      if (isNonspacingMark(cp)) return;
      const ch = String.fromCodePoint(cp);
      nb.pushString(lower ? lowercase(ch) : ch, lastS, lastE);
    };
    const flush = (): void => {
      const n = pCp.length;
      if (n > 1) {
        // Stable sort of the run by combining class (a leading starter, rank 0, stays first).
        const idx = Array.from({ length: n }, (_, k) => k);
        idx.sort((x, y) => pRank[x]! - pRank[y]! || x - y);
        for (const k of idx) emit(pCp[k]!, pFirst[k]!);
      } else {
        for (let k = 0; k < n; k++) emit(pCp[k]!, pFirst[k]!);
      }
      pCp.length = 0;
      pFirst.length = 0;
      pRank.length = 0;
      if (ptr > 4096) {
        inS = inS.slice(ptr);
        inE = inE.slice(ptr);
        ptr = 0;
      }
    };
    const feed = (cp: number, s: number, e: number): void => {
      inS.push(s);
      inE.push(e);
      let first = true;
      for (const ch of nfd(cp)) {
        const c = ch.codePointAt(0)!;
        const r = cccRank(c);
        if (r === 0) flush();
        pCp.push(c);
        pFirst.push(first);
        pRank.push(r);
        first = false;
      }
    };
    for (let i = from; i < to; ) {
      let cp = text.codePointAt(i)!;
      const len = cp > 0xffff ? 2 : 1;
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
      const end = i + len;
      if (o.cleanText && isRemovedByCleanText(cp)) {
        // deleted
      } else if (o.cleanText && isWhitespace(cp)) {
        feed(0x20, i, end);
      } else if (o.handleChineseChars && isChineseChar(cp)) {
        feed(0x20, i, end);
        feed(cp, i, end);
        feed(0x20, i, end);
      } else {
        feed(cp, i, end);
      }
      i = end;
    }
    flush();
  }

  /** BertPreTokenizer + WordPiece over normalised units [from, to) of `nb`. */
  pretokenizeUnits(nb: NormBuffer, from: number, to: number, out: TokenBuffer, word: number): number {
    let ws = -1;
    let chars = 0;
    const units = nb.units;
    for (let i = from; i < to; ) {
      let cp = units[i]!;
      let len = 1;
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < to && units[i + 1]! >= 0xdc00 && units[i + 1]! <= 0xdfff) {
        cp = ((cp - 0xd800) << 10) + (units[i + 1]! - 0xdc00) + 0x10000;
        len = 2;
      }
      if (isWhitespace(cp) || isPunctuation(cp)) {
        if (ws >= 0) word = this.wordpieceUnits(nb, ws, i, chars, out, word);
        ws = -1;
        chars = 0;
        if (!isWhitespace(cp)) word = this.wordpieceUnits(nb, i, i + len, 1, out, word);
      } else {
        if (ws < 0) ws = i;
        chars++;
      }
      i += len;
    }
    if (ws >= 0) word = this.wordpieceUnits(nb, ws, to, chars, out, word);
    return word;
  }

  /** The reference pipeline on text[from, to): normalise all of it, then split, then WordPiece. */
  encodeRangeReference(text: string, from: number, to: number, out: TokenBuffer, word: number): number {
    const nb = new NormBuffer();
    this.normalizeInto(text, from, to, nb);
    return this.pretokenizeUnits(nb, 0, nb.length, out, word);
  }
}
