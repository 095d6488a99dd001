/**
 * A Hugging Face Hub on 127.0.0.1 for tests: the revision API, `resolve` URLs answering HEAD and
 * GET the way huggingface.co does (ETag / X-Repo-Commit / X-Linked-Etag / X-Linked-Size, a 302 to
 * a CDN for LFS files), and the CDN itself on another port (another origin) with Range support.
 * Every request is logged; transfers can be cut short to test resuming.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';

export interface FakeRepo {
  id: string;
  /** Repository path → content. */
  files: Map<string, Buffer>;
  /** Branch or tag → commit (default: main → a commit made from the id). */
  refs?: Record<string, string>;
  /** Requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Listed in the file list but answering 404 (a stale listing). */
  broken?: Set<string>;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export interface FakeHub {
  endpoint: string;
  cdn: string;
  log: LoggedRequest[];
  /** The next `times` CDN transfers of `file` stop after `bytes` bytes (the socket is destroyed). */
  cut(file: string, bytes: number, times?: number): void;
  commitOf(repoId: string, revision?: string): string;
  close(): Promise<void>;
}

const LFS = /\.(safetensors|bin|h5|onnx|msgpack)$/;

export function sha1(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}
export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
function gitBlobSha(b: Buffer): string {
  return createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
}

/** The files of a fixture folder as a repository (golden outputs left out). */
export function repoFromFolder(dir: string, skip = /^golden\./): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (!skip.test(name)) files.set(relative(dir, p).split(sep).join('/'), readFileSync(p));
    }
  };
  walk(dir);
  return files;
}

export interface StTensor {
  dtype: string;
  shape: number[];
  bytes: Buffer;
}

/** The tensors of a safetensors file, in header order. */
export function readSafetensors(buf: Buffer): Map<string, StTensor> {
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = buf.subarray(8 + n);
  const out = new Map<string, StTensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name !== '__metadata__') out.set(name, { dtype: t.dtype, shape: t.shape, bytes: data.subarray(t.data_offsets[0], t.data_offsets[1]) });
  }
  return out;
}

export function writeSafetensors(tensors: Map<string, StTensor>): Buffer {
  const h: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let at = 0;
  for (const [name, t] of tensors) {
    h[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.length] };
    at += t.bytes.length;
  }
  let json = JSON.stringify(h);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...[...tensors.values()].map((t) => t.bytes)]);
}

/** model.safetensors split into two shards plus model.safetensors.index.json. */
export function shardSafetensors(files: Map<string, Buffer>): Map<string, Buffer> {
  const tensors = [...readSafetensors(files.get('model.safetensors')!)];
  const halves = [tensors.slice(0, tensors.length >> 1), tensors.slice(tensors.length >> 1)];
  const out = new Map(files);
  out.delete('model.safetensors');
  const weightMap: Record<string, string> = {};
  halves.forEach((group, i) => {
    const shard = `model-0000${i + 1}-of-00002.safetensors`;
    for (const [name] of group) weightMap[name] = shard;
    out.set(shard, writeSafetensors(new Map(group)));
  });
  out.set('model.safetensors.index.json', Buffer.from(JSON.stringify({ metadata: {}, weight_map: weightMap })));
  return out;
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = http.createServer(handler);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

export async function startFakeHub(repos: FakeRepo[]): Promise<FakeHub> {
  const log: LoggedRequest[] = [];
  const cuts = new Map<string, { bytes: number; times: number }>();
  const bySha = new Map<string, { file: string; body: Buffer }>();
  const commits = new Map<string, Record<string, string>>();
  for (const repo of repos) {
    commits.set(repo.id, { main: sha1(`${repo.id}@main`), ...repo.refs });
    for (const [file, body] of repo.files) if (LFS.test(file)) bySha.set(sha256(body), { file, body });
  }
  const record = (server: 'hub' | 'cdn', req: IncomingMessage) =>
    log.push({ server, method: req.method!, path: decodeURIComponent(req.url!), range: req.headers.range, authorization: req.headers.authorization });
  const error = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code, 'x-error-message': message });
    res.end(JSON.stringify({ error: message }));
  };

  const cdn = await listen((req, res) => {
    record('cdn', req);
    const blob = bySha.get(req.url!.replace(/^\/blobs\//, ''));
    if (!blob) return error(res, 404, 'NotFound', 'no such blob');
    let { body } = blob;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` });
        return res.end();
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    } else {
      res.writeHead(200, { 'content-length': body.length });
    }
    body = body.subarray(start);
    const cut = cuts.get(blob.file);
    if (cut && cut.times > 0) {
      cut.times--;
      res.write(body.subarray(0, cut.bytes), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    res.end(body);
  });

  const hub = await listen((req, res) => {
    record('hub', req);
    const url = new URL(req.url!, 'http://x');
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const id = decodeURIComponent((api ?? resolve)?.[1] ?? '');
    const repo = repos.find((r) => r.id === id);
    if (!repo || (repo.token && req.headers.authorization !== `Bearer ${repo.token}`)) {
      // huggingface.co answers 401 for private and missing repositories alike.
      return error(res, 401, 'RepoNotFound', 'Repository Not Found');
    }
    const revision = decodeURIComponent((api ?? resolve)![2]!);
    const refs = commits.get(repo.id)!;
    const commit = /^[0-9a-f]{40}$/.test(revision) && Object.values(refs).includes(revision) ? revision : refs[revision];
    if (!commit) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    if (api) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ id: repo.id, sha: commit, siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) }));
    }
    const file = decodeURIComponent(resolve![3]!);
    const body = repo.files.get(file);
    if (!body || repo.broken?.has(file)) return error(res, 404, 'EntryNotFound', `${file} does not exist`);
    if (LFS.test(file)) {
      const sha = sha256(body);
      res.writeHead(302, {
        location: `${cdnUrl}/blobs/${sha}`,
        etag: `"${sha1(`pointer ${sha}`)}"`,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': body.length,
        'x-repo-commit': commit,
      });
      return res.end();
    }
    res.writeHead(200, { etag: `"${gitBlobSha(body)}"`, 'content-length': body.length, 'x-repo-commit': commit });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  const cdnUrl = cdn.url;

  return {
    endpoint: hub.url,
    cdn: cdn.url,
    log,
    cut(file, bytes, times = 1) {
      cuts.set(file, { bytes, times });
    },
    commitOf(repoId, revision = 'main') {
      return commits.get(repoId)![revision]!;
    },
    async close() {
      for (const s of [hub.server, cdn.server]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    },
  };
}
