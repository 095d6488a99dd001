/** Which files of a Hub repository a BERT model needs. */
import { InvalidFileError } from '../errors.js';
import { quote } from '../util/quote.js';

/** Besides config.json: tokenizer and sentence-transformers files, fetched when the repo has them. */
export const SIDE_FILES = [
  'tokenizer.json',
  'vocab.txt',
  'vocab.json',
  'merges.txt',
  'spiece.model',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'modules.json',
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
] as const;

export interface WeightFormat {
  /** The file loadModel looks for (the index, when sharded). */
  file: string;
  sharded: boolean;
}

/** In loadModel's order of preference (src-ts/weights/checkpoint.ts). */
export const WEIGHT_FORMATS: readonly WeightFormat[] = [
  { file: 'model.safetensors', sharded: false },
  { file: 'model.safetensors.index.json', sharded: true },
  { file: 'pytorch_model.bin', sharded: false },
  { file: 'pytorch_model.bin.index.json', sharded: true },
];

/** A repository path that stays inside the snapshot folder. */
export function isSafeRepoPath(file: string): boolean {
  return (
    file !== '' &&
    !file.startsWith('/') &&
    !file.includes('\\') &&
    !file.includes('\0') &&
    file.split('/').every((part) => part !== '' && part !== '.' && part !== '..')
  );
}

/** Shard file names from an index's `weight_map`, each once, in first-mention order. */
export function shardsOf(indexJson: string, file: string): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(indexJson) as { weight_map?: unknown } | null)?.weight_map;
  } catch (cause) {
    throw new InvalidFileError(`not valid JSON: ${(cause as Error).message}`, file, 'ERR_INVALID_FILE', { cause });
  }
  if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new InvalidFileError('"weight_map" must be an object', file);
  const shards = [...new Set(Object.values(map))];
  for (const s of shards) {
    if (typeof s !== 'string' || !isSafeRepoPath(s) || s.includes('/')) throw new InvalidFileError(`weight_map names ${quote(s)}, not a file beside the index`, file);
  }
  if (shards.length === 0) throw new InvalidFileError('"weight_map" is empty', file);
  return shards as string[];
}

/**
 * The module folders of a sentence-transformers model (modules.json), as repository paths:
 * '1_Pooling', '2_Normalize', '2_Dense'... The transformer itself (path "") is the repo root.
 */
export function moduleFolders(modulesJson: string, file: string): string[] {
  let modules: unknown;
  try {
    modules = JSON.parse(modulesJson);
  } catch (cause) {
    throw new InvalidFileError(`not valid JSON: ${(cause as Error).message}`, file, 'ERR_INVALID_FILE', { cause });
  }
  if (!Array.isArray(modules)) throw new InvalidFileError('must be a JSON array of modules', file);
  const folders: string[] = [];
  for (const m of modules) {
    const path = (m as { path?: unknown } | null)?.path;
    if (typeof path !== 'string') throw new InvalidFileError('every module needs a "path"', file);
    const clean = path.replace(/^\.?\/+|\/+$/g, '');
    if (clean === '' || clean === '.') continue;
    if (!isSafeRepoPath(clean)) throw new InvalidFileError(`module path ${JSON.stringify(path)} leaves the repository`, file);
    folders.push(clean);
  }
  return folders;
}

/**
 * The files of the listed module folders that sentence-transformers reads: JSON configurations
 * and weights (safetensors over .bin when a folder has both).
 */
export function moduleFiles(listed: readonly string[], folders: readonly string[]): string[] {
  const out: string[] = [];
  for (const folder of folders) {
    const own = listed.filter((f) => f.startsWith(`${folder}/`) && !f.slice(folder.length + 1).includes('/'));
    const hasSafetensors = own.some((f) => f.endsWith('.safetensors'));
    for (const f of own) {
      if (f.endsWith('.json') || f.endsWith('.safetensors') || (f.endsWith('.bin') && !hasSafetensors)) out.push(f);
    }
  }
  return out;
}
