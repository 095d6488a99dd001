/** Small helpers the pipelines share: argument checks and token-string joining (numbers: util/math.ts). */
import { InvalidInputError } from '../errors.js';
import { checkOptionNames } from '../options.js';
import type { EncodeOptions, Tokenizer } from '../tokenizer/index.js';
import { checkBatchSize } from './base.js';

export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x;
}

/** A string (possibly empty unless `nonEmpty`), or an InvalidInputError naming `what`. */
export function checkString(x: unknown, what: string, nonEmpty = false): string {
  if (typeof x !== 'string') throw new InvalidInputError(`${what} must be a string, got ${describe(x)}`);
  if (nonEmpty && x.trim() === '') throw new InvalidInputError(`${what} cannot be empty`);
  return x;
}

/**
 * Options objects: undefined → {}, anything but a plain object → InvalidInputError, and so is a
 * key outside `names` (with the name meant: `top_k` → `topK`).
 */
export function checkOptions<T extends object>(x: unknown, names: readonly string[], what = 'options'): Partial<T> {
  if (x === undefined || x === null) return {};
  if (typeof x !== 'object' || Array.isArray(x)) throw new InvalidInputError(`${what} must be an object, got ${describe(x)}`);
  checkOptionNames(x, names, what);
  return x as Partial<T>;
}

/** One item or a non-empty array of items: returns the list and whether an array was given. */
export function asBatch<T>(inputs: unknown, check: (x: unknown, what: string) => T, what = 'inputs'): { items: T[]; batched: boolean } {
  if (Array.isArray(inputs)) {
    if (inputs.length === 0) throw new InvalidInputError(`${what} is an empty array: give at least one input`);
    return { items: inputs.map((x, i) => check(x, `${what}[${i}]`)), batched: true };
  }
  return { items: [check(inputs, what)], batched: false };
}

export function resolveBatchSize(callValue: unknown, pipelineValue: number | undefined): number {
  if (callValue !== undefined) return checkBatchSize(callValue);
  return pipelineValue ?? 32;
}

const ENCODE_KEYS = ['truncation', 'maxLength', 'padding', 'padToMultipleOf', 'truncationSide', 'paddingSide', 'addSpecialTokens'];

/** `tokenizeOptions` (transformers' tokenizer kwargs): an object of EncodeOptions keys. */
export function checkTokenizeOptions(x: unknown): EncodeOptions {
  return checkOptions<EncodeOptions>(x, ENCODE_KEYS, 'tokenizeOptions') as EncodeOptions;
}

/**
 * What the pipelines pass to the tokenizer for the task's own inputs: no padding and no truncation
 * unless the call's tokenizeOptions ask for them. As transformers' tokenizer call, this overrides
 * any truncation or padding stored in tokenizer.json; a `maxLength` alone turns truncation on.
 */
export function encodeOptions(user: EncodeOptions): EncodeOptions {
  const truncation = user.truncation === undefined && user.maxLength === undefined ? { truncation: false } : {};
  return { padding: false, ...truncation, ...user, returnOverflowing: false };
}

/**
 * transformers' `convert_tokens_to_string` for a fast tokenizer: the tokenizer's decoder over token
 * strings (WordPiece: `##` pieces glued to the previous token, then the decoder's cleanup), or the
 * tokens joined by spaces when the tokenizer has no decoder.
 */
export function tokensToString(tokenizer: Tokenizer, tokens: readonly string[]): string {
  return tokenizer.convertTokensToString(tokens);
}

/** Python's len(): code points. */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
