/**
 * Sentence-embedding pooling with sentence-transformers' semantics, and the sentence-transformers
 * folder layout (modules.json, 1_Pooling/config.json, 2_Normalize, sentence_bert_config.json,
 * config_sentence_transformers.json prompts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidFileError, InvalidInputError, UnsupportedModelError } from '../errors.js';
import { quote } from '../util/quote.js';

export const POOLING_MODES = ['cls', 'max', 'mean', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken'] as const;
export type PoolingMode = (typeof POOLING_MODES)[number];

/** Pooling modes: one name, or several whose vectors are concatenated (in the order given). */
export function checkPooling(x: unknown, what = 'pooling'): PoolingMode[] {
  const list = Array.isArray(x) ? x : [x];
  if (list.length === 0) throw new InvalidInputError(`${what} needs at least one mode`);
  for (const m of list) {
    if (typeof m !== 'string' || !(POOLING_MODES as readonly string[]).includes(m)) {
      throw new InvalidInputError(`${what}: unknown pooling mode ${quote(m)}; use ${POOLING_MODES.join(', ')} (or 'none' for token embeddings)`);
    }
  }
  return list as PoolingMode[];
}

/**
 * Pools one sequence's token embeddings (`hidden`: n rows of H) into `modes.length * H` values.
 *  - mask: 1 = token, 0 = padding (excluded); null = all tokens;
 *  - skip: the first `skip` tokens (a prompt, with `include_prompt: false`) are excluded too.
 * `cls` is the first position (transformers' h[:, 0]; the first token after an excluded prompt),
 * `mean` sum / max(count, 1e-9), `mean_sqrt_len_tokens` sum / sqrt(count), `max` the maximum over
 * included tokens (masked positions count as -1e9), `weightedmean` weights positions 1..n,
 * `lasttoken` the last included token (zeros if none).
 */
export function poolTokens(
  hidden: Float32Array,
  n: number,
  H: number,
  mask: ArrayLike<number> | null,
  modes: readonly PoolingMode[],
  skip = 0,
): Float64Array {
  const inc = new Uint8Array(n);
  let seen = 0;
  for (let i = 0; i < n; i++) {
    const m = mask ? (mask[i] ? 1 : 0) : 1;
    if (m && seen++ >= skip) inc[i] = 1;
  }
  const out = new Float64Array(modes.length * H);
  let sum: Float64Array | null = null;
  let count = 0;
  const meanSum = (): Float64Array => {
    if (sum) return sum;
    sum = new Float64Array(H);
    for (let i = 0; i < n; i++) {
      if (!inc[i]) continue;
      count++;
      const r = i * H;
      for (let h = 0; h < H; h++) sum[h]! += hidden[r + h]!;
    }
    return sum;
  };
  modes.forEach((mode, k) => {
    const o = k * H;
    switch (mode) {
      case 'cls': {
        let at = 0;
        if (skip > 0) {
          at = inc.indexOf(1);
          if (at < 0) at = 0;
        }
        for (let h = 0; h < H; h++) out[o + h] = at < n ? hidden[at * H + h]! : 0;
        break;
      }
      case 'mean':
      case 'mean_sqrt_len_tokens': {
        const s = meanSum();
        const d = mode === 'mean' ? Math.max(count, 1e-9) : Math.sqrt(Math.max(count, 1e-9));
        for (let h = 0; h < H; h++) out[o + h] = s[h]! / d;
        break;
      }
      case 'max': {
        for (let h = 0; h < H; h++) out[o + h] = -Infinity;
        for (let i = 0; i < n; i++) {
          const r = i * H;
          for (let h = 0; h < H; h++) {
            const v = inc[i] ? hidden[r + h]! : -1e9;
            if (v > out[o + h]!) out[o + h] = v;
          }
        }
        if (n === 0) out.fill(-1e9, o, o + H);
        break;
      }
      case 'weightedmean': {
        let wsum = 0;
        for (let i = 0; i < n; i++) {
          if (!inc[i]) continue;
          const w = i + 1;
          wsum += w;
          const r = i * H;
          for (let h = 0; h < H; h++) out[o + h] += w * hidden[r + h]!;
        }
        const d = Math.max(wsum, 1e-9);
        for (let h = 0; h < H; h++) out[o + h]! /= d;
        break;
      }
      case 'lasttoken': {
        const at = inc.lastIndexOf(1);
        if (at >= 0) for (let h = 0; h < H; h++) out[o + h] = hidden[at * H + h]!;
        break;
      }
    }
  });
  return out;
}

/** x / max(||x||₂, 1e-12), as torch.nn.functional.normalize. */
export function normalizeL2(x: Float64Array): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const d = Math.max(Math.sqrt(ss), 1e-12);
  for (let i = 0; i < x.length; i++) x[i]! /= d;
  return x;
}

/** What a sentence-transformers folder says about running it. */
export interface SentenceTransformersFolder {
  /** Folder of the Transformer module (the BERT checkpoint), relative to the model folder. */
  transformerPath: string;
  pooling: PoolingMode[] | null;
  includePrompt: boolean;
  normalize: boolean;
  maxSeqLength: number | null;
  doLowerCase: boolean;
  prompts: Record<string, string>;
  defaultPromptName: string | null;
}

// Synchronous: a few small JSON files, read once when a model is set up (the batcher's
// constructor reads them too, and it is synchronous).
function readJson(path: string): unknown | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InvalidFileError(`cannot read: ${(err as Error).message}`, path);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidFileError(`invalid JSON: ${(err as Error).message}`, path);
  }
}

const LEGACY_FLAGS: [string, PoolingMode][] = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_max_tokens', 'max'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len_tokens'],
  ['pooling_mode_weightedmean_tokens', 'weightedmean'],
  ['pooling_mode_lasttoken', 'lasttoken'],
];

/** Pooling modes from a 1_Pooling/config.json (`pooling_mode`, or the legacy `pooling_mode_*` flags). */
export function poolingFromConfig(cfg: Record<string, unknown>, file: string): PoolingMode[] {
  if (cfg.pooling_mode !== undefined) {
    try {
      return checkPooling(cfg.pooling_mode, 'pooling_mode');
    } catch (err) {
      throw new InvalidFileError((err as Error).message, file);
    }
  }
  const modes = LEGACY_FLAGS.filter(([k]) => cfg[k] === true).map(([, m]) => m);
  return modes.length ? modes : ['mean'];
}

function moduleKind(type: unknown): string {
  return typeof type === 'string' ? (type.split('.').pop() ?? type) : '';
}

/**
 * Reads a sentence-transformers folder (modules.json present), or returns null for a plain
 * transformers folder. Modules other than Transformer, Pooling and Normalize are refused.
 */
export async function readSentenceTransformersFolder(dir: string): Promise<SentenceTransformersFolder | null> {
  return readSentenceTransformersFolderSync(dir);
}

/** readSentenceTransformersFolder, synchronously. */
export function readSentenceTransformersFolderSync(dir: string): SentenceTransformersFolder | null {
  const modulesFile = join(dir, 'modules.json');
  const modules = readJson(modulesFile);
  if (modules === undefined) return null;
  if (!Array.isArray(modules)) throw new InvalidFileError('expected a list of modules', modulesFile);
  const out: SentenceTransformersFolder = {
    transformerPath: '',
    pooling: null,
    includePrompt: true,
    normalize: false,
    maxSeqLength: null,
    doLowerCase: false,
    prompts: {},
    defaultPromptName: null,
  };
  const sorted = [...modules].sort((a, b) => Number(a?.idx ?? 0) - Number(b?.idx ?? 0));
  let sawTransformer = false;
  for (const m of sorted) {
    if (m === null || typeof m !== 'object') throw new InvalidFileError('every module must be an object', modulesFile);
    const kind = moduleKind(m.type);
    const path = typeof m.path === 'string' ? m.path : '';
    if (kind === 'Transformer') {
      if (sawTransformer) throw new UnsupportedModelError(`${modulesFile}: more than one Transformer module`);
      sawTransformer = true;
      out.transformerPath = path;
      const cfgFile = join(dir, path, 'sentence_bert_config.json');
      const cfg = readJson(cfgFile) as Record<string, unknown> | undefined;
      if (cfg !== undefined) {
        if (cfg === null || typeof cfg !== 'object') throw new InvalidFileError('expected an object', cfgFile);
        const msl = cfg.max_seq_length;
        if (msl !== undefined && msl !== null) {
          if (typeof msl !== 'number' || !Number.isInteger(msl) || msl < 1) throw new InvalidFileError('max_seq_length must be a positive integer', cfgFile);
          out.maxSeqLength = msl;
        }
        out.doLowerCase = cfg.do_lower_case === true;
      }
    } else if (kind === 'Pooling') {
      if (out.pooling) throw new UnsupportedModelError(`${modulesFile}: more than one Pooling module`);
      const cfgFile = join(dir, path, 'config.json');
      const cfg = readJson(cfgFile) as Record<string, unknown> | undefined;
      if (cfg === undefined || cfg === null || typeof cfg !== 'object') throw new InvalidFileError('missing or invalid Pooling config', cfgFile);
      out.pooling = poolingFromConfig(cfg, cfgFile);
      out.includePrompt = cfg.include_prompt !== false;
    } else if (kind === 'Normalize') {
      out.normalize = true;
    } else {
      throw new UnsupportedModelError(
        `${modulesFile}: the sentence-transformers module ${quote(m.type)} is not supported; supported: Transformer, Pooling, Normalize`,
      );
    }
  }
  if (!sawTransformer) throw new UnsupportedModelError(`${modulesFile}: no Transformer module`);
  const stFile = join(dir, 'config_sentence_transformers.json');
  const st = readJson(stFile) as Record<string, unknown> | undefined;
  if (st && typeof st === 'object') {
    const prompts = st.prompts;
    if (prompts && typeof prompts === 'object' && !Array.isArray(prompts)) {
      for (const [k, v] of Object.entries(prompts)) if (typeof v === 'string') out.prompts[k] = v;
    }
    if (typeof st.default_prompt_name === 'string') out.defaultPromptName = st.default_prompt_name;
  }
  return out;
}
