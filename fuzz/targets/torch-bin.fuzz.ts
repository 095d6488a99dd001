/** The legacy PyTorch reader: a torch.save zip archive (or the older tar-less format) with a pickle. */
import { parseTorchCheckpoint } from '../../src-ts/weights/index.js';
import { DTYPE_SIZE } from '../../src-ts/weights/types.js';
import { assert, typed } from '../check.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureFiles, repoRoot } from '../seeds.js';

export const dict = 'torch-bin.dict';
export const maxLen = 1 << 20;

export function seeds(): Buffer[] {
  // The small hand-made checkpoints of the pickle tests first: quick to mutate.
  const small = ['zip.bin', 'legacy.bin'].map((f) => readFileSync(join(repoRoot, 'test', 'data', 'weights', f)));
  return [...small, ...fixtureFiles('pytorch_model.bin', 2)];
}

export function fuzz(data: Buffer): void {
  const tensors = typed(() => parseTorchCheckpoint(data, 'fuzz.bin'));
  if (!tensors) return;
  for (const [name, t] of tensors) {
    const numel = t.dims.reduce((a, b) => a * b, 1);
    assert(t.data.byteLength === numel * DTYPE_SIZE[t.dtype], `${name}: ${t.data.byteLength} bytes for ${t.dtype} [${t.dims}]`);
  }
}
