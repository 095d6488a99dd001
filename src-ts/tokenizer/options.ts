/**
 * Encode options: their types, and how a call's options combine with the tokenizer's defaults
 * (tokenizer.json's stored truncation / padding, model_max_length) into what one call does.
 */
import { InvalidInputError } from '../errors.js';
import { checkOptionNames, optionNames } from '../options.js';
import { quote } from '../util/quote.js';

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

export type EncodeInput = string | readonly [string, string] | readonly [string];

/** What one call does, options and defaults combined. */
export interface Resolved {
  addSpecial: boolean;
  trunc: TruncationParams | null;
  pad: PaddingParams | null;
  flatten: boolean;
}

/** The tokenizer's side of option resolution. */
export interface OptionDefaults {
  truncation: TruncationParams | null;
  padding: PaddingParams | null;
  modelMaxLength: number;
  truncationSide: Side;
  paddingSide: Side;
  /** Special tokens the template adds to a single sequence. */
  numSpecialSingle: number;
  /** The pad token and its id, or null when the tokenizer has none. */
  padDefaults(): { padId: number; padToken: string } | null;
}

export function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

export function checkTruncation(t: TruncationParams, numSpecialSingle: number): void {
  if (!isInt(t.maxLength) || t.maxLength < 0) throw new InvalidInputError(`maxLength must be a non-negative integer, got ${String(t.maxLength)}`);
  if (!isInt(t.stride) || t.stride < 0) throw new InvalidInputError(`stride must be a non-negative integer, got ${String(t.stride)}`);
  if (!['longest_first', 'only_first', 'only_second'].includes(t.strategy)) throw new InvalidInputError(`unknown truncation strategy ${quote(t.strategy)}`);
  if (t.direction !== 'left' && t.direction !== 'right') throw new InvalidInputError(`truncation side must be 'left' or 'right'`);
  // tokenizers' `with_truncation` check.
  const effective = t.maxLength - numSpecialSingle;
  if (effective < t.stride) {
    throw new InvalidInputError(
      `tokenizer stride set to ${t.stride}, which is greater than or equal to its effective max length of ${effective} ` +
        `(= ${t.maxLength} original max length - ${numSpecialSingle} added special tokens)`,
    );
  }
}

export function checkPadding(p: PaddingParams): void {
  if (p.strategy !== 'longest' && p.strategy !== 'max_length') throw new InvalidInputError(`unknown padding strategy ${quote(p.strategy)}`);
  if (p.strategy === 'max_length' && (!isInt(p.maxLength) || p.maxLength < 0)) {
    throw new InvalidInputError(`padding to max_length needs a non-negative integer maxLength, got ${String(p.maxLength)}`);
  }
  if (p.padToMultipleOf !== undefined && p.padToMultipleOf !== null && (!isInt(p.padToMultipleOf) || p.padToMultipleOf < 0)) {
    throw new InvalidInputError(`padToMultipleOf must be a non-negative integer, got ${String(p.padToMultipleOf)}`);
  }
  if (p.direction !== 'left' && p.direction !== 'right') throw new InvalidInputError(`padding side must be 'left' or 'right'`);
}

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
export const TRUNCATION_PARAMS = optionNames<TruncationParams>({ maxLength: true, strategy: true, stride: true, direction: true });
export const PADDING_PARAMS = optionNames<PaddingParams>({ strategy: true, maxLength: true, padToMultipleOf: true, direction: true, padId: true, padTypeId: true, padToken: true });
export const DECODE_OPTIONS = optionNames<DecodeOptions>({ skipSpecialTokens: true, cleanUpTokenizationSpaces: true });

export function resolveOptions(options: EncodeOptions | undefined, batch: boolean, d: OptionDefaults): Resolved {
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
    const ml = maxLength ?? d.truncation?.maxLength ?? d.modelMaxLength;
    // As transformers: with no length to truncate to (no model_max_length), nothing is truncated.
    trunc = Number.isFinite(ml)
      ? {
          maxLength: ml,
          strategy: t === true ? (d.truncation?.strategy ?? 'longest_first') : t,
          stride: o.stride ?? d.truncation?.stride ?? 0,
          direction: o.truncationSide ?? d.truncation?.direction ?? d.truncationSide,
        }
      : null;
  } else if (t === undefined || t === null) {
    if (maxLength !== undefined && (padding === undefined || padding === null || padding === false || padding === 'do_not_pad')) {
      trunc = {
        maxLength,
        strategy: d.truncation?.strategy ?? 'longest_first',
        stride: o.stride ?? d.truncation?.stride ?? 0,
        direction: o.truncationSide ?? d.truncation?.direction ?? d.truncationSide,
      };
    } else if (d.truncation) {
      trunc = {
        ...d.truncation,
        stride: o.stride ?? d.truncation.stride,
        direction: o.truncationSide ?? d.truncation.direction,
      };
    } else {
      trunc = null;
    }
  } else {
    throw new InvalidInputError(`unknown truncation ${quote(t)}`);
  }
  if (trunc) checkTruncation(trunc, d.numSpecialSingle);

  // Padding.
  let pad: PaddingParams | null;
  if (padding === false || padding === 'do_not_pad') {
    pad = null;
  } else if (padding === true || padding === 'longest' || padding === 'max_length') {
    const base = d.padDefaults();
    if (!base) throw new InvalidInputError('padding was requested but the tokenizer has no padding token');
    let ml: number | undefined;
    if (padding === 'max_length') {
      ml = maxLength ?? (d.padding?.strategy === 'max_length' ? d.padding.maxLength : undefined) ?? d.modelMaxLength;
    }
    // As transformers: padding to an unknown max_length (no model_max_length) pads nothing.
    pad = !Number.isFinite(ml ?? 0) ? null : {
      strategy: padding === 'max_length' ? 'max_length' : 'longest',
      maxLength: ml,
      padToMultipleOf: o.padToMultipleOf ?? d.padding?.padToMultipleOf,
      direction: o.paddingSide ?? d.padding?.direction ?? d.paddingSide,
      padId: base.padId,
      padTypeId: d.padding?.padTypeId ?? 0,
      padToken: base.padToken,
    };
  } else if (padding === undefined || padding === null) {
    pad = d.padding
      ? {
          ...d.padding,
          padToMultipleOf: o.padToMultipleOf ?? d.padding.padToMultipleOf,
          direction: o.paddingSide ?? d.padding.direction,
        }
      : null;
  } else {
    throw new InvalidInputError(`unknown padding ${quote(padding)}`);
  }
  if (pad) checkPadding(pad);
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
