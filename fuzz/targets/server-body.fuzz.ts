/**
 * The example server's request bodies (examples/server): POST /embed, /rerank, /predict,
 * /tokenize, /, /embed_all, /similarity, /decode and /v1/embeddings with any bytes answer 2xx, 4xx
 * or 503, never a 500 (an unexpected exception).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadModel } from 'bertkit';
import { assert } from '../check.js';
import { fixture } from '../seeds.js';

export const dict = 'server.dict';
export const maxLen = 1 << 16;

// New routes go at the end: a seed's first byte picks its route.
const ROUTES = ['/embed', '/rerank', '/predict', '/tokenize', '/', '/embed_all', '/similarity', '/decode', '/v1/embeddings'];
const model = await loadModel(fixture('tiny-bert-seqcls'), { threads: 1, device: 'cpu' });
// The example is plain JavaScript without types: imported through a path TypeScript does not resolve.
const appModule = '../../examples/server/app.mjs';
const { createApp } = (await import(appModule)) as { createApp: (o: object) => { server: http.Server } };
const app = createApp({ model, tokenizer: model.tokenizer, maxClientBatchSize: 8, payloadLimit: 1 << 16 });
await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', r));
const port = (app.server.address() as AddressInfo).port;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

export function seeds(): Buffer[] {
  return [
    [0, '{"inputs":"Hello world"}'],
    [0, '{"inputs":["a","b"],"truncate":true,"normalize":false}'],
    [1, '{"query":"q","texts":["a","b"],"return_text":true}'],
    [2, '{"inputs":[["a","b"]],"raw_scores":true}'],
    [3, '{"inputs":"Hello","add_special_tokens":false,"prompt_name":null}'],
    [4, '{"inputs":"Hello","parameters":{"top_k":1,"function_to_apply":"sigmoid"}}'],
    [5, '{"inputs":[[101,208,102],"a"],"truncate":true,"truncation_direction":"left"}'],
    [6, '{"inputs":{"source_sentence":"a","sentences":["b","c"]},"parameters":{"truncate":true}}'],
    [7, '{"ids":[[101,102],[5]],"skip_special_tokens":false}'],
    [8, '{"input":["a",[101,102]],"model":"m","encoding_format":"base64","dimensions":8,"user":"u"}'],
  ].map(([r, s]) => Buffer.concat([Buffer.from([r as number]), Buffer.from(s as string)]));
}

function post(path: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function fuzz(data: Buffer): Promise<void> {
  if (data.length < 1) return;
  const route = ROUTES[data[0]! % ROUTES.length]!;
  const { status, text } = await post(route, data.subarray(1));
  assert(status !== 500 && status > 0, `${route} answered ${status}: ${text.slice(0, 500)}`);
}

/** Stops the server and releases the model (the regression test calls it; the engines just exit). */
export async function close(): Promise<void> {
  agent.destroy();
  await new Promise((r) => app.server.close(r));
  await model.dispose();
}
