/**
 * BullMQ is an optional peer dependency: loaded on first use, so that nobody who never queues a job
 * installs or imports it. A missing package is a MissingDependencyError naming the install command.
 */
import type * as BullMQ from 'bullmq';
import type { Redis as IORedis } from 'ioredis';
import { InvalidInputError, MissingDependencyError } from '../errors.js';

export interface QueueDeps {
  bullmq: typeof BullMQ;
  /** ioredis' client class (bullmq's own optional peer): bertkit makes the connections, so it can tell their state. */
  Redis: typeof IORedis;
}

let loaded: Promise<QueueDeps> | undefined;

export function loadQueueDeps(): Promise<QueueDeps> {
  loaded ??= (async () => {
    try {
      const { Redis } = await import('ioredis');
      return { bullmq: await import('bullmq'), Redis };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new MissingDependencyError('bertkit job queues', ['bullmq', 'ioredis'], { cause: err });
      throw err;
    }
  })();
  loaded.catch(() => (loaded = undefined));
  return loaded;
}

/** Connection options as ioredis takes them. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
  /** Null: a command waits through a reconnect instead of failing (what BullMQ requires of workers). */
  maxRetriesPerRequest: null;
  /** Reconnect forever, backing off to 2 s: a restarted Redis is picked up again. */
  retryStrategy: (times: number) => number;
}

/** `redis://[user:pass@]host[:port][/db]` (or rediss:// for TLS) as connection options. */
export function redisOptions(url: string): RedisConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidInputError(`redis: expected a URL like redis://127.0.0.1:6379, got ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new InvalidInputError(`redis: expected a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  const options: RedisConnectionOptions = {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
  if (u.username) options.username = decodeURIComponent(u.username);
  if (u.password) options.password = decodeURIComponent(u.password);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '') {
    if (!/^\d+$/.test(db)) throw new InvalidInputError(`redis: the URL's path must be a database number, got ${JSON.stringify(db)}`);
    options.db = Number(db);
  }
  if (u.protocol === 'rediss:') options.tls = {};
  return options;
}
