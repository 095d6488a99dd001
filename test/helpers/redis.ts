/**
 * A real redis-server (Debian's package; .ci/setup-redis installs it) on a free 127.0.0.1 port,
 * with its data in a temporary folder, stopped and removed by `stop()`. The append-only file is
 * fsynced on every write, so `restart()` brings back every job, as a production Redis would.
 * Where the binary is missing, `redisMissing()` says why (tests skip, as the browser tests do;
 * CI sets BERTKIT_REQUIRE_REDIS=1 so that there a missing server fails instead).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const redisServerPath = process.env.BERTKIT_REDIS_SERVER ?? 'redis-server';

/** Why the Redis tests cannot run here, or undefined when they can. */
export function redisMissing(): string | undefined {
  const r = spawnSync(redisServerPath, ['--version'], { encoding: 'utf8' });
  if (r.status === 0) return undefined;
  const why = `${redisServerPath} is missing: run .ci/setup-redis (apt-get install redis-server, as root) or set BERTKIT_REDIS_SERVER`;
  if (process.env.BERTKIT_REQUIRE_REDIS === '1') throw new Error(`${why} (BERTKIT_REQUIRE_REDIS=1)`);
  return why;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  /** Stops the server (SIGTERM: it writes its data) and starts it again on the same port and data. */
  restart(between?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

function launch(port: number, dir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      redisServerPath,
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.resume();
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${out}`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'bertkit-redis-'));
  const port = await freePort();
  let child = await launch(port, dir);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart(between) {
      await stopChild(child);
      await between?.();
      child = await launch(port, dir);
    },
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
