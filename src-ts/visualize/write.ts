/** Writing a rendering to disk: a temporary name in the same folder, then rename, so no half file is ever seen. */
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidInputError, OutputFileError } from '../errors.js';
import { tempPathFor } from '../util/atomic-file.js';

const REASONS: Record<string, string> = {
  ENOENT: 'its folder does not exist',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EACCES: 'no permission to write there',
  EPERM: 'no permission to write there',
  EROFS: 'the file system is read-only',
  EISDIR: 'it is a folder',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  ENAMETOOLONG: 'the name is too long',
};

/** Writes `content` to `file` atomically; a failure throws OutputFileError and leaves nothing behind. */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  if (typeof file !== 'string' || file === '') throw new InvalidInputError('the output path must be a non-empty string');
  const target = resolve(file);
  const st = await stat(target).catch(() => undefined);
  if (st?.isDirectory()) throw new OutputFileError('cannot write the output: it is a folder (give a file name)', file);
  const tmp = tempPathFor(target);
  try {
    await writeFile(tmp, content, { flag: 'wx' });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException)?.code ?? '';
    throw new OutputFileError(`cannot write the output: ${REASONS[code] ?? (err as Error).message}${code ? ` (${code})` : ''}`, file, { cause: err });
  }
}
