/**
 * Files that are never seen half-written: the content goes to a temporary name in the same folder
 * (same file system, so the rename is atomic), is fsynced, renamed over the target, and the folder
 * is fsynced so the rename itself survives a power cut. A crash, SIGKILL, ENOSPC or EIO at any
 * point leaves the old complete file (or none) plus at worst a `.<name>.*.tmp` that readers ignore.
 *
 * A leaf module (node:fs and the error types only), so every layer (weights, training, hub, cli)
 * can use it. System errors come out as FileSystemError (ERR_FS) with the system error as cause.
 */
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BertError, FileSystemError } from '../errors.js';

/** A system error (errno code) as a FileSystemError; bertkit's own errors pass through. */
export function fsError(err: unknown, path: string, doing: string): unknown {
  if (err instanceof BertError || typeof (err as NodeJS.ErrnoException)?.code !== 'string') return err;
  return new FileSystemError(`cannot ${doing}`, path, { cause: err });
}

/** The bytes to write, or a function that writes them through the open handle (large files). */
export type AtomicContent = string | Uint8Array | ((fh: FileHandle) => Promise<void>);

/** 8 random hex digits. node:crypto is loaded on first use: importing it costs ~4 ms of the package's import. */
export function randomHex(): string {
  return process.getBuiltinModule('node:crypto').randomBytes(4).toString('hex');
}

/** `<dir>/.<name>.<pid>-<random>.tmp`: hidden, unique per writer, recognisably temporary. */
export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}-${randomHex()}.tmp`);
}

/** True for the names tempPathFor makes (what a crashed writer may leave behind). */
export function isTempName(name: string): boolean {
  return /^\..+\.\d+-[0-9a-f]{8}\.tmp$/.test(name);
}

/** fsync of a folder, so a rename in it is on disk; file systems that cannot (EINVAL, EISDIR on some) are skipped. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP') throw err;
  } finally {
    await fh?.close();
  }
}

/**
 * Makes `tmp` (complete, written by the caller) the file `file`: fsync, rename, fsync the folder.
 * On failure `file` is untouched and `tmp` stays where it was (the caller owns it: a download
 * keeps it to resume).
 */
export async function commitFile(tmp: string, file: string): Promise<void> {
  try {
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await fsyncDir(dirname(file));
  } catch (err) {
    throw fsError(err, file, 'write');
  }
}

/** Writes `file` atomically (see the module comment); creates the folder when missing. */
export async function writeFileAtomic(file: string, content: AtomicContent): Promise<void> {
  const tmp = tempPathFor(file);
  try {
    await mkdir(dirname(file), { recursive: true });
    const fh = await open(tmp, 'wx');
    try {
      if (typeof content === 'function') await content(fh);
      else await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await fsyncDir(dirname(file));
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw fsError(err, file, 'write');
  }
}

/** Copies `src` to `dest` atomically (the copy is read whole: meant for tokenizer-sized files). */
export async function copyFileAtomic(src: string, dest: string): Promise<void> {
  let data: Buffer;
  try {
    const fh = await open(src, 'r');
    try {
      data = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw fsError(err, src, 'read');
  }
  await writeFileAtomic(dest, data);
}
