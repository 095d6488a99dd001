/** Shared by the pipeline tests: golden files, camelCase conversion, tolerant comparison. */
import { readFileSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { fixture } from './helpers/fixtures.js';

export const SCORE_TOL = 1e-4;
/** Golden scores closer than this are a near-tie: either order is accepted. */
export const TIE = 1e-6;

export function pipelineGolden(name: string): any {
  return JSON.parse(readFileSync(fixture('pipelines', name), 'utf8'));
}

const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** transformers' snake_case keys (kwargs, outputs) → bertkit's camelCase. */
export function camelKeys(x: any): any {
  if (Array.isArray(x)) return x.map(camelKeys);
  if (x !== null && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[camel(k)] = camelKeys(v);
    return out;
  }
  return x;
}

/** Turns JSON nulls of `top_k` etc. into what bertkit takes. */
export function kwargs(x: Record<string, unknown>): Record<string, unknown> {
  return camelKeys(x);
}

/**
 * Compares a list of scored items (sorted by score) with the golden list: same length, scores
 * within SCORE_TOL, every other field equal — where two golden scores are within TIE of each
 * other, the two items may come in either order.
 */
export function sameScoredList(t: ExecutionContext, actual: any[], expected: any[], where: string): void {
  t.is(actual.length, expected.length, `${where}: length`);
  const used = new Set<number>();
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    // Candidates: the item at i, or a near-tied neighbour.
    let match = -1;
    for (let j = 0; j < actual.length; j++) {
      if (used.has(j)) continue;
      if (j !== i && Math.abs(expected[j]?.score - e.score) > TIE) continue;
      if (sameFields(actual[j], e)) {
        match = j;
        break;
      }
    }
    if (match < 0) {
      t.fail(`${where}[${i}]: expected ${JSON.stringify(e)}, got ${JSON.stringify(actual[i])}`);
      continue;
    }
    used.add(match);
    const d = Math.abs(actual[match].score - e.score);
    t.true(d <= SCORE_TOL, `${where}[${i}]: score ${actual[match].score} vs ${e.score}`);
  }
}

export function sameFields(a: any, e: any): boolean {
  if (a === null || typeof a !== 'object') return false;
  const ka = Object.keys(a).filter((k) => k !== 'score').sort();
  const ke = Object.keys(e).filter((k) => k !== 'score').sort();
  if (JSON.stringify(ka) !== JSON.stringify(ke)) return false;
  return ke.every((k) => JSON.stringify(a[k]) === JSON.stringify(e[k]));
}

/** Max |a - e| over nested numeric arrays (typed arrays allowed on the actual side). */
export function maxDiff(a: any, e: any): number {
  if (typeof e === 'number') return Math.abs((a as number) - e);
  if (!a || a.length !== e.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    const d = maxDiff(a[i], e[i]);
    if (!(d <= worst)) worst = d;
  }
  return worst;
}
