/**
 * Option-name checking shared by every public entry point: an options object with a key the
 * function does not know is an InvalidInputError naming the key, with the name meant
 * (`top_k` → `topK`, as people coming from transformers write snake_case). Imports nothing heavy.
 */
import { InvalidInputError } from './errors.js';

/**
 * The option names of an options type, checked by the compiler against the type: every key of
 * `T` must be listed (so a new option cannot be forgotten here) and nothing else may be.
 */
export function optionNames<T extends object>(names: { [K in keyof Required<T>]: true }): readonly string[] {
  return Object.freeze(Object.keys(names));
}

/** snake_case or kebab-case → camelCase (`top_k` → `topK`, `max-length` → `maxLength`). */
export function camelCase(name: string): string {
  return name.replace(/[_-]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The known name `key` most likely means: its camelCase form, a case slip, or a near spelling. */
export function suggestName(key: string, known: readonly string[]): string | undefined {
  const camel = camelCase(key);
  if (known.includes(camel)) return camel;
  const lower = camel.toLowerCase();
  const sameCase = known.find((k) => k.toLowerCase() === lower);
  if (sameCase) return sameCase;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // A typo is a letter or two; anything further is a different option.
  return bestDistance <= Math.min(2, Math.floor(lower.length / 3)) ? best : undefined;
}

/**
 * Throws InvalidInputError when `options` (an object, or undefined/null) has a key outside `known`.
 * `where` names the call in the message ('fill-mask options', 'loadModel() options').
 */
export function checkOptionNames(options: unknown, known: readonly string[], where: string): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidInputError(`${where} must be an object, got ${Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const suggestion = suggestName(key, known);
    throw new InvalidInputError(
      `${where}: unknown option ${JSON.stringify(key)}` +
        (suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : `; known options: ${known.join(', ')}`),
    );
  }
}

/** Both in one: the names of `T`, and a checker for them. */
export function optionChecker<T extends object>(names: { [K in keyof Required<T>]: true }, where: string): (options: unknown) => void {
  const known = optionNames<T>(names);
  return (options) => checkOptionNames(options, known, where);
}
