/**
 * The Tokenizer: Hugging Face tokenization (WordPiece, byte-level BPE, Unigram) with `tokenizers`'
 * semantics for added and special tokens, post-processing templates, truncation (with overflow
 * windows), padding and decoding. Options live in options.ts, truncation windows in
 * truncation.ts, padding in padding.ts, decoders in decoders.ts; this file puts them together.
 *
 * Semantics worth knowing:
 *  - Truncation tokenizes the whole text and then cuts, as `tokenizers` up to 0.22 does (0.23.x
 *    stops early and drops overflow windows: huggingface/tokenizers#2091, an unfixed regression).
 *  - An empty pair `encode(text, '')` is a pair with an empty second sequence, as in `tokenizers`;
 *    transformers' `tok(text, '')` drops it (pass no pair for that).
 *  - Unpaired surrogates read as U+FFFD (what the napi binding hands Rust), which clean_text deletes;
 *    offsets still index the caller's string.
 *  - Where Hugging Face raises, this throws InvalidInputError with its message; where it would
 *    silently misbehave (maxLength shorter than the special tokens, which wraps around in Rust), this
 *    throws too.
 */
import { InvalidInputError } from '../errors.js';
import { checkOptionNames } from '../options.js';
import { AddedMatcher, type AddedToken, type MatchRule } from './added.js';
import { TokenBuffer } from './buffer.js';
import type { ModelVocab } from './bpe.js';
import { NormBuffer } from './core.js';
import { cleanUpTokenization } from './decoders.js';
import { BatchEncoding, Encoding, type TokenNamer } from './encoding.js';
import {
  checkPadding,
  checkTruncation,
  DECODE_OPTIONS,
  PADDING_PARAMS,
  TRUNCATION_PARAMS,
  isInt,
  resolveOptions,
  type DecodeOptions,
  type EncodeInput,
  type EncodeOptions,
  type OptionDefaults,
  type PaddingParams,
  type Resolved,
  type Side,
  type TruncationParams,
} from './options.js';
import { padBatch } from './padding.js';
import { pushSpecial, trimOffsets, writeTemplate } from './post-process.js';
import type { SequenceModel } from './pipeline.js';
import type { TokenizerSpec } from './spec.js';
import { planWindows } from './truncation.js';

export type {
  DecodeOptions,
  EncodeInput,
  EncodeOptions,
  PaddingParams,
  Side,
  TruncationParams,
  TruncationStrategy,
} from './options.js';
export type { TemplatePiece, TokenizerSpec } from './spec.js';

const NONE: [number, number][] = [];

function wellFormed(s: string): string {
  const str = s as string & { isWellFormed?: () => boolean; toWellFormed?: () => string };
  if (typeof str.isWellFormed === 'function') return str.isWellFormed() ? s : str.toWellFormed!();
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/**
 * A tokenizer (WordPiece, byte-level BPE or Unigram). Build one with `loadTokenizer(dir)`, `tokenizerFromJSON(json)` or
 * `tokenizerFromVocab(vocab, options)`; it is immutable apart from its default truncation/padding,
 * and cheap to call from anywhere (no I/O, no async).
 *
 *   const enc = tok.encode('Where is it?', 'It is here.', { maxLength: 128, truncation: 'only_second', stride: 32 });
 *   const batch = tok.encodeBatch(texts, { padding: true });   // batch.inputIds: Int32Array rows
 *   tok.decode(enc.ids, { skipSpecialTokens: true });
 */
/**
 * Instances are functions (so that `tokenizer(text)` works, as in transformers): the constructor
 * returns a function whose prototype is the subclass's.
 */
class CallableBase {
  constructor() {
    const call = function (...args: unknown[]): unknown {
      return (call as unknown as Tokenizer).encodeAny(...(args as Parameters<Tokenizer['encodeAny']>));
    };
    return Object.setPrototypeOf(call, new.target.prototype) as CallableBase;
  }
}

/**
 * `tokenizer(text)`, `tokenizer(text, pair)`, `tokenizer(text, pair, options)`,
 * `tokenizer(text, options)`: encode; `tokenizer(texts, options)`: encodeBatch (as transformers'
 * `tokenizer(...)`; padding and truncation only when asked for).
 */
export interface Tokenizer {
  (text: string, pair?: string | null, options?: EncodeOptions): Encoding;
  (text: string, options: EncodeOptions): Encoding;
  (texts: readonly EncodeInput[], options?: EncodeOptions): BatchEncoding;
}

export class Tokenizer extends CallableBase implements TokenNamer {
  /** The longest input the model accepts (tokenizer_config's `model_max_length`), or Infinity. */
  readonly modelMaxLength: number;
  /** Named special tokens: { cls_token: '[CLS]', sep_token: '[SEP]', … }. */
  readonly specialTokens: Readonly<Record<string, string>>;
  /**
   * The model's continuing-subword prefix ("##" for WordPiece), or null when its pieces do not
   * mark words (SentencePiece Unigram, byte-level BPE): transformers' token-classification then
   * finds words by a spacing heuristic.
   */
  readonly continuingSubwordPrefix: string | null;
  /** Default for `decode`'s `cleanUpTokenizationSpaces`. */
  readonly cleanUpTokenizationSpaces: boolean;
  readonly truncationSide: Side;
  readonly paddingSide: Side;

  private readonly spec: TokenizerSpec;
  private readonly vocab: ModelVocab;
  private readonly model: SequenceModel;
  private readonly rules: MatchRule[];
  private readonly rawMatcher: AddedMatcher;
  private readonly normMatcher: AddedMatcher | null;
  private readonly addedById = new Map<number, AddedToken>();
  /** Decoding form of each added token (its normalised form when matched normalised). */
  private readonly addedDecodeForm = new Map<number, string>();
  private readonly specialSet = new Set<string>();
  private readonly addedByContent = new Map<string, number>();
  private truncation: TruncationParams | null;
  private padding: PaddingParams | null;
  private reference = false;
  /**
   * Tokens per character seen so far (English with a real vocabulary: ~0.2): sizes the next
   * batch's buffer so that tiny or byte-level vocabularies do not regrow it on every call.
   */
  private tokensPerChar = 0.2;
  private defaults: OptionDefaults | null = null;

  /** @internal use `loadTokenizer`, `Tokenizer.fromTokenizerJson` or `Tokenizer.fromVocab`. */
  constructor(spec: TokenizerSpec) {
    super();
    this.spec = spec;
    this.model = spec.model;
    this.vocab = spec.model.vocab;
    this.modelMaxLength = spec.modelMaxLength;
    this.specialTokens = Object.freeze({ ...spec.specialTokens });
    this.cleanUpTokenizationSpaces = spec.cleanUpTokenizationSpaces;
    this.continuingSubwordPrefix = spec.continuingSubwordPrefix === undefined ? '##' : spec.continuingSubwordPrefix;
    this.truncationSide = spec.truncationSide;
    this.paddingSide = spec.paddingSide;
    this.truncation = spec.truncation;
    this.padding = spec.padding;

    const rawRules: MatchRule[] = [];
    const normRules: MatchRule[] = [];
    for (const t of spec.addedTokens) {
      this.addedById.set(t.id, t);
      this.addedByContent.set(t.content, t.id);
      if (t.special) this.specialSet.add(t.content);
      const rule: MatchRule = { id: t.id, content: t.content, singleWord: t.singleWord, lstrip: t.lstrip, rstrip: t.rstrip, wholeWhitespaceWord: false };
      if (t.normalized) {
        const nb = new NormBuffer();
        this.model.normalizeInto(t.content, 0, t.content.length, nb);
        const form = nb.toString();
        if (form !== t.content) this.addedDecodeForm.set(t.id, form);
        normRules.push({ ...rule, content: form });
      } else {
        rawRules.push(rule);
      }
    }
    for (const w of spec.neverSplit) {
      if (!w || this.addedByContent.has(w)) continue;
      rawRules.push({ id: this.vocab.map.get(w) ?? spec.unkId, content: w, singleWord: false, lstrip: false, rstrip: false, wholeWhitespaceWord: true });
    }
    this.rules = rawRules;
    this.rawMatcher = new AddedMatcher(rawRules);
    this.normMatcher = normRules.length ? new AddedMatcher(normRules) : null;
    for (const tmpl of [spec.single, spec.pair]) {
      for (const p of tmpl) {
        if (p.kind === 'special' && p.ids.length !== p.tokens.length) {
          throw new InvalidInputError('a template special token needs as many ids as tokens');
        }
      }
    }
  }

  // ---- vocabulary -----------------------------------------------------------------------------

  /** Size of the vocabulary including added tokens. */
  get vocabSize(): number {
    let n = this.vocab.size;
    for (const t of this.addedById.values()) if (!this.vocab.map.has(t.content)) n++;
    return n;
  }

  /** token → id (added tokens first, then the WordPiece vocabulary). */
  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token) ?? this.vocab.map.get(token);
  }

  /** id → token string, or undefined for an unknown id. */
  idToToken(id: number): string | undefined {
    const added = this.addedById.get(id);
    if (added) return this.addedDecodeForm.get(id) ?? added.content;
    return this.vocab.byId[id];
  }

  /** @internal the token string of an id produced by the model or a template. */
  defaultToken(id: number): string {
    return this.vocab.byId[id] ?? this.addedById.get(id)?.content ?? '';
  }

  /** A copy of the vocabulary, added tokens included. */
  getVocab(): Map<string, number> {
    const m = new Map(this.vocab.map);
    for (const [c, id] of this.addedByContent) m.set(c, id);
    return m;
  }

  /** Number of special tokens the template adds to a single sequence or a pair. */
  numSpecialTokensToAdd(pair = false): number {
    let n = 0;
    for (const p of pair ? this.spec.pair : this.spec.single) if (p.kind === 'special') n += p.ids.length;
    return n;
  }

  get padTokenId(): number | undefined {
    if (this.padding) return this.padding.padId;
    const t = this.specialTokens['pad_token'];
    return t === undefined ? undefined : this.tokenToId(t);
  }

  // ---- default truncation / padding (what tokenizer.json stores) -------------------------------

  /** The truncation applied when a call does not say otherwise (tokenizer.json's `truncation`). */
  getTruncation(): TruncationParams | null {
    return this.truncation ? { ...this.truncation } : null;
  }

  /** The padding applied when a call does not say otherwise (tokenizer.json's `padding`). */
  getPadding(): PaddingParams | null {
    return this.padding ? { ...this.padding } : null;
  }

  /** Sets (or with null, removes) the default truncation, like `tokenizers`' enable/no_truncation. */
  setTruncation(params: (Partial<TruncationParams> & { maxLength: number }) | null): void {
    if (params === null) {
      this.truncation = null;
      this.defaults = null;
      return;
    }
    checkOptionNames(params, TRUNCATION_PARAMS, 'setTruncation() params');
    const t: TruncationParams = {
      maxLength: params.maxLength,
      strategy: params.strategy ?? 'longest_first',
      stride: params.stride ?? 0,
      direction: params.direction ?? 'right',
    };
    checkTruncation(t, this.numSpecialTokensToAdd(false));
    this.truncation = t;
    this.defaults = null;
  }

  /** Sets (or with null, removes) the default padding, like `tokenizers`' enable/no_padding. */
  setPadding(params: Partial<PaddingParams> | null): void {
    if (params === null) {
      this.padding = null;
      this.defaults = null;
      return;
    }
    checkOptionNames(params, PADDING_PARAMS, 'setPadding() params');
    const base = this.padDefaults();
    const p: PaddingParams = {
      strategy: params.strategy ?? (params.maxLength !== undefined ? 'max_length' : 'longest'),
      maxLength: params.maxLength,
      padToMultipleOf: params.padToMultipleOf,
      direction: params.direction ?? this.paddingSide,
      padId: params.padId ?? base?.padId ?? 0,
      padTypeId: params.padTypeId ?? 0,
      padToken: params.padToken ?? base?.padToken ?? '[PAD]',
    };
    checkPadding(p);
    this.padding = p;
    this.defaults = null;
  }

  private padDefaults(): { padId: number; padToken: string } | null {
    if (this.padding) return { padId: this.padding.padId, padToken: this.padding.padToken };
    const t = this.specialTokens['pad_token'];
    if (t === undefined) return null;
    const id = this.tokenToId(t);
    return id === undefined ? null : { padId: id, padToken: t };
  }

  private resolve(options: EncodeOptions | undefined, batch: boolean): Resolved {
    // Built once per default settings: encode() is called per request.
    const d = (this.defaults ??= {
      truncation: this.truncation,
      padding: this.padding,
      modelMaxLength: this.modelMaxLength,
      truncationSide: this.truncationSide,
      paddingSide: this.paddingSide,
      numSpecialSingle: this.numSpecialTokensToAdd(false),
      padDefaults: () => this.padDefaults(),
    });
    return resolveOptions(options, batch, d);
  }

  // ---- special tokens (transformers' names) ---------------------------------------------------

  get unkToken(): string | undefined {
    return this.specialTokens['unk_token'];
  }
  get sepToken(): string | undefined {
    return this.specialTokens['sep_token'];
  }
  get padToken(): string | undefined {
    return this.padding?.padToken ?? this.specialTokens['pad_token'];
  }
  get clsToken(): string | undefined {
    return this.specialTokens['cls_token'];
  }
  get maskToken(): string | undefined {
    return this.specialTokens['mask_token'];
  }
  get unkTokenId(): number | undefined {
    return this.#idOf(this.unkToken);
  }
  get sepTokenId(): number | undefined {
    return this.#idOf(this.sepToken);
  }
  get clsTokenId(): number | undefined {
    return this.#idOf(this.clsToken);
  }
  get maskTokenId(): number | undefined {
    return this.#idOf(this.maskToken);
  }
  /** Every special token (named ones and additional ones), as transformers' `all_special_tokens`. */
  get allSpecialTokens(): string[] {
    return [...new Set([...Object.values(this.specialTokens), ...this.specialSet])];
  }
  get allSpecialIds(): number[] {
    return this.allSpecialTokens.map((t) => this.tokenToId(t)).filter((id): id is number => id !== undefined);
  }

  #idOf(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.tokenToId(token);
  }

  /**
   * @internal The files (name → contents) from which loadTokenizer builds this same tokenizer:
   * the folder's own files as read, or files stating the options that overrode them.
   */
  sourceFiles(): Record<string, string> {
    return this.spec.files ? this.spec.files() : {};
  }

  // ---- encoding -------------------------------------------------------------------------------

  /** @internal tests: route everything through the step-by-step reference pipeline. */
  _useReferencePipeline(on: boolean): void {
    this.reference = on;
  }

  /** Tokenizes one sequence (no special tokens) into `out`: ids, offsets, word ids. */
  private encodeSequence(text: string, out: TokenBuffer): void {
    const s0 = out.length;
    this.encodeAdded(text, out);
    if (this.spec.trimOffsets) trimOffsets(out, s0, text, this.spec.trimOffsets.addPrefixSpace, this);
  }

  /** Splits around the added tokens matched in the raw text and encodes the rest. */
  private encodeAdded(text: string, out: TokenBuffer): void {
    const rules = this.rules;
    if (!this.rawMatcher.mayMatch(text, 0, text.length)) {
      this.encodeSegment(text, 0, text.length, out, 0);
      return;
    }
    const splits = this.rawMatcher.split(text, 0, text.length);
    let word = 0;
    for (let k = 0; k < splits.length; k += 3) {
      const s = splits[k]!;
      const e = splits[k + 1]!;
      const r = splits[k + 2]!;
      if (r < 0) {
        word = this.encodeSegment(text, s, e, out, word);
      } else {
        const rule = rules[r]!;
        const at = out.length;
        out.push(rule.id, s, e, word++);
        // An added token's string is the text it matched (whitespace it swallowed included); a
        // never_split word is its vocabulary entry, or the unknown token.
        if (!rule.wholeWhitespaceWord) {
          const value = text.slice(s, e);
          if (value !== this.defaultToken(rule.id)) out.setOverride(at, value);
        }
      }
    }
  }

  private encodeSegment(text: string, s: number, e: number, out: TokenBuffer, word: number): number {
    if (this.normMatcher === null || (this.model.identityNormalizer && !this.normMatcher.mayMatch(text, s, e))) {
      return this.reference ? this.model.encodeRangeReference(text, s, e, out, word) : this.model.encodeRange(text, s, e, out, word);
    }
    if (this.model.identityNormalizer) {
      // Normalising changes nothing: match the `normalized` added tokens in the text itself.
      const splits = this.normMatcher.split(text, s, e);
      for (let k = 0; k < splits.length; k += 3) {
        const a = splits[k]!;
        const b = splits[k + 1]!;
        const r = splits[k + 2]!;
        if (r < 0) word = this.reference ? this.model.encodeRangeReference(text, a, b, out, word) : this.model.encodeRange(text, a, b, out, word);
        else {
          const id = this.normMatcher.rules[r]!.id;
          const at = out.length;
          out.push(id, a, b, word++);
          const value = text.slice(a, b);
          if (value !== this.defaultToken(id)) out.setOverride(at, value);
        }
      }
      return word;
    }
    const nb = new NormBuffer();
    this.model.normalizeInto(text, s, e, nb);
    const ns = nb.toString();
    const splits = this.normMatcher.split(ns, 0, ns.length);
    const rules = this.normMatcher.rules;
    for (let k = 0; k < splits.length; k += 3) {
      const a = splits[k]!;
      const b = splits[k + 1]!;
      const r = splits[k + 2]!;
      if (r < 0) {
        word = this.model.pretokenizeUnits(nb, a, b, out, word);
      } else {
        const id = rules[r]!.id;
        const at = out.length;
        out.push(id, nb.starts[a]!, nb.ends[b - 1]!, word++);
        const value = ns.slice(a, b);
        if (value !== this.defaultToken(id)) out.setOverride(at, value);
      }
    }
    return word;
  }

  /**
   * Encodes one input into `out` (the main encoding) and `ovf` (its overflow windows); returns
   * the overflow windows as [start, length] pairs in `ovf`.
   */
  private encodeOne(text: string, pair: string | undefined, r: Resolved, out: TokenBuffer, ovf: () => TokenBuffer): [number, number][] {
    const isPair = pair !== undefined;
    const tmpl = isPair ? this.spec.pair : this.spec.single;
    const p0 = out.length;
    let aStart = -1;
    let aLen = 0;
    let bStart = -1;
    let bLen = 0;
    for (const p of tmpl) {
      if (p.kind === 'special') {
        if (r.addSpecial) pushSpecial(out, p, this);
        continue;
      }
      const s = out.length;
      if (p.seq === 0) {
        if (aStart >= 0) out.append(out, aStart, aLen);
        else {
          this.encodeSequence(text, out);
          aStart = s;
          aLen = out.length - s;
        }
        out.mark(s, out.length, p.typeId, 0);
      } else if (isPair) {
        if (bStart >= 0) out.append(out, bStart, bLen);
        else {
          this.encodeSequence(pair, out);
          bStart = s;
          bLen = out.length - s;
        }
        out.mark(s, out.length, p.typeId, 1);
      }
    }
    const t = r.trunc;
    if (!t) return NONE;
    const nAdded = r.addSpecial ? this.numSpecialTokensToAdd(isPair) : 0;
    if (r.addSpecial && t.maxLength < nAdded) {
      throw new InvalidInputError(`maxLength ${t.maxLength} is shorter than the ${nAdded} special tokens the template adds`);
    }
    const budget = t.maxLength - nAdded;
    if (aLen + bLen <= budget) return NONE;

    // Truncation needed: take the sequences out and rebuild.
    const a = new TokenBuffer(aLen + 1);
    a.append(out, aStart, aLen);
    const b = isPair ? new TokenBuffer(bLen + 1) : null;
    if (b) b.append(out, bStart, bLen);
    out.length = p0;
    if (out.tokenOverrides) for (const k of [...out.tokenOverrides.keys()]) if (k >= p0) out.tokenOverrides.delete(k);

    const { aw, bw } = planWindows(aLen, b ? bLen : null, budget, t);
    writeTemplate(this, this.spec.typeIdsAllZero, out, tmpl, r.addSpecial, a, aw[0]!, true, b, bw ? bw[0]! : null, true);
    if (aw.length === 1 && (!bw || bw.length === 1)) return NONE;
    const o = ovf();
    const res: [number, number][] = [];
    const emit = (ai: number, bi: number): void => {
      const s = o.length;
      writeTemplate(this, this.spec.typeIdsAllZero, o, tmpl, r.addSpecial, a, aw[ai]!, ai === 0, b, bw ? bw[bi]! : null, bi === 0);
      // Without a post-processor `tokenizers` never sets the windows' sequence ranges, and an
      // encoding without them reports every token as sequence 0.
      if (!this.spec.hasPostProcessor) o.seqs.fill(0, s, o.length);
      res.push([s, o.length - s]);
    };
    const nb = bw ? bw.length : 1;
    for (let i = 1; i < aw.length; i++) {
      emit(i, 0);
      for (let j = 1; j < nb; j++) emit(i, j);
    }
    for (let j = 1; j < nb; j++) emit(0, j);
    return res;
  }

  private checkText(x: unknown, what: string): string {
    if (typeof x !== 'string') throw new InvalidInputError(`${what} must be a string, got ${x === null ? 'null' : typeof x}`);
    return wellFormed(x);
  }

  private run(inputs: [string, string | undefined][], r: Resolved): BatchEncoding {
    let chars = 0;
    for (const [a, b] of inputs) chars += a.length + (b ? b.length : 0);
    // Sized from the ratio seen so far; the buffer still grows if this text needs more.
    const main = new TokenBuffer(Math.min(Math.ceil(chars * this.tokensPerChar) + inputs.length * 4 + 16, 1 << 26));
    let ovfBuf: TokenBuffer | null = null;
    const getOvf = (): TokenBuffer => (ovfBuf ??= new TokenBuffer(256));
    const starts = new Int32Array(inputs.length + 1);
    const overflows: [number, number][][] = new Array(inputs.length);
    let anyOverflow = false;
    for (let i = 0; i < inputs.length; i++) {
      const [a, b] = inputs[i]!;
      const o = this.encodeOne(a, b, r, main, getOvf);
      overflows[i] = o;
      if (o.length) anyOverflow = true;
      starts[i + 1] = main.length;
    }
    if (chars > 0) this.tokensPerChar = Math.min(2, Math.max(this.tokensPerChar, main.length / chars));
    let mainOut = main;
    let mainStarts: Int32Array = starts;
    let ovfOut = ovfBuf as TokenBuffer | null;
    let ovfRows = overflows;
    if (r.pad) {
      const p = padBatch(main, starts, ovfBuf, overflows, r.pad, (id) => this.defaultToken(id));
      mainOut = p.main;
      mainStarts = p.starts;
      ovfOut = p.ovf;
      ovfRows = p.ovfRows;
    }
    const encodings: Encoding[] = [];
    const mapping: number[] = [];
    for (let i = 0; i < inputs.length; i++) {
      const rows = ovfRows[i]!;
      const ov = rows.length ? rows.map(([s, n]) => new Encoding(ovfOut!, s, n, this)) : undefined;
      const enc = new Encoding(mainOut, mainStarts[i]!, mainStarts[i + 1]! - mainStarts[i]!, this, ov);
      encodings.push(enc);
      mapping.push(i);
      if (r.flatten && ov) {
        for (const e of ov) {
          encodings.push(e);
          mapping.push(i);
        }
      }
    }
    const packedSource = r.flatten && anyOverflow ? null : { buf: main, cuSeqlens: starts };
    return new BatchEncoding(encodings, Int32Array.from(mapping), packedSource);
  }

  /**
   * Encodes a text, or a pair of texts (sentence pairs, question + context).
   * `tok.encode(text, options)` is accepted for single texts.
   */
  encode(text: string, pair?: string | null | EncodeOptions, options?: EncodeOptions): Encoding {
    if (pair !== undefined && pair !== null && typeof pair === 'object') {
      if (options !== undefined) throw new InvalidInputError('encode(text, pair, options): the pair must be a string');
      options = pair;
      pair = undefined;
    }
    const t = this.checkText(text, 'text');
    const p = pair === undefined || pair === null ? undefined : this.checkText(pair, 'pair');
    const r = this.resolve(options, false);
    return this.run([[t, p]], r).encodings[0]!;
  }

  /** Encodes many texts or [text, pair] tuples at once; see BatchEncoding. */
  encodeBatch(inputs: readonly EncodeInput[], options?: EncodeOptions): BatchEncoding {
    if (!Array.isArray(inputs)) throw new InvalidInputError('encodeBatch expects an array of strings or [text, pair] tuples');
    const r = this.resolve(options, true);
    const list: [string, string | undefined][] = new Array(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      const x: unknown = inputs[i];
      if (typeof x === 'string') list[i] = [wellFormed(x), undefined];
      else if (Array.isArray(x) && (x.length === 1 || x.length === 2)) {
        list[i] = [this.checkText(x[0], `inputs[${i}][0]`), x.length === 2 && x[1] !== null && x[1] !== undefined ? this.checkText(x[1], `inputs[${i}][1]`) : undefined];
      } else {
        throw new InvalidInputError(`inputs[${i}] must be a string or a [text, pair] tuple`);
      }
    }
    return this.run(list, r);
  }

  // ---- decoding -------------------------------------------------------------------------------

  /** What calling the tokenizer does: encodeBatch for an array, encode otherwise. */
  encodeAny(text: string | readonly EncodeInput[], pair?: string | null | EncodeOptions, options?: EncodeOptions): Encoding | BatchEncoding {
    if (Array.isArray(text)) {
      if (options !== undefined || (pair !== undefined && (pair === null || typeof pair !== 'object'))) {
        throw new InvalidInputError('tokenizer(texts, options): a batch takes [text, pair] tuples, not a separate pair');
      }
      return this.encodeBatch(text, pair as EncodeOptions | undefined);
    }
    return this.encode(text as string, pair, options);
  }

  /** Turns ids back into text, joining `##` pieces (Hugging Face's WordPiece decoder). */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    if (ids === null || typeof ids !== 'object' || typeof (ids as ArrayLike<number>).length !== 'number') {
      throw new InvalidInputError('decode expects an array of token ids');
    }
    checkOptionNames(options, DECODE_OPTIONS, 'decode() options');
    const skip = options.skipSpecialTokens ?? false;
    const cleanUp = options.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!isInt(id) || id < 0 || id > 0xffffffff) throw new InvalidInputError(`token ids must be non-negative integers, got ${String(id)} at ${i}`);
      const tok = this.idToToken(id);
      if (tok === undefined) continue; // as tokenizers: unknown ids are dropped
      if (skip && this.specialSet.has(tok)) continue;
      tokens.push(tok);
    }
    const d = this.spec.decoder;
    const text = d ? d(tokens).join('') : tokens.join(' ');
    return cleanUp ? cleanUpTokenization(text) : text;
  }

  /**
   * transformers' `convert_tokens_to_string` for a fast tokenizer: the decoder over token strings
   * (no special-token filtering, no clean-up); tokens joined by spaces without a decoder.
   */
  convertTokensToString(tokens: readonly string[]): string {
    if (!Array.isArray(tokens) || tokens.some((x) => typeof x !== 'string')) throw new InvalidInputError('convertTokensToString expects an array of strings');
    const d = this.spec.decoder;
    return d ? d([...tokens]).join('') : tokens.join(' ');
  }

  decodeBatch(batch: readonly ArrayLike<number>[], options?: DecodeOptions): string[] {
    if (!Array.isArray(batch)) throw new InvalidInputError('decodeBatch expects an array of id arrays');
    return batch.map((ids) => this.decode(ids, options));
  }

  /** Tokens of a text without special tokens (like transformers' `tokenize`). */
  tokenize(text: string, pair?: string): string[] {
    return this.encode(text, pair ?? null, { addSpecialTokens: false, truncation: false, padding: false }).tokens;
  }
}
