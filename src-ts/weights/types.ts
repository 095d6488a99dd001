/** Tensors as stored in a checkpoint file, before any conversion. */

/** safetensors' dtype names (the subset a BERT checkpoint can hold). */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface RawTensor {
  name: string;
  dtype: DType;
  dims: number[];
  /**
   * Little-endian row-major bytes; a view into the file buffer, not a copy, where the file allows.
   * Empty when `location` is set: the bytes are still in the file, for the engine to read.
   */
  data: Uint8Array;
  /** Where the bytes are when they were not read (lazy loading of large checkpoints). */
  location?: { file: string; offset: number; nbytes: number };
}

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.hasOwn(DTYPE_SIZE, s);
}
