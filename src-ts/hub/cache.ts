/**
 * The Hugging Face cache layout, shared with Python tools:
 *
 *   <cache>/models--org--name/blobs/<etag>                  file contents, by git sha1 or LFS sha256
 *   <cache>/models--org--name/snapshots/<commit>/<file>     relative symlinks to the blobs (copies
 *                                                           where symlinks are not allowed)
 *   <cache>/models--org--name/refs/<revision>               the commit a branch or tag pointed to
 *   <cache>/.locks/models--org--name/<etag>.lock            huggingface_hub's locks (bertkit uses
 *                                                           its own `.bertkit-lock` files beside them)
 *
 * Every write is atomic (a temporary name, then rename), so a killed process leaves either the
 * old state or the new one, plus at worst a `blobs/<etag>.incomplete` that the next run resumes.
 */
import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, open, readFile, rename, rm, stat, symlink, utimes } from 'node:fs/promises';
import { commitFile, fsyncDir, randomHex, writeFileAtomic } from '../util/atomic-file.js';
import { dirname, join, relative, sep } from 'node:path';

export interface RepoCache {
  repoId: string;
  /** `<cache>/models--org--name` */
  root: string;
  /** `<cache>/.locks/models--org--name` */
  locks: string;
}

export const COMMIT_RE = /^[0-9a-f]{40}$/;

export function repoCache(cacheDir: string, repoId: string): RepoCache {
  const folder = `models--${repoId.split('/').join('--')}`;
  return { repoId, root: join(cacheDir, folder), locks: join(cacheDir, '.locks', folder) };
}

export function blobPath(repo: RepoCache, etag: string): string {
  return join(repo.root, 'blobs', etag);
}

export function snapshotDir(repo: RepoCache, commit: string): string {
  return join(repo.root, 'snapshots', commit);
}

/** A path inside a folder from a repository-relative name ('1_Pooling/config.json'). */
export function inside(dir: string, file: string): string {
  return join(dir, ...file.split('/'));
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path); // follows symlinks: a dangling link does not count
    return true;
  } catch {
    return false;
  }
}

/** The commit `revision` names in the cache: itself when it is a commit hash, else `refs/<revision>`. */
export async function readRef(repo: RepoCache, revision: string): Promise<string | undefined> {
  if (COMMIT_RE.test(revision)) return revision;
  try {
    const commit = (await readFile(inside(join(repo.root, 'refs'), revision), 'utf8')).trim();
    return COMMIT_RE.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

export async function writeRef(repo: RepoCache, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const file = inside(join(repo.root, 'refs'), revision);
  if ((await readRef(repo, revision)) === commit) return;
  await writeAtomic(file, commit);
}

/** The cached snapshot folder for `revision`, or undefined when the cache does not have it. */
export async function cachedSnapshot(repo: RepoCache, revision: string): Promise<string | undefined> {
  const commit = await readRef(repo, revision);
  if (!commit) return undefined;
  const dir = snapshotDir(repo, commit);
  return (await exists(dir)) ? dir : undefined;
}

function tempName(path: string): string {
  return `${path}.${process.pid}-${randomHex()}.tmp`;
}

export async function writeAtomic(file: string, content: string): Promise<void> {
  await writeFileAtomic(file, content);
}

/**
 * Makes `target` (a file in a snapshot) point at `blob`: a relative symlink as huggingface_hub
 * makes, or a copy where the file system or the OS refuses symlinks. Replaces what was there
 * in one rename.
 */
export async function linkBlob(blob: string, target: string, options: { symlinks?: boolean } = {}): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempName(target);
  try {
    let linked = false;
    if (options.symlinks !== false) {
      try {
        await symlink(relative(dirname(target), blob).split(sep).join('/'), tmp);
        linked = true;
      } catch (err) {
        if (!['EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP', 'EINVAL', 'ENOSYS'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
    }
    if (!linked) await copyFile(blob, tmp, fsConstants.COPYFILE_FICLONE);
    await (linked ? rename(tmp, target) : commitFile(tmp, target));
    await fsyncDir(dirname(target));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

const LOCK_BEAT_MS = 2000;
const LOCK_STALE_MS = 15000;

/**
 * Runs `fn` while holding `<lock>`, a file other processes (sharing the cache, maybe from other
 * machines) see: the holder touches it every 2 s, and a lock untouched for 15 s was left by a
 * process that died and is taken over.
 */
export async function withFileLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lock), { recursive: true });
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = await stat(lock).then(
      (s) => Date.now() - s.mtimeMs,
      () => Infinity,
    );
    if (age > LOCK_STALE_MS) await rm(lock, { force: true });
    else await new Promise((r) => setTimeout(r, 100));
  }
  const beat = setInterval(() => {
    const now = new Date();
    utimes(lock, now, now).catch(() => {});
  }, LOCK_BEAT_MS);
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    await rm(lock, { force: true });
  }
}
