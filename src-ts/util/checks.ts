/** Argument checks shared by every layer; imports only errors.ts (itself a leaf). */
import { InvalidInputError } from '../errors.js';

/** A plain object (not null, not an array): a JSON object as parsed. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function positiveInt(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) throw new InvalidInputError(`${what} must be a positive integer, got ${String(x)}`);
  return x;
}

export function nonNegativeInt(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) throw new InvalidInputError(`${what} must be a non-negative integer, got ${String(x)}`);
  return x;
}

export function nonNegative(x: unknown, what: string): number {
  if (typeof x !== 'number' || !(x >= 0) || !Number.isFinite(x)) throw new InvalidInputError(`${what} must be a non-negative number, got ${String(x)}`);
  return x;
}

/** A timeout in ms; undefined, null and Infinity mean none. */
export function optionalTimeout(x: unknown, what: string): number | null {
  if (x === undefined || x === null || x === Infinity) return null;
  if (typeof x !== 'number' || !(x > 0) || !Number.isFinite(x)) throw new InvalidInputError(`${what} must be a positive number of milliseconds, got ${String(x)}`);
  return x;
}
