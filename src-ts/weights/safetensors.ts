/**
 * safetensors reader: 8-byte little-endian header length N, N bytes of UTF-8 JSON header, then the
 * data section. Every header field is checked before it is used, because the file may be hostile:
 * a bad file must end in an InvalidFileError, never in a RangeError or a huge allocation.
 */
import { InvalidFileError } from '../errors.js';
import { DTYPE_SIZE, isDType, type RawTensor } from './types.js';

/** Far above any real header (bert-large's is ~40 KB), low enough that parsing it is cheap. */
const MAX_HEADER_BYTES = 100_000_000;

export function parseSafetensors(buf: Uint8Array, file: string): Map<string, RawTensor> {
  function fail(message: string): never {
    throw new InvalidFileError(`invalid safetensors file: ${message}`, file);
  }
  if (buf.length < 8) fail(`${buf.length} bytes is too short for the 8-byte header length`);
  const headerLen = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLen > BigInt(buf.length - 8)) {
    fail(`header length ${headerLen} runs past the end of the file (${buf.length} bytes); is it truncated?`);
  }
  const dataStart = 8 + Number(headerLen);
  const dataLen = buf.length - dataStart;

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, dataStart)));
  } catch (cause) {
    throw new InvalidFileError(`invalid safetensors file: header is not UTF-8 JSON (${(cause as Error).message})`, file, 'ERR_INVALID_FILE', { cause });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');

  const tensors = new Map<string, RawTensor>();
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info) || Object.values(info).some((v) => typeof v !== 'string')) {
        fail('"__metadata__" must map strings to strings');
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDType(dtype)) fail(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isSafeNonNegativeInt)) {
      fail(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeNonNegativeInt)) {
      fail(`${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with non-negative integers`);
    }
    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      fail(`${where}: data_offsets [${begin}, ${end}] are not inside the ${dataLen}-byte data section`);
    }
    // BigInt: a product of dims can pass 2^53 long before it is rejected.
    const nbytes = dims.reduce((n, d) => n * BigInt(d), BigInt(DTYPE_SIZE[dtype]));
    if (nbytes !== BigInt(end - begin)) {
      fail(`${where}: ${dtype} [${dims.join(', ')}] needs ${nbytes} bytes but data_offsets span ${end - begin}`);
    }
    spans.push({ name, begin, end });
    tensors.set(name, { name, dtype, dims, data: buf.subarray(dataStart + begin, dataStart + end) });
  }

  // Empty tensors own no bytes, so they cannot overlap anything.
  const filled = spans.filter((s) => s.end > s.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < filled.length; i++) {
    if (filled[i]!.begin < filled[i - 1]!.end) {
      fail(`tensors ${JSON.stringify(filled[i - 1]!.name)} and ${JSON.stringify(filled[i]!.name)} overlap`);
    }
  }
  return tensors;
}

function isSafeNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
