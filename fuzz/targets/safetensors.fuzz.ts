/** The safetensors reader: an 8-byte header length, a JSON header, the tensor bytes. */
import { parseSafetensors } from '../../src-ts/weights/index.js';
import { DTYPE_SIZE } from '../../src-ts/weights/types.js';
import { assert, typed } from '../check.js';
import { fixtureFiles } from '../seeds.js';

export const dict = 'safetensors.dict';
export const maxLen = 1 << 20;

function small(header: object, bytes: number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(bytes, 1)]);
}

export function seeds(): Buffer[] {
  return [
    small({ a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] }, __metadata__: { format: 'pt' } }, 24),
    small({ w: { dtype: 'BF16', shape: [4], data_offsets: [0, 8] }, b: { dtype: 'I64', shape: [], data_offsets: [8, 16] } }, 16),
    ...fixtureFiles('model.safetensors', 3),
  ];
}

export function fuzz(data: Buffer): void {
  const tensors = typed(() => parseSafetensors(data, 'fuzz.safetensors'));
  if (!tensors) return;
  for (const [name, t] of tensors) {
    const numel = t.dims.reduce((a, b) => a * b, 1);
    assert(t.data.byteLength === numel * DTYPE_SIZE[t.dtype], `${name}: ${t.data.byteLength} bytes for ${t.dtype} [${t.dims}]`);
    assert(t.data.buffer === data.buffer || t.data.byteLength === 0 || t.data.buffer.byteLength >= t.data.byteLength, `${name}: data outside the file`);
  }
}
