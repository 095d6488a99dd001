/**
 * Models from the Hugging Face Hub, in the Hugging Face cache (the one Python tools use):
 * `resolveModel('org/name')` downloads what a BERT model needs once and returns the snapshot
 * folder that loadModel reads; offline, it returns the cached snapshot without touching the
 * network.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BertError, InvalidFileError, InvalidInputError } from '../errors.js';
import { checkOptionNames, optionNames } from '../options.js';
import {
  COMMIT_RE,
  blobPath,
  cachedSnapshot,
  exists,
  inside,
  linkBlob,
  repoCache,
  snapshotDir,
  withFileLock,
  writeRef,
  type RepoCache,
} from './cache.js';
import { SIDE_FILES, WEIGHT_FORMATS, isSafeRepoPath, moduleFiles, moduleFolders, shardsOf } from './files.js';
import { downloadTo, fileMetadata, getJson, statusOf, type FileMetadata } from './http.js';
import { hubCacheDir, hubEndpoint, hubOffline, hubToken } from './settings.js';
import { commitFile } from '../util/atomic-file.js';

export interface HubProgress {
  repoId: string;
  /** The file being transferred (its path in the repository). */
  file: string;
  /** Bytes of `file` on disk (an interrupted download's bytes included) and its size. */
  fileLoaded: number;
  fileTotal: number | undefined;
  /** The same over every file this download transfers (files already cached not counted). */
  loaded: number;
  total: number;
}

export interface HubOptions {
  /** Branch, tag or commit (default 'main'). */
  revision?: string;
  /** The cache folder (default `HF_HUB_CACHE`, else `$HF_HOME/hub`, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Use only the cache, never the network (also when `HF_HUB_OFFLINE=1`). */
  localFilesOnly?: boolean;
  /** Access token (default `HF_TOKEN`, else the token `hf auth login` saved); false sends none. */
  token?: string | false;
  /** The Hub (default `HF_ENDPOINT`, else https://huggingface.co). */
  endpoint?: string;
  /** Called as bytes arrive (exceptions it throws are ignored). */
  onProgress?: (progress: HubProgress) => void;
}

/** The option names of HubOptions (a larger options object passes these on to the Hub calls). */
export const HUB_OPTION_NAMES = optionNames<HubOptions>({ revision: true, cacheDir: true, localFilesOnly: true, token: true, endpoint: true, onProgress: true });

/** The HubOptions part of a larger options object (loadModel's, pipeline()'s, loadTokenizer's). */
export function hubOptionsOf(options: object): HubOptions {
  const out: Record<string, unknown> = {};
  for (const k of HUB_OPTION_NAMES) if ((options as Record<string, unknown>)[k] !== undefined) out[k] = (options as Record<string, unknown>)[k];
  return out as HubOptions;
}

/** `org/name` (or a bare `name`) as huggingface_hub accepts it. */
export function isRepoId(id: string): boolean {
  const part = '[A-Za-z0-9_](?:[\\w.-]*[A-Za-z0-9_])?';
  return id.length <= 96 && new RegExp(`^(?:${part}/)?${part}$`).test(id) && !id.includes('--') && !id.includes('..') && !id.endsWith('.git');
}

/**
 * A model folder from a path or a Hub id: an existing folder is returned as is; otherwise an id
 * such as `google-bert/bert-base-uncased` is downloaded into the cache (once) and its snapshot
 * folder returned.
 */
export async function resolveModel(idOrPath: string, options: HubOptions = {}): Promise<string> {
  if (typeof idOrPath !== 'string' || idOrPath === '') throw new InvalidInputError('a model folder or Hugging Face Hub id ("org/name") is needed');
  checkOptionNames(options, HUB_OPTION_NAMES, 'resolveModel() options');
  const local = await stat(idOrPath).catch(() => undefined);
  if (local?.isDirectory()) return idOrPath;
  if (local) throw new InvalidInputError(`${idOrPath} is a file; a model is a folder (config.json, weights, tokenizer) or a Hub id`);
  if (!isRepoId(idOrPath)) throw new InvalidInputError(`${idOrPath}: no such folder, and not a Hugging Face Hub id ("org/name")`);
  return downloadModel(idOrPath, options);
}

interface Download {
  promise: Promise<string>;
  listeners: Set<(p: HubProgress) => void>;
}

const downloads = new Map<string, Download>();

/**
 * Downloads a BERT repository's files into the Hugging Face cache and returns the snapshot
 * folder: config.json, the weights in loadModel's order of preference (model.safetensors, its
 * sharded index, pytorch_model.bin, its sharded index: the first the repository has), tokenizer
 * files and sentence-transformers files. Files already cached are not downloaded again;
 * concurrent calls for the same model share one download.
 */
export async function downloadModel(repoId: string, options: HubOptions = {}): Promise<string> {
  if (typeof repoId !== 'string' || !isRepoId(repoId)) throw new InvalidInputError(`${JSON.stringify(repoId)} is not a Hugging Face Hub id ("org/name")`);
  checkOptionNames(options, HUB_OPTION_NAMES, 'downloadModel() options');
  const revision = options.revision ?? 'main';
  if (typeof revision !== 'string' || !isSafeRepoPath(revision)) throw new InvalidInputError(`revision ${JSON.stringify(revision)} is not a branch, tag or commit`);
  const repo = repoCache(hubCacheDir(options.cacheDir), repoId);
  const where = revision === 'main' ? repoId : `${repoId}@${revision}`;

  if (options.localFilesOnly || hubOffline()) {
    const dir = await cachedSnapshot(repo, revision);
    if (dir) return dir;
    throw new InvalidFileError(
      `${where} is not in the Hugging Face cache, and offline mode (${options.localFilesOnly ? 'localFilesOnly' : 'HF_HUB_OFFLINE'}) forbids downloading it`,
      repo.root,
    );
  }

  const endpoint = hubEndpoint(options.endpoint);
  const token = hubToken(options.token);
  const key = JSON.stringify([repo.root, endpoint, revision, token ?? null]);
  let download = downloads.get(key);
  if (!download) {
    const listeners = new Set<(p: HubProgress) => void>();
    const emit = (p: HubProgress) => {
      for (const listener of listeners) {
        try {
          listener(p);
        } catch {
          // a progress display must not break the download
        }
      }
    };
    const promise = snapshot({ repo, revision, where, endpoint, token, emit }).finally(() => downloads.delete(key));
    download = { promise, listeners };
    downloads.set(key, download);
  }
  const { onProgress } = options;
  if (onProgress) download.listeners.add(onProgress);
  try {
    return await download.promise;
  } finally {
    if (onProgress) download.listeners.delete(onProgress);
  }
}

interface Context {
  repo: RepoCache;
  revision: string;
  where: string;
  endpoint: string;
  token: string | undefined;
  emit: (p: HubProgress) => void;
}

interface RevisionInfo {
  sha?: unknown;
  siblings?: { rfilename?: unknown }[];
}

async function snapshot(ctx: Context): Promise<string> {
  const { repo, revision, where, endpoint } = ctx;
  let info: RevisionInfo;
  try {
    info = (await getJson(`${endpoint}/api/models/${repo.repoId}/revision/${encodeURIComponent(revision)}`, ctx.token, where)) as RevisionInfo;
  } catch (err) {
    // No answer at all (not an HTTP error): use the cached snapshot as huggingface_hub does.
    const cached = statusOf(err) === undefined ? await cachedSnapshot(repo, revision) : undefined;
    if (!cached) throw err;
    process.emitWarning(`${(err as Error).message}; using the cached ${where}`, { code: 'BERTKIT_HUB_CACHE_FALLBACK' });
    return cached;
  }
  const commit = info?.sha;
  if (typeof commit !== 'string' || !COMMIT_RE.test(commit)) throw new BertError(`${where}: the Hub gave no commit for this revision`);
  const listed = Array.isArray(info.siblings)
    ? info.siblings.map((s) => s?.rfilename).filter((f): f is string => typeof f === 'string' && isSafeRepoPath(f))
    : undefined;
  const has = (file: string) => listed === undefined || listed.includes(file);
  if (!has('config.json')) throw new InvalidFileError('the repository has no config.json: not a transformers model', where);

  const fetcher = new Fetcher(ctx, commit);
  const sideFiles = ['config.json', ...SIDE_FILES].filter(has);
  // Metadata requests (HEAD) run side by side; downloads then go one after another.
  await fetcher.planAll(sideFiles, (file) => file !== 'config.json' && listed === undefined);
  if (fetcher.has('modules.json')) {
    const folders = moduleFolders(await fetcher.text('modules.json'), 'modules.json');
    const files = listed ? moduleFiles(listed, folders) : folders.map((f) => `${f}/config.json`);
    await fetcher.planAll(files, () => listed === undefined);
  }
  const weights = await chooseWeights(fetcher, has, where);
  await fetcher.fetchAll();
  // Weights last, the index after its shards: a snapshot that has its weights file is complete.
  await fetcher.link([...fetcher.planned().filter((f) => !weights.includes(f)), ...weights]);
  await writeRef(repo, revision, commit);
  return snapshotDir(repo, commit);
}

/** The first weight format the repository has, all its files planned; a 404 moves on to the next. */
async function chooseWeights(fetcher: Fetcher, has: (f: string) => boolean, where: string): Promise<string[]> {
  const tried: string[] = [];
  for (const format of WEIGHT_FORMATS) {
    if (!has(format.file)) continue;
    tried.push(format.file);
    const before = new Set(fetcher.planned());
    try {
      if (!format.sharded) {
        await fetcher.plan(format.file);
        return [format.file];
      }
      if (await fetcher.isLinked(format.file)) return [format.file]; // linked after its shards
      const shards = shardsOf(await fetcher.text(format.file), format.file);
      await fetcher.planAll(shards);
      return [...shards, format.file];
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      for (const file of fetcher.planned()) if (!before.has(file)) fetcher.unplan(file);
    }
  }
  throw new InvalidFileError(
    tried.length ? `none of the weight files could be downloaded (${tried.join(', ')} answered 404)` : `the repository has no weights (${WEIGHT_FORMATS.map((f) => f.file).join(', ')})`,
    where,
  );
}

/** What one snapshot download needs: file metadata, blobs, links, progress. */
class Fetcher {
  readonly #ctx: Context;
  readonly #commit: string;
  readonly #dir: string;
  /** Planned files: metadata when the snapshot lacks them, null when already linked. */
  readonly #files = new Map<string, FileMetadata | null>();
  /** Bytes transferred and to transfer, over the whole snapshot (for onProgress). */
  readonly #totals = { loaded: 0, total: 0 };

  constructor(ctx: Context, commit: string) {
    this.#ctx = ctx;
    this.#commit = commit;
    this.#dir = snapshotDir(ctx.repo, commit);
  }

  has(file: string): boolean {
    return this.#files.has(file);
  }

  planned(): string[] {
    return [...this.#files.keys()];
  }

  unplan(file: string): void {
    this.#files.delete(file);
  }

  isLinked(file: string): Promise<boolean> {
    return exists(inside(this.#dir, file));
  }

  /** Adds a file: nothing to do when the snapshot has it, else its metadata (HEAD). */
  async plan(file: string, optional = false): Promise<void> {
    if (this.#files.has(file)) return;
    if (await this.isLinked(file)) {
      this.#files.set(file, null);
      return;
    }
    const { endpoint, repo } = this.#ctx;
    const url = `${endpoint}/${repo.repoId}/resolve/${this.#commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
    try {
      this.#files.set(file, await fileMetadata(url, file, this.#ctx.token));
    } catch (err) {
      if (optional && statusOf(err) === 404) return;
      throw err;
    }
  }

  /** plan() for several files side by side; every request has settled when it throws. */
  async planAll(files: string[], optional: (file: string) => boolean = () => false): Promise<void> {
    const settled = await Promise.allSettled(files.map((file) => this.plan(file, optional(file))));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** A planned file's content (downloaded into its blob if need be; linked later with the rest). */
  async text(file: string): Promise<string> {
    await this.plan(file);
    const meta = this.#files.get(file);
    if (meta === undefined) throw new InvalidFileError('not found in the repository', file);
    if (meta === null) return readFile(inside(this.#dir, file), 'utf8');
    const blob = blobPath(this.#ctx.repo, meta.etag);
    if (!(await exists(blob))) {
      this.#totals.total += meta.size ?? 0;
      await this.#blob(meta);
    }
    return readFile(blob, 'utf8');
  }

  /** Downloads every planned blob the cache lacks, one after another. */
  async fetchAll(): Promise<void> {
    const missing: FileMetadata[] = [];
    for (const meta of this.#files.values()) {
      if (meta && !(await exists(blobPath(this.#ctx.repo, meta.etag)))) missing.push(meta);
    }
    this.#totals.total += missing.reduce((n, m) => n + (m.size ?? 0), 0);
    for (const meta of missing) await this.#blob(meta);
  }

  /** Links planned files into the snapshot, in this order. */
  async link(files: string[]): Promise<void> {
    for (const file of files) {
      const meta = this.#files.get(file);
      if (meta) await linkBlob(blobPath(this.#ctx.repo, meta.etag), inside(this.#dir, file));
    }
  }

  /** The blob of `meta`, downloaded once however many callers (here or in other processes) want it. */
  #blob(meta: FileMetadata): Promise<void> {
    const { repo, endpoint, token, emit } = this.#ctx;
    const totals = this.#totals;
    const blob = blobPath(repo, meta.etag);
    let pending = blobDownloads.get(blob);
    if (!pending) {
      const base = totals.loaded;
      const progress = (fileLoaded: number) => {
        totals.loaded = base + fileLoaded;
        emit({ repoId: repo.repoId, file: meta.file, fileLoaded, fileTotal: meta.size, loaded: totals.loaded, total: totals.total });
      };
      // The token goes to the Hub, not to the CDN that serves LFS files.
      const sameOrigin = new URL(meta.location).origin === new URL(endpoint).origin;
      pending = withFileLock(join(repo.locks, `${meta.etag}.bertkit-lock`), async () => {
        if (await exists(blob)) return;
        const incomplete = `${blob}.incomplete`;
        await mkdir(dirname(blob), { recursive: true });
        await downloadTo(meta, incomplete, sameOrigin ? token : undefined, progress);
        await commitFile(incomplete, blob);
      }).finally(() => blobDownloads.delete(blob));
      blobDownloads.set(blob, pending);
    }
    return pending;
  }
}

const blobDownloads = new Map<string, Promise<void>>();
