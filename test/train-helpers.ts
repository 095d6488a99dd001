/** Shared by the test/train-*.test.ts files: the training goldens (shared/fixtures/training). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors } from '../src-ts/weights/index.js';
import { toFloat64 } from './helpers/golden.js';
import { fixture } from './helpers/fixtures.js';

export interface GoldenTensor {
  dims: number[];
  data: Float64Array;
}

export function trainingDir(): string {
  return fixture('training');
}

/** A fixture path as index.json writes it ("shared/fixtures/...") in the repository's copy. */
export function sharedPath(p: string): string {
  return fixture(...p.replace(/^shared\/fixtures\//, '').split('/'));
}

export function readGoldenFile(file: string): Map<string, GoldenTensor> {
  const tensors = parseSafetensors(readFileSync(join(trainingDir(), file)), file);
  const out = new Map<string, GoldenTensor>();
  for (const [name, t] of tensors) {
    out.set(name, { dims: t.dims, data: toFloat64(t) });
  }
  return out;
}

/** [B, L] (or [B]) golden tensor as rows of plain numbers. */
export function rows(t: GoldenTensor): number[][] {
  const [B, L] = t.dims;
  const out: number[][] = [];
  for (let b = 0; b < B!; b++) out.push(Array.from(t.data.subarray(b * L!, (b + 1) * L!)));
  return out;
}

export function flat(t: GoldenTensor): number[] {
  return Array.from(t.data);
}

export function index(): any {
  return JSON.parse(readFileSync(join(trainingDir(), 'index.json'), 'utf8'));
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, keep?: (i: number) => boolean): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (keep && !keep(i)) continue;
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d;
  }
  return m;
}
