/** What each command accepts as one input: a text line, or a JSON Lines value of a few shapes. */
import { InputError } from './usage.js';
import type { Input } from './io.js';
import { isObject } from '../util/checks.js';

/** A required string field of an object input. */
export function field(input: Input, name: string, value: unknown = input.value): string {
  const v = isObject(value) ? value[name] : undefined;
  if (typeof v !== 'string') throw new InputError(`${input.where}: needs a string "${name}"`);
  return v;
}

/** A text: a line, a JSON string, or {"text": ...}. */
export function textOf(input: Input): string {
  if (typeof input.value === 'string') return input.value;
  if (isObject(input.value)) return field(input, 'text');
  throw new InputError(`${input.where}: expected a string or {"text": ...}`);
}

/** A text or a pair: a line, a JSON string, ["a", "b"], or {"text": ..., "text_pair": ...}. */
export function textPairOf(input: Input): { text: string; pair?: string } {
  const v = input.value;
  if (typeof v === 'string') return { text: v };
  if (Array.isArray(v) && (v.length === 1 || v.length === 2) && v.every((x) => typeof x === 'string')) {
    return v.length === 2 ? { text: v[0] as string, pair: v[1] as string } : { text: v[0] as string };
  }
  if (isObject(v)) {
    const text = field(input, 'text');
    const pair = v.text_pair;
    if (pair === undefined || pair === null) return { text };
    if (typeof pair !== 'string') throw new InputError(`${input.where}: "text_pair" must be a string`);
    return { text, pair };
  }
  throw new InputError(`${input.where}: expected a string, ["text", "pair"] or {"text": ..., "text_pair": ...}`);
}
