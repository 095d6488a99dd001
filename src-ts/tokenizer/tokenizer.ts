/**
 * The Tokenizer: Hugging Face BERT tokenization (WordPiece) with `tokenizers`' semantics for
 * special tokens, truncation (with overflow windows), padding and decoding.
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
import { checkOptionNames, optionNames } from '../options.js';
import { AddedMatcher, type AddedToken, type MatchRule } from './added.js';
import { TokenBuffer } from './buffer.js';
import { NormBuffer, WordPieceCore, type NormalizerOptions } from './core.js';
import { BatchEncoding, Encoding, type TokenNamer } from './encoding.js';
import type { Vocab } from './vocab.js';

export type TruncationStrategy = 'longest_first' | 'only_first' | 'only_second';
export type Side = 'left' | 'right';

/** Truncation as `tokenizers` stores it (`max_length` counts the special tokens). */
export interface TruncationParams {
  maxLength: number;
  strategy: TruncationStrategy;
  stride: number;
  direction: Side;
}

/** Padding as `tokenizers` stores it. */
export interface PaddingParams {
  /** `longest`: to the longest row of the batch; `max_length`: to `maxLength`. */
  strategy: 'longest' | 'max_length';
  maxLength?: number;
  padToMultipleOf?: number;
  direction: Side;
  padId: number;
  padTypeId: number;
  padToken: string;
}

export interface EncodeOptions {
  /** Add the template's special tokens ([CLS] … [SEP]). Default true. */
  addSpecialTokens?: boolean;
  /**
   * `true` / 'longest_first', 'only_first', 'only_second', or false. Left undefined, the tokenizer's
   * default applies (tokenizer.json's stored `truncation`, or none), except that a `maxLength`
   * given without padding to it turns on 'longest_first', as in transformers.
   */
  truncation?: boolean | TruncationStrategy | 'do_not_truncate';
  /** Length limit for truncation (special tokens included), and the target of `padding: 'max_length'`. */
  maxLength?: number;
  /** Tokens each overflow window repeats from the previous one. */
  stride?: number;
  truncationSide?: Side;
  /**
   * `true` / 'longest': pad to the longest row of the batch; 'max_length': to `maxLength`
   * (default: the model's maximum length); false: no padding. Undefined: the tokenizer's default.
   */
  padding?: boolean | 'longest' | 'max_length' | 'do_not_pad';
  padToMultipleOf?: number;
  paddingSide?: Side;
  /** encodeBatch only: also return each input's overflow windows as rows (see overflowToSampleMapping). */
  returnOverflowing?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens ([CLS], [SEP], [PAD], [UNK], [MASK], …). Default false. */
  skipSpecialTokens?: boolean;
  /**
   * transformers' `clean_up_tokenization_spaces` (" ." → ".", " n't" → "n't", …) over the whole
   * decoded string. Default: tokenizer_config.json's value, else false.
   */
  cleanUpTokenizationSpaces?: boolean;
}

export type TemplatePiece =
  | { kind: 'special'; ids: number[]; tokens: string[]; typeId: number }
  | { kind: 'sequence'; seq: 0 | 1; typeId: number };

export interface WordPieceDecoderSpec {
  prefix: string;
  cleanup: boolean;
}

/** Everything a loader works out; the Tokenizer is built from it. */
export interface TokenizerSpec {
  vocab: Vocab;
  unkToken: string;
  continuingSubwordPrefix: string;
  maxInputCharsPerWord: number;
  normalizer: NormalizerOptions;
  addedTokens: AddedToken[];
  /** Slow BertTokenizer's `never_split`: whitespace-delimited words kept whole. */
  neverSplit: string[];
  single: TemplatePiece[];
  pair: TemplatePiece[];
  decoder: WordPieceDecoderSpec | null;
  truncation: TruncationParams | null;
  padding: PaddingParams | null;
  modelMaxLength: number;
  cleanUpTokenizationSpaces: boolean;
  truncationSide: Side;
  paddingSide: Side;
  /** Named special tokens (cls_token, sep_token, …) as the configuration gives them. */
  specialTokens: Record<string, string>;
  /** False for a tokenizer.json without post_processor (its overflow windows report sequence 0 throughout). */
  hasPostProcessor: boolean;
  /** The files (name → contents) that build this same tokenizer again; what saving a model writes. */
  files?: () => Record<string, string>;
}

export type EncodeInput = string | readonly [string, string] | readonly [string];

interface Resolved {
  addSpecial: boolean;
  trunc: TruncationParams | null;
  pad: PaddingParams | null;
  flatten: boolean;
}

const NONE: [number, number][] = [];

const ENCODE_OPTIONS = optionNames<EncodeOptions>({
  addSpecialTokens: true,
  truncation: true,
  maxLength: true,
  stride: true,
  truncationSide: true,
  padding: true,
  padToMultipleOf: true,
  paddingSide: true,
  returnOverflowing: true,
});
const TRUNCATION_PARAMS = optionNames<TruncationParams>({ maxLength: true, strategy: true, stride: true, direction: true });
const PADDING_PARAMS = optionNames<PaddingParams>({ strategy: true, maxLength: true, padToMultipleOf: true, direction: true, padId: true, padTypeId: true, padToken: true });
const DECODE_OPTIONS = optionNames<DecodeOptions>({ skipSpecialTokens: true, cleanUpTokenizationSpaces: true });

/** Limit on pair overflow windows (their number grows as the product of both sequences' windows). */
const MAX_OVERFLOW_WINDOWS = 100_000;

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

function wellFormed(s: string): string {
  const str = s as string & { isWellFormed?: () => boolean; toWellFormed?: () => string };
  if (typeof str.isWellFormed === 'function') return str.isWellFormed() ? s : str.toWellFormed!();
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** transformers' `clean_up_tokenization` (the same replacements as the WordPiece decoder's, bar one). */
function cleanUpTokenization(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/** The Rust WordPiece decoder's per-token cleanup. */
function decoderCleanup(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(' do not', " don't")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/**
 * Splits one sequence's token count into windows: [start, stop) pairs, the first being what is
 * kept and the rest the overflow, exactly as `tokenizers`' `Encoding::truncate`.
 */
function windows(len: number, maxLen: number, stride: number, dir: Side): [number, number][] {
  if (maxLen >= len) return [[0, len]];
  if (maxLen === 0) return [[0, 0], [0, len]];
  if (stride >= maxLen) {
    // tokenizers' message (it panics there).
    throw new InvalidInputError(
      `\`stride\` must be strictly less than \`max_len=${maxLen}\` (note that \`max_len\` may be shorter than the max ` +
        'length of the original model, as it subtracts the number of special characters',
    );
  }
  const offset = maxLen - stride;
  const out: [number, number][] = [];
  if (dir === 'right') {
    for (let start = 0; start < len; start += offset) {
      const stop = Math.min(start + maxLen, len);
      out.push([start, stop]);
      if (stop === len) break;
    }
  } else {
    for (let last = len - 1; last >= 0; last -= offset) {
      const stop = last + 1;
      const start = Math.max(0, stop - maxLen);
      out.push([start, stop]);
      if (start === 0) break;
    }
  }
  return out;
}

/**
 * A BERT WordPiece tokenizer. Build one with `loadTokenizer(dir)`, `tokenizerFromJSON(json)` or
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
  /** Default for `decode`'s `cleanUpTokenizationSpaces`. */
  readonly cleanUpTokenizationSpaces: boolean;
  readonly truncationSide: Side;
  readonly paddingSide: Side;

  private readonly spec: TokenizerSpec;
  private readonly vocab: Vocab;
  private readonly core: WordPieceCore;
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

  /** @internal use `loadTokenizer`, `Tokenizer.fromTokenizerJson` or `Tokenizer.fromVocab`. */
  constructor(spec: TokenizerSpec) {
    super();
    this.spec = spec;
    this.vocab = spec.vocab;
    const unkId = spec.vocab.map.get(spec.unkToken);
    if (unkId === undefined) throw new InvalidInputError(`the vocabulary has no unknown token ${JSON.stringify(spec.unkToken)}`);
    this.core = new WordPieceCore(spec.vocab, spec.normalizer, { unkId, maxInputCharsPerWord: spec.maxInputCharsPerWord });
    this.modelMaxLength = spec.modelMaxLength;
    this.specialTokens = Object.freeze({ ...spec.specialTokens });
    this.cleanUpTokenizationSpaces = spec.cleanUpTokenizationSpaces;
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
        this.core.normalizeInto(t.content, 0, t.content.length, nb);
        const form = nb.toString();
        if (form !== t.content) this.addedDecodeForm.set(t.id, form);
        normRules.push({ ...rule, content: form });
      } else {
        rawRules.push(rule);
      }
    }
    for (const w of spec.neverSplit) {
      if (!w || this.addedByContent.has(w)) continue;
      rawRules.push({ id: this.vocab.map.get(w) ?? unkId, content: w, singleWord: false, lstrip: false, rstrip: false, wholeWhitespaceWord: true });
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
      return;
    }
    checkOptionNames(params, TRUNCATION_PARAMS, 'setTruncation() params');
    const t: TruncationParams = {
      maxLength: params.maxLength,
      strategy: params.strategy ?? 'longest_first',
      stride: params.stride ?? 0,
      direction: params.direction ?? 'right',
    };
    this.checkTruncation(t);
    this.truncation = t;
  }

  /** Sets (or with null, removes) the default padding, like `tokenizers`' enable/no_padding. */
  setPadding(params: Partial<PaddingParams> | null): void {
    if (params === null) {
      this.padding = null;
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
    this.checkPadding(p);
    this.padding = p;
  }

  private padDefaults(): { padId: number; padToken: string } | null {
    if (this.padding) return { padId: this.padding.padId, padToken: this.padding.padToken };
    const t = this.specialTokens['pad_token'];
    if (t === undefined) return null;
    const id = this.tokenToId(t);
    return id === undefined ? null : { padId: id, padToken: t };
  }

  private checkTruncation(t: TruncationParams): void {
    if (!isInt(t.maxLength) || t.maxLength < 0) throw new InvalidInputError(`maxLength must be a non-negative integer, got ${String(t.maxLength)}`);
    if (!isInt(t.stride) || t.stride < 0) throw new InvalidInputError(`stride must be a non-negative integer, got ${String(t.stride)}`);
    if (!['longest_first', 'only_first', 'only_second'].includes(t.strategy)) throw new InvalidInputError(`unknown truncation strategy ${JSON.stringify(t.strategy)}`);
    if (t.direction !== 'left' && t.direction !== 'right') throw new InvalidInputError(`truncation side must be 'left' or 'right'`);
    // tokenizers' `with_truncation` check.
    const effective = t.maxLength - this.numSpecialTokensToAdd(false);
    if (effective < t.stride) {
      throw new InvalidInputError(
        `tokenizer stride set to ${t.stride}, which is greater than or equal to its effective max length of ${effective} ` +
          `(= ${t.maxLength} original max length - ${this.numSpecialTokensToAdd(false)} added special tokens)`,
      );
    }
  }

  private checkPadding(p: PaddingParams): void {
    if (p.strategy !== 'longest' && p.strategy !== 'max_length') throw new InvalidInputError(`unknown padding strategy ${JSON.stringify(p.strategy)}`);
    if (p.strategy === 'max_length' && (!isInt(p.maxLength) || p.maxLength < 0)) {
      throw new InvalidInputError(`padding to max_length needs a non-negative integer maxLength, got ${String(p.maxLength)}`);
    }
    if (p.padToMultipleOf !== undefined && p.padToMultipleOf !== null && (!isInt(p.padToMultipleOf) || p.padToMultipleOf < 0)) {
      throw new InvalidInputError(`padToMultipleOf must be a non-negative integer, got ${String(p.padToMultipleOf)}`);
    }
    if (p.direction !== 'left' && p.direction !== 'right') throw new InvalidInputError(`padding side must be 'left' or 'right'`);
  }

  private resolve(options: EncodeOptions | undefined, batch: boolean): Resolved {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new InvalidInputError('options must be an object');
    }
    checkOptionNames(options, ENCODE_OPTIONS, batch ? 'encodeBatch() options' : 'encode() options');
    const o = options ?? {};
    const addSpecial = o.addSpecialTokens ?? true;
    if (typeof addSpecial !== 'boolean') throw new InvalidInputError('addSpecialTokens must be a boolean');
    if (o.maxLength !== undefined && o.maxLength !== null && (!isInt(o.maxLength) || o.maxLength < 0)) {
      throw new InvalidInputError(`maxLength must be a non-negative integer, got ${String(o.maxLength)}`);
    }
    const maxLength = o.maxLength ?? undefined;
    const padding = o.padding;

    // Truncation.
    let trunc: TruncationParams | null;
    const t = o.truncation;
    if (t === false || t === 'do_not_truncate') {
      trunc = null;
    } else if (t === true || t === 'longest_first' || t === 'only_first' || t === 'only_second') {
      const ml = maxLength ?? this.truncation?.maxLength ?? this.modelMaxLength;
      // As transformers: with no length to truncate to (no model_max_length), nothing is truncated.
      trunc = Number.isFinite(ml)
        ? {
            maxLength: ml,
            strategy: t === true ? (this.truncation?.strategy ?? 'longest_first') : t,
            stride: o.stride ?? this.truncation?.stride ?? 0,
            direction: o.truncationSide ?? this.truncation?.direction ?? this.truncationSide,
          }
        : null;
    } else if (t === undefined || t === null) {
      if (maxLength !== undefined && (padding === undefined || padding === null || padding === false || padding === 'do_not_pad')) {
        trunc = {
          maxLength,
          strategy: this.truncation?.strategy ?? 'longest_first',
          stride: o.stride ?? this.truncation?.stride ?? 0,
          direction: o.truncationSide ?? this.truncation?.direction ?? this.truncationSide,
        };
      } else if (this.truncation) {
        trunc = {
          ...this.truncation,
          stride: o.stride ?? this.truncation.stride,
          direction: o.truncationSide ?? this.truncation.direction,
        };
      } else {
        trunc = null;
      }
    } else {
      throw new InvalidInputError(`unknown truncation ${JSON.stringify(t)}`);
    }
    if (trunc) this.checkTruncation(trunc);

    // Padding.
    let pad: PaddingParams | null;
    if (padding === false || padding === 'do_not_pad') {
      pad = null;
    } else if (padding === true || padding === 'longest' || padding === 'max_length') {
      const base = this.padDefaults();
      if (!base) throw new InvalidInputError('padding was requested but the tokenizer has no padding token');
      let ml: number | undefined;
      if (padding === 'max_length') {
        ml = maxLength ?? (this.padding?.strategy === 'max_length' ? this.padding.maxLength : undefined) ?? this.modelMaxLength;
      }
      // As transformers: padding to an unknown max_length (no model_max_length) pads nothing.
      pad = !Number.isFinite(ml ?? 0) ? null : {
        strategy: padding === 'max_length' ? 'max_length' : 'longest',
        maxLength: ml,
        padToMultipleOf: o.padToMultipleOf ?? this.padding?.padToMultipleOf,
        direction: o.paddingSide ?? this.padding?.direction ?? this.paddingSide,
        padId: base.padId,
        padTypeId: this.padding?.padTypeId ?? 0,
        padToken: base.padToken,
      };
    } else if (padding === undefined || padding === null) {
      pad = this.padding
        ? {
            ...this.padding,
            padToMultipleOf: o.padToMultipleOf ?? this.padding.padToMultipleOf,
            direction: o.paddingSide ?? this.padding.direction,
          }
        : null;
    } else {
      throw new InvalidInputError(`unknown padding ${JSON.stringify(padding)}`);
    }
    if (pad) this.checkPadding(pad);
    if (trunc && pad && pad.padToMultipleOf && trunc.maxLength % pad.padToMultipleOf !== 0) {
      throw new InvalidInputError(
        `Truncation and padding are both activated but truncation length (${trunc.maxLength}) is not a multiple of padToMultipleOf (${pad.padToMultipleOf})`,
      );
    }
    const flatten = o.returnOverflowing ?? false;
    if (typeof flatten !== 'boolean') throw new InvalidInputError('returnOverflowing must be a boolean');
    if (flatten && !batch) throw new InvalidInputError('returnOverflowing applies to encodeBatch; use encoding.overflowing');
    return { addSpecial, trunc, pad, flatten };
  }

  // ---- encoding -------------------------------------------------------------------------------

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

  /** @internal tests: route everything through the step-by-step reference pipeline. */
  _useReferencePipeline(on: boolean): void {
    this.reference = on;
  }

  /** Tokenizes one sequence (no special tokens) into `out`: ids, offsets, word ids. */
  private encodeSequence(text: string, out: TokenBuffer): void {
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
    if (this.normMatcher === null) {
      return this.reference ? this.core.encodeRangeReference(text, s, e, out, word) : this.core.encodeRange(text, s, e, out, word);
    }
    const nb = new NormBuffer();
    this.core.normalizeInto(text, s, e, nb);
    const ns = nb.toString();
    const splits = this.normMatcher.split(ns, 0, ns.length);
    const rules = this.normMatcher.rules;
    for (let k = 0; k < splits.length; k += 3) {
      const a = splits[k]!;
      const b = splits[k + 1]!;
      const r = splits[k + 2]!;
      if (r < 0) {
        word = this.core.pretokenizeUnits(nb, a, b, out, word);
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

  private pushSpecial(out: TokenBuffer, p: { ids: number[]; tokens: string[]; typeId: number }): void {
    for (let i = 0; i < p.ids.length; i++) {
      const at = out.length;
      const id = p.ids[i]!;
      out.push(id, 0, 0, -1);
      out.typeIds[at] = p.typeId;
      out.seqs[at] = -1;
      const tok = p.tokens[i]!;
      if (tok !== this.vocab.byId[id] && tok !== this.defaultToken(id)) out.setOverride(at, tok);
    }
  }

  /**
   * Writes the template with windows of the tokenized sequences. Main windows take the template's
   * type ids; overflow windows keep the ids they were tokenized with (0 / 1), as in `tokenizers`.
   */
  private writeTemplate(
    out: TokenBuffer,
    tmpl: TemplatePiece[],
    addSpecial: boolean,
    a: TokenBuffer,
    aw: [number, number],
    aMain: boolean,
    b: TokenBuffer | null,
    bw: [number, number] | null,
    bMain: boolean,
  ): void {
    for (const p of tmpl) {
      if (p.kind === 'special') {
        if (addSpecial) this.pushSpecial(out, p);
        continue;
      }
      const s = out.length;
      if (p.seq === 0) {
        out.append(a, aw[0], aw[1] - aw[0]);
        out.mark(s, out.length, aMain ? p.typeId : 0, 0);
      } else if (b && bw) {
        out.append(b, bw[0], bw[1] - bw[0]);
        out.mark(s, out.length, bMain ? p.typeId : 1, 1);
      }
    }
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
        if (r.addSpecial) this.pushSpecial(out, p);
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

    let aw: [number, number][];
    let bw: [number, number][] | null = null;
    if (budget === 0) {
      aw = windows(aLen, 0, t.stride, t.direction);
      if (b) bw = windows(bLen, 0, t.stride, t.direction);
    } else if (t.strategy === 'longest_first') {
      if (b) {
        let n1 = aLen;
        let n2 = bLen;
        const swap = n1 > n2;
        if (swap) [n1, n2] = [n2, n1];
        n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
        if (n1 + n2 > budget) {
          n1 = Math.floor(budget / 2);
          n2 = n1 + (budget % 2);
        }
        if (swap) [n1, n2] = [n2, n1];
        aw = windows(aLen, n1, t.stride, t.direction);
        bw = windows(bLen, n2, t.stride, t.direction);
      } else {
        aw = windows(aLen, budget, t.stride, t.direction);
      }
    } else {
      const toRemove = aLen + bLen - budget;
      if (t.strategy === 'only_second' && !b) throw new InvalidInputError('Truncation error: Second sequence not provided');
      const targetLen = t.strategy === 'only_first' ? aLen : bLen;
      if (targetLen <= toRemove) {
        throw new InvalidInputError('Truncation error: Sequence to truncate too short to respect the provided max_length');
      }
      if (t.strategy === 'only_first') {
        aw = windows(aLen, aLen - toRemove, t.stride, t.direction);
        if (b) bw = [[0, bLen]];
      } else {
        aw = [[0, aLen]];
        bw = windows(bLen, bLen - toRemove, t.stride, t.direction);
      }
    }
    if (b && !bw) bw = [[0, bLen]];
    if (bw && aw.length * bw.length > MAX_OVERFLOW_WINDOWS) {
      throw new InvalidInputError(
        `truncating this pair would make ${aw.length * bw.length - 1} overflow windows (every window of the first ` +
          'sequence with every window of the second); use only_first / only_second or a larger maxLength',
      );
    }
    this.writeTemplate(out, tmpl, r.addSpecial, a, aw[0]!, true, b, bw ? bw[0]! : null, true);
    if (aw.length === 1 && (!bw || bw.length === 1)) return NONE;
    const o = ovf();
    const res: [number, number][] = [];
    const emit = (ai: number, bi: number): void => {
      const s = o.length;
      this.writeTemplate(o, tmpl, r.addSpecial, a, aw[ai]!, ai === 0, b, bw ? bw[bi]! : null, bi === 0);
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
    // English runs at ~5 characters a token; the buffers grow if the text needs more.
    const main = new TokenBuffer(Math.min(Math.ceil(chars / 5) + inputs.length * 4 + 16, 1 << 26));
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
    let mainOut = main;
    let mainStarts = starts;
    let ovfOut = ovfBuf as TokenBuffer | null;
    let ovfRows = overflows;
    const pad = r.pad;
    if (pad) {
      let target = 0;
      if (pad.strategy === 'max_length') target = pad.maxLength!;
      else for (let i = 0; i < inputs.length; i++) target = Math.max(target, starts[i + 1]! - starts[i]!);
      const m = pad.padToMultipleOf;
      if (m && m > 0 && target % m > 0) target += m - (target % m);
      const padRows = (src: TokenBuffer, rows: [number, number][], dst: TokenBuffer): [number, number][] =>
        rows.map(([s, n]) => {
          const at = dst.length;
          this.appendPadded(dst, src, s, n, target, pad);
          return [at, dst.length - at];
        });
      const rows: [number, number][] = [];
      for (let i = 0; i < inputs.length; i++) rows.push([starts[i]!, starts[i + 1]! - starts[i]!]);
      const needs = rows.some(([, n]) => n < target) || overflows.some((os) => os.some(([, n]) => n < target));
      if (needs) {
        mainOut = new TokenBuffer(Math.max(main.length, inputs.length * target) + 1);
        mainOut.attention = new Int32Array(mainOut.capacity);
        const padded = padRows(main, rows, mainOut);
        mainStarts = new Int32Array(inputs.length + 1);
        for (let i = 0; i < padded.length; i++) mainStarts[i] = padded[i]![0];
        mainStarts[inputs.length] = mainOut.length;
        if (ovfBuf) {
          const src: TokenBuffer = ovfBuf;
          const dst = new TokenBuffer(src.length + 16);
          dst.attention = new Int32Array(dst.capacity);
          ovfRows = overflows.map((os) => padRows(src, os, dst));
          ovfOut = dst;
        }
      }
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

  private appendPadded(dst: TokenBuffer, src: TokenBuffer, s: number, n: number, target: number, pad: PaddingParams): void {
    const padN = Math.max(0, target - n);
    const addPads = (): void => {
      if (!padN) return;
      dst.reserve(padN);
      const at = dst.length;
      const end = at + padN;
      dst.ids.fill(pad.padId, at, end);
      dst.typeIds.fill(pad.padTypeId, at, end);
      dst.starts.fill(0, at, end);
      dst.ends.fill(0, at, end);
      dst.words.fill(-1, at, end);
      dst.seqs.fill(-1, at, end);
      dst.attention!.fill(0, at, end);
      if (pad.padToken !== this.defaultToken(pad.padId)) for (let k = at; k < end; k++) dst.setOverride(k, pad.padToken);
      dst.length = end;
    };
    if (pad.direction === 'left') addPads();
    dst.append(src, s, n);
    if (pad.direction === 'right') addPads();
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
    let text: string;
    const d = this.spec.decoder;
    if (d) {
      text = '';
      for (let i = 0; i < tokens.length; i++) {
        let tok = tokens[i]!;
        if (i !== 0) tok = tok.startsWith(d.prefix) ? tok.slice(d.prefix.length) : ' ' + tok;
        if (d.cleanup) tok = decoderCleanup(tok);
        text += tok;
      }
    } else {
      text = tokens.join(' ');
    }
    return cleanUp ? cleanUpTokenization(text) : text;
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
