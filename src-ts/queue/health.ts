/** A worker's HTTP side: GET /health (200 ready, 503 not: closing or Redis down) and GET /metrics (Prometheus). */
import type { QueueWorker } from './worker.js';

/** The listening server (typed without node:http, so the typings need no @types/node). */
export interface HealthServer {
  /** The port it listens on (the one chosen when asked for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export async function serveWorkerHealth(worker: QueueWorker, options: { port: number; host?: string }): Promise<HealthServer> {
  // node:http is loaded here, not when the package is imported (most users never start one).
  const server = process.getBuiltinModule('node:http').createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/health') {
      const ok = worker.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : 'unhealthy', ...worker.stats() }));
    } else if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(worker.metrics());
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found: GET /health or /metrics' }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
