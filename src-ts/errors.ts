/**
 * Typed errors. Every error bertkit throws is a `BertError` with a stable `code`, so callers can
 * branch on `err.code` (or `instanceof`) instead of parsing messages.
 */

export type BertErrorCode =
  | 'ERR_BERT'
  | 'ERR_INVALID_FILE'
  | 'ERR_UNSAFE_PICKLE'
  | 'ERR_WEIGHTS_MISMATCH'
  | 'ERR_INVALID_CONFIG'
  | 'ERR_UNSUPPORTED_MODEL'
  | 'ERR_INVALID_INPUT'
  | 'ERR_DISPOSED'
  | 'ERR_BACKEND_UNAVAILABLE'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_NATIVE'
  | 'ERR_HUB'
  | 'ERR_TRAINING'
  | 'ERR_OVERLOADED'
  | 'ERR_ABORTED'
  | 'ERR_TIMEOUT'
  | 'ERR_FS'
  | 'ERR_MISSING_DEPENDENCY'
  | 'ERR_JOB_FAILED';

export interface BertErrorOptions {
  cause?: unknown;
}

export class BertError extends Error {
  readonly code: BertErrorCode;
  constructor(message: string, code: BertErrorCode = 'ERR_BERT', options?: BertErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
  override get name(): string {
    return this.constructor.name;
  }
}

/** A file that cannot be read as what it claims to be: corrupt, truncated, hostile or missing. */
export class InvalidFileError extends BertError {
  readonly file: string | undefined;
  constructor(message: string, file?: string, code: BertErrorCode = 'ERR_INVALID_FILE', options?: BertErrorOptions) {
    super(file === undefined ? message : `${file}: ${message}`, code, options);
    this.file = file;
  }
}

/** A pickle (legacy `pytorch_model.bin`) asked for something a state dict never needs. */
export class UnsafePickleError extends InvalidFileError {
  constructor(message: string, file?: string) {
    super(message, file, 'ERR_UNSAFE_PICKLE');
  }
}

/** The checkpoint's tensors do not fit the architecture: lists every problem at once. */
export class WeightsMismatchError extends InvalidFileError {
  readonly missing: string[];
  readonly unexpected: string[];
  readonly wrongShape: { name: string; expected: number[]; actual: number[] }[];
  constructor(
    problems: {
      missing?: string[];
      unexpected?: string[];
      wrongShape?: { name: string; expected: number[]; actual: number[] }[];
    },
    file?: string,
  ) {
    const missing = problems.missing ?? [];
    const unexpected = problems.unexpected ?? [];
    const wrongShape = problems.wrongShape ?? [];
    const parts: string[] = [];
    if (missing.length) parts.push(`missing tensors: ${missing.join(', ')}`);
    if (unexpected.length) parts.push(`unexpected tensors: ${unexpected.join(', ')}`);
    if (wrongShape.length) {
      parts.push(
        `wrong shapes: ${wrongShape
          .map((w) => `${w.name} is [${w.actual.join(', ')}], expected [${w.expected.join(', ')}]`)
          .join('; ')}`,
      );
    }
    super(`checkpoint does not match the model: ${parts.join('; ')}`, file, 'ERR_WEIGHTS_MISMATCH');
    this.missing = missing;
    this.unexpected = unexpected;
    this.wrongShape = wrongShape;
  }
}

/** config.json values that are invalid (wrong types, inconsistent sizes). */
export class ConfigError extends InvalidFileError {
  constructor(message: string, file?: string) {
    super(message, file, 'ERR_INVALID_CONFIG');
  }
}

/** A model type, architecture or option bertkit does not implement. */
export class UnsupportedModelError extends BertError {
  constructor(message: string) {
    super(message, 'ERR_UNSUPPORTED_MODEL');
  }
}

/** Arguments that cannot be computed on: wrong shapes, ids out of range, too long, wrong types. */
export class InvalidInputError extends BertError {
  constructor(message: string, options?: BertErrorOptions) {
    super(message, 'ERR_INVALID_INPUT', options);
  }
}

/** An output file that cannot be written (missing folder, no permission, a folder in the way); nothing is left behind. */
export class OutputFileError extends InvalidInputError {
  readonly file: string;
  constructor(message: string, file: string, options?: BertErrorOptions) {
    super(`${file}: ${message}`, options);
    this.file = file;
  }
}

/** A call on a model, tokenizer or pipeline after `dispose()`. */
export class DisposedError extends BertError {
  constructor(what = 'model') {
    super(`the ${what} was disposed; load it again to use it`, 'ERR_DISPOSED');
  }
}

/** The requested backend (native addon, CUDA device) cannot be used here; `reasons` says why. */
export class BackendUnavailableError extends BertError {
  readonly reasons: string[];
  constructor(message: string, reasons: string[] = [], options?: BertErrorOptions) {
    super(reasons.length ? `${message}\n${reasons.map((r) => `  - ${r}`).join('\n')}` : message, 'ERR_BACKEND_UNAVAILABLE', options);
    this.reasons = reasons;
  }
}

/** A Hugging Face Hub request failed; `status` is the HTTP status (undefined: no answer at all). */
export class HubError extends BertError {
  readonly status: number | undefined;
  readonly url: string | undefined;
  /** The Hub's X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo. */
  readonly errorCode: string | undefined;
  constructor(message: string, status?: number, url?: string, errorCode?: string, options?: BertErrorOptions) {
    super(message, 'ERR_HUB', options);
    this.status = status;
    this.url = url;
    this.errorCode = errorCode;
  }
}

/**
 * A file-system operation failed (permission denied, disk full, a read-only folder): not an
 * engine bug. `path` is the file or folder, `syscall` and `errno` what the system said (EACCES,
 * ENOSPC, ...); `cause` is the original error.
 */
export class FileSystemError extends BertError {
  readonly path: string;
  readonly syscall: string | undefined;
  readonly errno: string | undefined;
  constructor(message: string, path: string, options?: BertErrorOptions) {
    const cause = options?.cause as { code?: unknown; syscall?: string } | undefined;
    const errno = typeof cause?.code === 'string' ? cause.code : undefined;
    super(`${message} ${path}${errno ? ` (${errno}${cause?.syscall ? ` in ${cause.syscall}` : ''})` : ''}`, 'ERR_FS', options);
    this.path = path;
    this.syscall = cause?.syscall;
    this.errno = errno;
  }
}

/** Wraps a Node file-system error as a FileSystemError (a BertError is returned as is). */
export function fileSystemError(err: unknown, what: string, path: string): BertError {
  if (err instanceof BertError) return err;
  return new FileSystemError(what, path, { cause: err });
}

/** What a training call on an inference model says. */
export const NOT_TRAINABLE = 'this model was loaded for inference; load it with loadModel(dir, { training: true }) to train it';

/**
 * Training cannot go on: a non-finite loss or gradient (`step` says where), or a training call on
 * a model loaded for inference.
 */
export class TrainingError extends BertError {
  readonly step: number | undefined;
  constructor(message: string, step?: number) {
    super(message, 'ERR_TRAINING');
    this.step = step;
  }
}

/** For `.catch()` on a file-system call: rethrows its error as a FileSystemError about `path`. */
export function onFileSystemError(what: string, path: string): (err: unknown) => never {
  return (err) => {
    throw fileSystemError(err, what, path);
  };
}

/** The engine could not allocate what a call needs. */
export class OutOfMemoryError extends BertError {
  constructor(message: string) {
    super(message, 'ERR_OUT_OF_MEMORY');
  }
}

/** An unexpected failure inside the native engine (a bug: please report it). */
export class NativeError extends BertError {
  readonly nativeCode: string | undefined;
  constructor(message: string, nativeCode?: string) {
    super(message, 'ERR_NATIVE');
    this.nativeCode = nativeCode;
  }
}

/**
 * A request refused by admission control (a bounded queue is full): retry later. `retryAfterMs` is
 * an estimate of when the queue will have room (what an HTTP server puts in `Retry-After`).
 */
export class OverloadedError extends BertError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs = 1000) {
    super(message, 'ERR_OVERLOADED');
    this.retryAfterMs = retryAfterMs;
  }
}

/** A request whose `AbortSignal` fired before it finished; `cause` is the signal's reason. */
export class AbortedError extends BertError {
  constructor(message = 'the request was aborted', options?: BertErrorOptions) {
    super(message, 'ERR_ABORTED', options);
  }
}

/** A request that did not finish within its timeout (time queued included). */
export class TimeoutError extends BertError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number, message = `the request did not finish within ${timeoutMs} ms`) {
    super(message, 'ERR_TIMEOUT');
    this.timeoutMs = timeoutMs;
  }
}

/** An optional package a feature needs is not installed (`bullmq` and `ioredis` for job queues). */
export class MissingDependencyError extends BertError {
  readonly packages: string[];
  constructor(feature: string, packages: string[], options?: BertErrorOptions) {
    super(`${feature} needs the optional package${packages.length > 1 ? 's' : ''} ${packages.join(' and ')}: npm install ${packages.join(' ')}`, 'ERR_MISSING_DEPENDENCY', options);
    this.packages = packages;
  }
}

/**
 * A queued job failed on a worker after its attempts. `remoteCode` / `remoteName` are the worker's
 * error (ERR_INVALID_INPUT, InvalidInputError...), `rows` the inputs of the job that caused it
 * (indices into the job's inputs; empty when the whole job failed), `attemptsMade` how often it ran.
 */
export class JobFailedError extends BertError {
  readonly jobId: string;
  readonly remoteCode: string;
  readonly remoteName: string;
  readonly rows: number[];
  readonly attemptsMade: number;
  constructor(jobId: string, detail: { message: string; remoteCode: string; remoteName: string; rows?: number[]; attemptsMade?: number }) {
    super(`job ${jobId} failed: ${detail.remoteName} (${detail.remoteCode}): ${detail.message}`, 'ERR_JOB_FAILED');
    this.jobId = jobId;
    this.remoteCode = detail.remoteCode;
    this.remoteName = detail.remoteName;
    this.rows = detail.rows ?? [];
    this.attemptsMade = detail.attemptsMade ?? 0;
  }
}

/**
 * Native code rejects with a plain Error whose `code` is a status name from
 * native/include/bertkit/status.h; map it onto the typed hierarchy.
 */
export function fromNativeError(err: unknown): BertError {
  if (err instanceof BertError) return err;
  const e = err as { message?: unknown; code?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' ? e.code : undefined;
  switch (code) {
    case 'INVALID_ARGUMENT':
    case 'OUT_OF_RANGE':
      return new InvalidInputError(message);
    case 'OUT_OF_MEMORY':
      return new OutOfMemoryError(message);
    case 'DISPOSED':
      return new DisposedError();
    case 'UNAVAILABLE':
      return new BackendUnavailableError(message);
    default:
      return new NativeError(message, code);
  }
}

/**
 * Errors from asynchronous native work carry the stack of the completion callback, which tells
 * the user nothing. Capture the caller's stack when the call starts and graft it on failure.
 */
export function captureCallerStack(): Error {
  const holder = new Error();
  Error.captureStackTrace?.(holder, captureCallerStack);
  return holder;
}

export function withCallerStack<E extends Error>(err: E, caller: Error): E {
  const frames = (caller.stack ?? '').split('\n').slice(1).join('\n');
  if (frames) err.stack = `${err.name}: ${err.message}\n${frames}`;
  return err;
}
