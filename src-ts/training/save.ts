/**
 * Saving a trained model as a Hugging Face folder: config.json, model.safetensors (F32, the
 * tensor names the model was loaded with; the tied MLM decoder is not stored twice, as
 * transformers' save_pretrained does) and the tokenizer files.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { configToJSON } from '../config.js';
import { InvalidInputError, fileSystemError } from '../errors.js';
import { optionNames, checkOptionNames } from '../options.js';
import type { Tensor } from '../model/outputs.js';
import { copyFileAtomic, writeFileAtomic } from '../util/atomic-file.js';
import type { TrainableBertModel } from './trainable-model.js';

export interface SaveOptions {
  /** Copy / write the tokenizer files (default true). */
  tokenizer?: boolean;
  /** Extra `__metadata__` strings for the safetensors header ("format": "pt" is always set). */
  metadata?: Record<string, string>;
}

const SAVE_OPTION_NAMES = optionNames<SaveOptions>({ tokenizer: true, metadata: true });

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'vocab.json', 'merges.txt', 'spiece.model', 'added_tokens.json'];

/**
 * A safetensors file: 8-byte little-endian header length, the JSON header (padded with spaces
 * to a multiple of 8 so every tensor is aligned), then the tensors back to back. Written
 * atomically (util/atomic-file.ts), so a reader never sees half a file.
 */
export async function writeSafetensors(file: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata } };
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name]!;
    const numel = t.dims.reduce((a, b) => a * b, 1);
    if (!(t.data instanceof Float32Array) || t.data.length !== numel) throw new InvalidInputError(`${name}: data does not match dims [${t.dims.join(', ')}]`);
    header[name] = { dtype: 'F32', shape: t.dims, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  await writeFileAtomic(file, async (fh) => {
    await fh.write(len);
    await fh.write(json);
    for (const name of names) {
      const d = tensors[name]!.data;
      await fh.write(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function saveModel(dir: string, model: TrainableBertModel, state: Record<string, Tensor>, options: SaveOptions = {}): Promise<void> {
  if (typeof dir !== 'string' || dir === '') throw new InvalidInputError('save() needs a folder path');
  checkOptionNames(options, SAVE_OPTION_NAMES, 'save() options');
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw fileSystemError(err, 'cannot create the folder', dir);
  }
  const config = configToJSON(model.config);
  config.architectures = [model.architecture];
  config.model_type = model.config.model_type;
  config.torch_dtype = 'float32';
  // JSON object keys: id2label's integer keys become strings, as transformers writes them.
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeSafetensors(join(dir, 'model.safetensors'), state, options.metadata);
  // A folder that had .bin weights now has safetensors: loaders prefer model.safetensors anyway.
  if (options.tokenizer === false) return;
  // The tokenizer's own files, as loaded (or stating the options that overrode them): a reload
  // tokenizes exactly as this model's tokenizer does, also when saving into the source folder.
  const files = model.hasTokenizer ? model.tokenizer.sourceFiles() : {};
  if (Object.keys(files).length === 0 && model.sourceDir) {
    for (const f of TOKENIZER_FILES) {
      const src = join(model.sourceDir, f);
      if (join(dir, f) !== src && (await exists(src))) await copyFileAtomic(src, join(dir, f));
    }
  }
  for (const [name, text] of Object.entries(files)) await writeFileAtomic(join(dir, name), text);
  // A SentencePiece model is binary (never among the text files above): copied beside them.
  const spiece = model.sourceDir ? join(model.sourceDir, 'spiece.model') : undefined;
  if (spiece && join(dir, 'spiece.model') !== spiece && Object.keys(files).length > 0 && (await exists(spiece))) {
    await copyFileAtomic(spiece, join(dir, 'spiece.model'));
  }
}
