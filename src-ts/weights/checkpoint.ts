/** Finds and reads the weights of a Hugging Face checkpoint folder, in transformers' order of preference. */
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InvalidFileError } from '../errors.js';
import { parseSafetensors, parseSafetensorsHeader, safetensorsHeaderLength } from './safetensors.js';
import { parseTorchCheckpoint } from './torch-pickle.js';
import type { RawTensor } from './types.js';
import { quote } from '../util/quote.js';
import { checkOptionNames } from '../options.js';

export type CheckpointFormat = 'safetensors' | 'pytorch';

export interface Checkpoint {
  /** Every tensor of every file, by its name in the checkpoint. */
  tensors: Map<string, RawTensor>;
  /** The files read: the index first when the checkpoint is sharded, then the weight files. */
  files: string[];
  format: CheckpointFormat;
}

type Parser = (buf: Uint8Array, file: string) => Map<string, RawTensor>;

export interface ReadCheckpointOptions {
  /**
   * Leave float tensors of safetensors files in the file (`RawTensor.location`) instead of reading
   * them into memory: the engine reads each once while converting it, so a checkpoint never sits
   * in memory twice. Other dtypes and `.bin` files are read as usual.
   */
  lazy?: boolean;
}

const CANDIDATES: { name: string; format: CheckpointFormat; parse: Parser; sharded: boolean }[] = [
  { name: 'model.safetensors', format: 'safetensors', parse: parseSafetensors, sharded: false },
  { name: 'model.safetensors.index.json', format: 'safetensors', parse: parseSafetensors, sharded: true },
  { name: 'pytorch_model.bin', format: 'pytorch', parse: parseTorchCheckpoint, sharded: false },
  { name: 'pytorch_model.bin.index.json', format: 'pytorch', parse: parseTorchCheckpoint, sharded: true },
];

export async function readCheckpoint(dir: string, options: ReadCheckpointOptions = {}): Promise<Checkpoint> {
  checkOptionNames(options, ['lazy'], 'readCheckpoint() options');
  for (const { name, format, parse, sharded } of CANDIDATES) {
    const path = join(dir, name);
    if (!(await exists(path))) continue;
    const read = async (file: string): Promise<Map<string, RawTensor>> =>
      options.lazy && format === 'safetensors' ? readSafetensorsLazy(file) : parse((await readIfExists(file)) ?? missing(file), file);
    if (!sharded) return { tensors: await read(path), files: [path], format };

    const shards = shardFiles((await readIfExists(path)) ?? missing(path), path);
    const tensors = new Map<string, RawTensor>();
    const files = [path];
    for (const [shard, names] of shards) {
      const shardPath = join(dir, shard);
      if (!(await exists(shardPath))) throw new InvalidFileError(`shard "${shard}" named by the index does not exist`, path);
      files.push(shardPath);
      const shardTensors = await read(shardPath);
      for (const n of names) {
        if (!shardTensors.has(n)) throw new InvalidFileError(`the index puts "${n}" in this shard, but it is not there`, shardPath);
      }
      for (const [n, t] of shardTensors) {
        if (tensors.has(n)) throw new InvalidFileError(`tensor "${n}" is stored in more than one shard`, shardPath);
        tensors.set(n, t);
      }
    }
    return { tensors, files, format };
  }
  throw new InvalidFileError(`no weights found; looked for ${CANDIDATES.map((c) => c.name).join(', ')}`, dir);
}

/** The index's `weight_map` grouped by shard, each shard once, in first-mention order. */
function shardFiles(buf: Uint8Array, path: string): Map<string, string[]> {
  let index: unknown;
  try {
    index = JSON.parse(new TextDecoder().decode(buf));
  } catch (cause) {
    throw new InvalidFileError(`not valid JSON: ${(cause as Error).message}`, path, 'ERR_INVALID_FILE', { cause });
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new InvalidFileError('"weight_map" must be an object', path);
  const shards = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(map)) {
    // A shard is a file beside the index: no folders, so an index cannot reach outside the checkpoint.
    if (typeof shard !== 'string' || shard === '' || shard === '.' || shard === '..' || basename(shard) !== shard || shard.includes('\\') || shard.includes('\0')) {
      throw new InvalidFileError(`weight_map[${quote(tensor)}] = ${quote(shard)} is not a file name inside the checkpoint folder`, path);
    }
    const names = shards.get(shard);
    if (names) names.push(tensor);
    else shards.set(shard, [tensor]);
  }
  if (shards.size === 0) throw new InvalidFileError('"weight_map" is empty', path);
  return shards;
}

/**
 * The whole file, or null when it does not exist. Read in chunks because fs.readFile stops at
 * 2 GiB, below the size of some checkpoints; its own buffer (not the pool) since tensors view it.
 */
async function readIfExists(path: string): Promise<Buffer | null> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new InvalidFileError(`cannot open: ${(cause as Error).message}`, path, 'ERR_INVALID_FILE', { cause });
  }
  try {
    const { size } = await fh.stat();
    const buf = Buffer.allocUnsafeSlow(size);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await fh.read(buf, at, Math.min(size - at, 1 << 30), at);
      if (bytesRead === 0) throw new InvalidFileError(`file shrank to ${at} bytes while being read`, path);
      at += bytesRead;
    }
    return buf;
  } catch (cause) {
    if (cause instanceof InvalidFileError) throw cause;
    throw new InvalidFileError(`cannot read: ${(cause as Error).message}`, path, 'ERR_INVALID_FILE', { cause });
  } finally {
    await fh.close();
  }
}

function missing(path: string): never {
  throw new InvalidFileError('file disappeared while the checkpoint was read', path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await (await open(path, 'r')).close();
    return true;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new InvalidFileError(`cannot open: ${(cause as Error).message}`, path, 'ERR_INVALID_FILE', { cause });
  }
}

/** The header only; float tensors stay in the file (see ReadCheckpointOptions.lazy). */
async function readSafetensorsLazy(path: string): Promise<Map<string, RawTensor>> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    throw new InvalidFileError(`cannot open: ${(cause as Error).message}`, path, 'ERR_INVALID_FILE', { cause });
  }
  try {
    const { size } = await fh.stat();
    const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
      const buf = Buffer.allocUnsafeSlow(length);
      for (let at = 0; at < length; ) {
        const { bytesRead } = await fh.read(buf, at, length - at, offset + at);
        if (bytesRead === 0) throw new InvalidFileError(`file shrank while being read`, path);
        at += bytesRead;
      }
      return buf;
    };
    const first8 = await readAt(0, Math.min(8, size));
    const headerLen = safetensorsHeaderLength(first8, size, path);
    const entries = parseSafetensorsHeader(await readAt(0, 8 + headerLen), size, path);
    const tensors = new Map<string, RawTensor>();
    for (const e of entries) {
      const nbytes = e.end - e.begin;
      if (e.dtype === 'F32' || e.dtype === 'F16' || e.dtype === 'BF16') {
        tensors.set(e.name, { name: e.name, dtype: e.dtype, dims: e.dims, data: new Uint8Array(0), location: { file: path, offset: e.begin, nbytes } });
      } else {
        tensors.set(e.name, { name: e.name, dtype: e.dtype, dims: e.dims, data: await readAt(e.begin, nbytes) });
      }
    }
    return tensors;
  } catch (cause) {
    if (cause instanceof InvalidFileError) throw cause;
    throw new InvalidFileError(`cannot read: ${(cause as Error).message}`, path, 'ERR_INVALID_FILE', { cause });
  } finally {
    await fh.close();
  }
}
