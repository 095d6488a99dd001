/** A mistake in the command line itself: the CLI prints it with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override get name(): string {
    return 'UsageError';
  }
}

/** One input that is not what the command takes (a JSON line without "text"): reported for that line, the others go on. */
export class InputError extends UsageError {
  override get name(): string {
    return 'InputError';
  }
}

export function positiveInt(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${option} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

export function nonNegativeInt(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${option} must be a whole number ≥ 0, got ${JSON.stringify(value)}`);
  return n;
}

export function oneOf<T extends string>(value: string | undefined, option: string, allowed: readonly T[], fallback: T): T;
export function oneOf<T extends string>(value: string | undefined, option: string, allowed: readonly T[]): T | undefined;
export function oneOf<T extends string>(value: string | undefined, option: string, allowed: readonly T[], fallback?: T): T | undefined {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${option} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}
