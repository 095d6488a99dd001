/**
 * safetensors reader: 8-byte little-endian header length N, N bytes of UTF-8 JSON header, then the
 * data section. Every header field is checked before it is used, because the file may be hostile:
 * a bad file must end in an InvalidFileError, never in a RangeError or a huge allocation.
 */
import { InvalidFileError } from '../errors.js';
import { DTYPE_SIZE, isDType, type DType, type RawTensor } from './types.js';
import { quote } from '../util/quote.js';

/** Far above any real header (bert-large's is ~40 KB), low enough that parsing it is cheap. */
const MAX_HEADER_BYTES = 100_000_000;

/** A tensor's place in a safetensors file, validated against the file size. */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  dims: number[];
  /** Byte range inside the file (data section offsets already added). */
  begin: number;
  end: number;
}

/** Bytes of the file needed to parse its header: 8, then 8 + the length they give. */
export function safetensorsHeaderLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (first8.length < 8 || fileSize < 8) fail(file, `${fileSize} bytes is too short for the 8-byte header length`);
  const headerLen = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(file, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLen > BigInt(fileSize - 8)) {
    fail(file, `header length ${headerLen} runs past the end of the file (${fileSize} bytes); is it truncated?`);
  }
  return Number(headerLen);
}

/**
 * Validates the header (`prefix` holds at least the first 8 + header-length bytes of a file of
 * `fileSize` bytes) and returns where each tensor lies, without touching tensor data.
 */
export function parseSafetensorsHeader(prefix: Uint8Array, fileSize: number, file: string): SafetensorsEntry[] {
  const headerLen = safetensorsHeaderLength(prefix, fileSize, file);
  const dataStart = 8 + headerLen;
  const dataLen = fileSize - dataStart;

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, dataStart)));
  } catch (cause) {
    throw new InvalidFileError(`invalid safetensors file: header is not UTF-8 JSON (${(cause as Error).message})`, file, 'ERR_INVALID_FILE', { cause });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail(file, 'header is not a JSON object');

  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info) || Object.values(info).some((v) => typeof v !== 'string')) {
        fail(file, '"__metadata__" must map strings to strings');
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(file, `${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDType(dtype)) fail(file, `${where}: unknown dtype ${quote(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isSafeNonNegativeInt)) {
      fail(file, `${where}: shape ${quote(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeNonNegativeInt)) {
      fail(file, `${where}: data_offsets ${quote(offsets)} is not [begin, end] with non-negative integers`);
    }
    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      fail(file, `${where}: data_offsets [${begin}, ${end}] are not inside the ${dataLen}-byte data section`);
    }
    // BigInt: a product of dims can pass 2^53 long before it is rejected.
    const nbytes = dims.reduce((n, d) => n * BigInt(d), BigInt(DTYPE_SIZE[dtype]));
    if (nbytes !== BigInt(end - begin)) {
      fail(file, `${where}: ${dtype} [${dims.join(', ')}] needs ${nbytes} bytes but data_offsets span ${end - begin}`);
    }
    entries.push({ name, dtype, dims, begin: dataStart + begin, end: dataStart + end });
  }

  // Empty tensors own no bytes, so they cannot overlap anything.
  const filled = entries.filter((s) => s.end > s.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < filled.length; i++) {
    if (filled[i]!.begin < filled[i - 1]!.end) {
      fail(file, `tensors ${JSON.stringify(filled[i - 1]!.name)} and ${JSON.stringify(filled[i]!.name)} overlap`);
    }
  }
  return entries;
}

/** Every tensor of a safetensors file held in memory, as views into `buf`. */
export function parseSafetensors(buf: Uint8Array, file: string): Map<string, RawTensor> {
  const tensors = new Map<string, RawTensor>();
  for (const e of parseSafetensorsHeader(buf, buf.length, file)) {
    tensors.set(e.name, { name: e.name, dtype: e.dtype, dims: e.dims, data: buf.subarray(e.begin, e.end) });
  }
  return tensors;
}

function fail(file: string, message: string): never {
  throw new InvalidFileError(`invalid safetensors file: ${message}`, file);
}

function isSafeNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
