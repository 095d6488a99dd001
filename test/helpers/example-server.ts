/**
 * The example server (examples/server) as a child process on 127.0.0.1, and folders it serves that
 * the fixtures do not hold as such.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from './fake-hub.js';
import { repoRoot } from './fixtures.js';

export interface Server {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `examples/server/main.mjs` on a free port; `env` is added to a copy of this process's, without API_KEY unless given. */
export async function startServer(args: string[], env: Record<string, string> = {}): Promise<Server> {
  if (!existsSync(join(repoRoot, 'dist', 'index.js'))) throw new Error('run `npm run build:ts` first (npm test does)');
  const childEnv = { ...process.env, ...env };
  if (!('API_KEY' in env)) delete childEnv.API_KEY;
  const child = spawn(process.execPath, ['examples/server/main.mjs', '--port', '0', '--threads', '1', ...args], { cwd: repoRoot, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)\n/m.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`server exited (${code}):\n${err}`)));
  });
  return { child, url, stderr: () => err, exited };
}

/** SIGTERM; resolves with the exit code. */
export async function stopServer(s: Server): Promise<number | null> {
  s.child.kill('SIGTERM');
  return s.exited;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
  text: string;
}

/** One request on a fresh connection; the body parsed as JSON when it is JSON. */
export function request(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const h = data === undefined ? headers : { 'content-type': 'application/json', ...headers };
    const req = http.request(new URL(path, url), { method, agent: false, headers: h }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode!, headers: res.headers, body: parsed, text });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * A one-label cross-encoder folder (a reranker, for TEI) made from a sequence classifier folder:
 * its first label's row of the classifier. The caller removes the returned folder.
 */
export function makeRerankerFolder(seqclsDir: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bertkit-reranker-'));
  for (const f of ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(seqclsDir, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(seqclsDir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } }));
  const tensors = readSafetensors(readFileSync(join(seqclsDir, 'model.safetensors')));
  const w = tensors.get('classifier.weight')!;
  const b = tensors.get('classifier.bias')!;
  tensors.set('classifier.weight', { dtype: w.dtype, shape: [1, w.shape[1]!], bytes: w.bytes.subarray(0, w.shape[1]! * 4) });
  tensors.set('classifier.bias', { dtype: b.dtype, shape: [1], bytes: b.bytes.subarray(0, 4) });
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
  return dir;
}
