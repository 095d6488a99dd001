/**
 * The invariant every fuzz target checks: bertkit answers bad input with a typed BertError (or
 * succeeds); any other exception is a finding. Shared by the targets (fuzz/targets/*.fuzz.ts).
 */
import { BertError } from '../src-ts/errors.js';

/** Thrown for a broken invariant: the driver (and Jazzer.js) record the input as a finding. */
export class Finding extends Error {
  override get name(): string {
    return 'Finding';
  }
}

/** Runs `fn`; a BertError is an accepted answer, anything else thrown is a finding. */
export function typed<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BertError) return undefined;
    throw finding(err);
  }
}

export async function typedAsync<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BertError) return undefined;
    throw finding(err);
  }
}

function finding(err: unknown): Finding {
  const e = err as Error;
  return new Finding(`not a BertError: ${e?.name ?? typeof err}: ${e?.message ?? String(err)}`, { cause: err });
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Finding(message);
}

/** UTF-16 text from bytes, lone surrogates included (little-endian code units). */
export function utf16(data: Uint8Array): string {
  const n = data.length >> 1;
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(data[2 * i]! | (data[2 * i + 1]! << 8));
  return s;
}
