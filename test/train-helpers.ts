/** Shared by the test/train-*.test.ts files: the training goldens (shared/fixtures/training). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors } from '../src-ts/weights/index.js';
import { fixture, sharedDir } from './helpers/fixtures.js';

export interface GoldenTensor {
  dims: number[];
  data: Float64Array;
}

export function trainingDir(): string {
  return fixture('training');
}

/** A fixture path as index.json writes it ("shared/fixtures/..."). */
export function sharedPath(p: string): string {
  return join(sharedDir, p.replace(/^shared\//, ''));
}

export function readGoldenFile(file: string): Map<string, GoldenTensor> {
  const tensors = parseSafetensors(readFileSync(join(trainingDir(), file)), file);
  const out = new Map<string, GoldenTensor>();
  for (const [name, t] of tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const data = new Float64Array(n);
    const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (let i = 0; i < n; i++) data[i] = t.dtype === 'I64' ? Number(view.getBigInt64(i * 8, true)) : view.getFloat64(i * 8, true);
    out.set(name, { dims: t.dims, data });
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
