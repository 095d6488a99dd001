/**
 * HTTP for the Hub with node:http(s): JSON metadata, `HEAD .../resolve/...` file metadata as
 * huggingface_hub reads it, and resumable, verified transfers into `.incomplete` files.
 */
import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { BertError, HubError, InvalidFileError, InvalidInputError } from '../errors.js';
import { hubTimeouts } from './settings.js';

// node:crypto is loaded on first use: importing it costs ~4 ms of the package's import.
const sha256 = (): Hash => process.getBuiltinModule('node:crypto').createHash('sha256');

/** The status behind a failed Hub request (the `cause` of the BertError thrown for it). */
export class HttpStatusError extends Error {
  readonly status: number;
  readonly url: string;
  /** huggingface.co's `X-Error-Code`: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo... */
  readonly errorCode: string | undefined;
  constructor(status: number, url: string, errorCode?: string, detail?: string) {
    super(`HTTP ${status} from ${url}${errorCode ? ` (${errorCode})` : ''}${detail ? `: ${detail}` : ''}`);
    this.status = status;
    this.url = url;
    this.errorCode = errorCode;
  }
  override get name(): string {
    return 'HttpStatusError';
  }
}

export function statusOf(err: unknown): number | undefined {
  const cause = err instanceof HttpStatusError ? err : (err as { cause?: unknown } | null)?.cause;
  return cause instanceof HttpStatusError ? cause.status : undefined;
}

const USER_AGENT = `bertkit/0.1.0; node/${process.versions.node}`;

interface RequestOptions {
  method: 'GET' | 'HEAD';
  token: string | undefined;
  headers?: Record<string, string>;
  timeoutMs: number;
  /** 'all': follow every redirect; 'relative': only those to the same origin (renamed repos). */
  redirects: 'all' | 'relative';
}

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: string;
  body: IncomingMessage;
}

function send(url: URL, method: string, headers: Record<string, string>, timeoutMs: number): Promise<IncomingMessage> {
  // Loaded on first use: node:https (with tls and net) is the costliest part of importing the
  // package, and only downloads need it.
  const lib = url.protocol === 'https:' ? process.getBuiltinModule('node:https') : url.protocol === 'http:' ? process.getBuiltinModule('node:http') : undefined;
  if (!lib) return Promise.reject(new InvalidInputError(`unsupported Hub URL ${url.href} (http or https only)`));
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method, headers }, resolve);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * One request, following redirects as asked. The token goes only to the origin it was meant for:
 * a redirect to another host (the CDN that serves LFS files) is followed without it.
 */
async function request(url: string, options: RequestOptions): Promise<Response> {
  let current = new URL(url);
  const origin = current.origin;
  for (let hops = 0; ; hops++) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'accept-encoding': 'identity', ...options.headers };
    if (options.token && current.origin === origin) headers.authorization = `Bearer ${options.token}`;
    let res: IncomingMessage;
    try {
      res = await send(current, options.method, headers, options.timeoutMs);
    } catch (cause) {
      if (cause instanceof BertError) throw cause;
      throw new HubError(`cannot reach ${current.origin}: ${(cause as Error).message}`, undefined, current.href, undefined, { cause });
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location && hops < 10) {
      const next = new URL(location, current);
      if (options.redirects === 'all' || next.origin === current.origin) {
        res.resume();
        current = next;
        continue;
      }
    }
    return { status, headers: res.headers, url: current.href, body: res };
  }
}

async function readBody(res: IncomingMessage, limit = 64 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res) {
    n += (chunk as Buffer).length;
    if (n > limit) {
      res.destroy();
      throw new BertError(`answer larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The error for a failed request: 401/403/404 are the caller's to fix (id, revision, token). */
async function failure(res: Response, what: string, token: string | undefined): Promise<BertError> {
  const header = (name: string) => {
    const v = res.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  let detail: string | undefined = header('x-error-message');
  if (!detail && res.body.readable) {
    try {
      const text = (await readBody(res.body, 1 << 16)).toString('utf8').trim();
      try {
        detail = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        detail = text;
      }
    } catch {
      // the body does not matter
    }
  } else {
    res.body.resume();
  }
  if (detail) detail = detail.slice(0, 300);
  const cause = new HttpStatusError(res.status, res.url, header('x-error-code'), detail);
  const hint =
    res.status === 401
      ? token
        ? ' — the token sent was refused (expired, revoked or mistyped), or the repository does not exist: check the `token` option, HF_TOKEN or `hf auth login`'
        : ' — the repository is private or gated, or does not exist: pass a token (`token` option, HF_TOKEN, or `hf auth login`)'
      : res.status === 403
        ? ' — the token has no access to this repository (gated models must be accepted on the Hub first)'
        : res.status === 404
          ? ' — not found'
          : '';
  const message = `${what}: HTTP ${res.status}${hint}${detail ? ` (${detail})` : ''}`;
  return new HubError(message, res.status, res.url, cause.errorCode, { cause });
}

/** GET a JSON document (the Hub API). */
export async function getJson(url: string, token: string | undefined, what: string): Promise<unknown> {
  const res = await request(url, { method: 'GET', token, timeoutMs: hubTimeouts().metadataMs, redirects: 'all' });
  if (res.status !== 200) throw await failure(res, what, token);
  const text = (await readBody(res.body)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new BertError(`${what}: the answer is not JSON`, 'ERR_BERT', { cause });
  }
}

/** What `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` says about a file. */
export interface FileMetadata {
  /** Path inside the repository. */
  file: string;
  /** Commit the revision resolved to (X-Repo-Commit). */
  commit: string;
  /** Blob name: the git sha1, or the sha256 for LFS files (X-Linked-Etag, else ETag). */
  etag: string;
  /** Bytes (X-Linked-Size, else Content-Length); undefined when the server does not say. */
  size: number | undefined;
  /** Where to GET it: the CDN for LFS files. */
  location: string;
  /** The sha256 the content must have (LFS files). */
  sha256: string | undefined;
}

function normalizeEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/^"(.*)"$/, '$1') || undefined;
}

export async function fileMetadata(url: string, file: string, token: string | undefined): Promise<FileMetadata> {
  // Relative redirects only (a renamed repository); the CDN's Location is read, not followed.
  const res = await request(url, { method: 'HEAD', token, timeoutMs: hubTimeouts().metadataMs, redirects: 'relative' });
  if (res.status >= 400) throw await failure(res, `${file}`, token);
  res.body.resume();
  const h = res.headers;
  const one = (name: string) => {
    const v = h[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const linked = normalizeEtag(one('x-linked-etag'));
  const etag = linked ?? normalizeEtag(one('etag'));
  const commit = one('x-repo-commit');
  if (!etag || !commit) {
    throw new BertError(`${url}: the server gave no ${etag ? 'X-Repo-Commit' : 'ETag'} header — is HF_ENDPOINT a Hugging Face Hub?`);
  }
  if (!/^[\w.-]+$/.test(etag)) throw new BertError(`${url}: unusable ETag ${JSON.stringify(etag)}`);
  const sizeHeader = one('x-linked-size') ?? one('content-length');
  const size = sizeHeader === undefined ? undefined : Number(sizeHeader);
  const location = one('location');
  return {
    file,
    commit,
    etag,
    size: size !== undefined && Number.isSafeInteger(size) && size >= 0 ? size : undefined,
    location: location ? new URL(location, res.url).href : res.url,
    sha256: linked && /^[0-9a-f]{64}$/.test(linked) ? linked : undefined,
  };
}

const MAX_TRIES = 5;

async function sizeOf(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}

async function sha256Of(path: string): Promise<string> {
  const hash = sha256();
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Downloads `meta` into `incomplete`, continuing what an earlier, interrupted transfer left there
 * (HTTP Range) and retrying a dropped connection from where it stopped. Checks the size and, for
 * LFS files, the sha256; a file that fails a check is deleted. Resolves when `incomplete` holds
 * exactly the file; on failure what arrived stays there for the next try.
 */
export async function downloadTo(
  meta: FileMetadata,
  incomplete: string,
  token: string | undefined,
  onBytes: (loaded: number) => void,
): Promise<void> {
  // sha256 of the first `hashed` bytes of `incomplete`, fed as they are written.
  let hash: Hash | undefined;
  let hashed = 0;
  let complete = false;
  let lastError: unknown;
  for (let attempt = 0; attempt < MAX_TRIES && !complete; attempt++) {
    if (attempt > 0) await backoff(attempt);
    let have = await sizeOf(incomplete);
    if (meta.size !== undefined && have > meta.size) {
      await rm(incomplete, { force: true });
      have = 0;
    }
    if (meta.size !== undefined && have === meta.size) {
      complete = true;
      break;
    }
    let res: Response;
    try {
      res = await request(meta.location, {
        method: 'GET',
        token,
        headers: have > 0 ? { range: `bytes=${have}-` } : {},
        timeoutMs: hubTimeouts().downloadMs,
        redirects: 'all',
      });
    } catch (err) {
      lastError = err;
      continue;
    }
    if (res.status === 416 && have > 0) {
      // Nothing left to send: with no size to check against, what we have is the file.
      res.body.resume();
      if (meta.size === undefined) complete = true;
      else await rm(incomplete, { force: true });
      continue;
    }
    if (res.status !== 200 && res.status !== 206) {
      const err = await failure(res, meta.file, token);
      if (res.status < 500 && res.status !== 429) throw err;
      lastError = err;
      continue;
    }
    let offset = 0;
    if (res.status === 206) {
      const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!range || Number(range[1]) !== have) {
        res.body.resume();
        await rm(incomplete, { force: true });
        lastError = new BertError(`${meta.file}: the server resumed at the wrong place (${res.headers['content-range']})`);
        continue;
      }
      offset = have;
    }
    if (meta.sha256 && (!hash || hashed !== offset)) {
      hash = sha256();
      hashed = 0;
      if (offset > 0) {
        for await (const chunk of createReadStream(incomplete, { end: offset - 1 })) {
          hash.update(chunk as Buffer);
          hashed += (chunk as Buffer).length;
        }
      }
    }
    const fh = await open(incomplete, offset === 0 ? 'w' : 'a');
    let loaded = offset;
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        await fh.write(buf);
        hash?.update(buf);
        hashed += buf.length;
        loaded += buf.length;
        onBytes(loaded);
      }
      if (meta.size === undefined || loaded >= meta.size) complete = true;
      else lastError = new BertError(`${meta.file}: the connection closed at ${loaded} of ${meta.size} bytes`);
    } catch (err) {
      // A dropped connection: keep what arrived and ask for the rest.
      lastError = new BertError(`${meta.file}: transfer interrupted at ${loaded} bytes: ${(err as Error).message}`, 'ERR_BERT', { cause: err });
    } finally {
      await fh.close();
    }
  }
  if (!complete) throw lastError;
  const size = await sizeOf(incomplete);
  if (meta.size !== undefined && size !== meta.size) {
    await rm(incomplete, { force: true });
    throw new InvalidFileError(`downloaded ${size} bytes, expected ${meta.size}; the download was deleted`, meta.file);
  }
  if (meta.sha256) {
    const digest = hash && hashed === size ? hash.digest('hex') : await sha256Of(incomplete);
    if (digest !== meta.sha256) {
      await rm(incomplete, { force: true });
      throw new InvalidFileError(`sha256 ${digest} does not match the Hub's ${meta.sha256}; the download was deleted`, meta.file);
    }
  }
}

function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 2000)));
}
