/**
 * What travels through the queue: a job's data (a chunk of inputs, the task, its options), its
 * return value (compact: embeddings as one base64 block of float32 or float16), the job id (a hash
 * of what the job computes, so the same chunk is never queued or computed twice), and a worker's
 * error as the job's failedReason (code, name and the offending rows, parsed back by the producer).
 */
import { InvalidInputError, JobFailedError } from '../errors.js';

export const QUEUE_TASKS = ['embed', 'classify', 'ner', 'rerank', 'fill-mask'] as const;
export type QueueTask = (typeof QUEUE_TASKS)[number];

/** How embeddings travel: float32 (exact) or float16 (half the bytes; ~3 significant digits). */
export type VectorEncoding = 'float32' | 'float16';

/** A rerank row: one query and the documents ranked for it. */
export interface RerankRow {
  query: string;
  documents: string[];
}

/** One job: a chunk of rows for one task. */
export interface JobData {
  v: 1;
  task: QueueTask;
  /** embed / ner / fill-mask: texts; classify: texts or {text, textPair}; rerank: {query, documents}. */
  inputs: unknown[];
  /** The task's options (EmbedOptions, ClassifyOptions, ...), as plain JSON. */
  options?: Record<string, unknown>;
  /** embed: how the vectors come back (default float32). */
  encoding?: VectorEncoding;
}

/** A job's return value. */
export interface JobResult {
  v: 1;
  task: QueueTask;
  rows: number;
  /** embed: rows × dim values, little-endian (the order of every host bertkit builds for), base64. */
  vectors?: { encoding: VectorEncoding; dim: number; data: string };
  /** Other tasks: one JSON result per row. */
  results?: unknown[];
}

/** The job id for `data`: the task, its options and inputs hashed (BullMQ ids must not be integers or hold ':'). */
export function jobIdFor(data: JobData): string {
  const h = process.getBuiltinModule('node:crypto').createHash('sha256');
  h.update(JSON.stringify([data.v, data.task, data.options ?? {}, data.encoding ?? 'float32', data.inputs]));
  return `${data.task}-${h.digest('hex').slice(0, 40)}`;
}

// ---- vectors -----------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half from float32, rounding to nearest even (what numpy's astype(float16) does). */
export function toHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflow to zero
    mant |= 0x800000; // implicit bit; shift into a subnormal
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && half & 1) ? 1 : 0));
}

/** float32 value of an IEEE half. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Equal-length vectors as one base64 block. */
export function encodeVectors(vectors: readonly Float32Array[], encoding: VectorEncoding): { encoding: VectorEncoding; dim: number; data: string } {
  const dim = vectors[0]?.length ?? 0;
  const n = vectors.length;
  if (encoding === 'float32') {
    const all = new Float32Array(n * dim);
    vectors.forEach((v, i) => all.set(v, i * dim));
    return { encoding, dim, data: Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString('base64') };
  }
  const bytes = Buffer.alloc(n * dim * 2);
  vectors.forEach((v, i) => {
    for (let j = 0; j < dim; j++) bytes.writeUInt16LE(toHalf(v[j]!), (i * dim + j) * 2);
  });
  return { encoding, dim, data: bytes.toString('base64') };
}

export function decodeVectors(block: { encoding: VectorEncoding; dim: number; data: string }, rows: number): Float32Array[] {
  const bytes = Buffer.from(block.data, 'base64');
  const width = block.encoding === 'float16' ? 2 : 4;
  if (bytes.length !== rows * block.dim * width) throw new InvalidInputError(`a job result holds ${bytes.length} bytes of vectors, expected ${rows} × ${block.dim} × ${width}`);
  const out: Float32Array[] = [];
  const dim = block.dim;
  if (width === 4) {
    // One aligned copy, then a view per row (the decoded Buffer may sit at any offset of a pool).
    const all = new Float32Array(rows * dim);
    new Uint8Array(all.buffer).set(bytes);
    for (let i = 0; i < rows; i++) out.push(all.subarray(i * dim, (i + 1) * dim));
    return out;
  }
  for (let i = 0; i < rows; i++) {
    const v = new Float32Array(dim);
    for (let j = 0; j < dim; j++) v[j] = fromHalf(bytes.readUInt16LE((i * dim + j) * 2));
    out.push(v);
  }
  return out;
}

// ---- errors ------------------------------------------------------------------------------------

/**
 * A worker's error as it goes into the job's failedReason: `[CODE Name rows=1,4] message`. BullMQ
 * keeps only the message of a failure, so the type and the rows at fault ride in front of it.
 */
export function failedReasonOf(err: unknown, rows: readonly number[] = []): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' && /^[A-Z0-9_]+$/.test(e.code) ? e.code : 'ERR_BERT';
  const name = typeof e?.name === 'string' && /^\w+$/.test(e.name) ? e.name : 'Error';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return `[${code} ${name}${rows.length ? ` rows=${rows.join(',')}` : ''}] ${message}`;
}

/** The typed error of a failed job, from its failedReason (any message: a stalled-too-often job says so plainly). */
export function jobFailedError(jobId: string, failedReason: string | undefined, attemptsMade: number): JobFailedError {
  const m = /^\[([A-Z0-9_]+) (\w+)(?: rows=([\d,]+))?\] ([\s\S]*)$/.exec(failedReason ?? '');
  if (!m) return new JobFailedError(jobId, { message: failedReason || 'no reason given', remoteCode: 'ERR_JOB_FAILED', remoteName: 'Error', attemptsMade });
  return new JobFailedError(jobId, {
    remoteCode: m[1]!,
    remoteName: m[2]!,
    rows: m[3] ? m[3].split(',').map(Number) : [],
    message: m[4]!,
    attemptsMade,
  });
}
