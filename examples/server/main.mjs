#!/usr/bin/env node
// npm run serve -- --model DIR [--port 8080] [options]: see --help.
import { parseArgs } from 'node:util';
import { loadModel, readEmbeddingSettings } from 'bertkit';
import { createApp } from './app.mjs';

const HELP = `Usage: npm run serve -- --model DIR [options]

Serves one BERT model with Text Embeddings Inference's HTTP API and OpenAI's embeddings API:
  POST /  /embed  /embed_all  /similarity  /rerank  /predict  /tokenize  /decode
  POST /v1/embeddings                            GET /health  /info  /metrics

  --model DIR                  model folder (transformers or sentence-transformers layout)
  --host HOST                  default 127.0.0.1
  --port N                     default 8080 (0: any free port)
  --threads N                  the model's threads (default: every core)
  --dtype float32|bfloat16|int8
  --pooling MODE               embedding pooling (default: the folder's, else mean)
  --served-model-name NAME     the \`model\` OpenAI's responses name (default: --model)
  --api-key KEY                require \`Authorization: Bearer KEY\` on every route but health and
                               metrics (default: the API_KEY environment variable, as TEI)

Batching:
  --batching on|off            off: one forward per request (default on)
  --max-batch-tokens N         tokens per forward (default 4096)
  --max-batch-size N           sequences per forward (default 64)
  --max-wait-ms N              how long a lone request waits for company when idle (default 2)
  --order arrival|longest-first

Admission and limits:
  --max-queued-tokens N        queued tokens before answering 503 (default 16 x max-batch-tokens)
  --max-concurrent-requests N  requests in flight before answering 503 (default 1024)
  --timeout-ms N               per request, queueing included (default 30000)
  --max-client-batch-size N    inputs per request; more is 413 (default 32)
  --max-input-length N         tokens per input; more is 413 unless truncating (default: the model's)
  --payload-limit N            request body bytes; more is 413 (default 2000000)
  --auto-truncate              truncate inputs when a request does not say
  --shutdown-timeout-ms N      SIGTERM: time to finish in-flight requests (default 30000)
`;

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      model: { type: 'string', short: 'm' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      threads: { type: 'string' },
      dtype: { type: 'string' },
      pooling: { type: 'string' },
      'served-model-name': { type: 'string' },
      'api-key': { type: 'string' },
      batching: { type: 'string', default: 'on' },
      'max-batch-tokens': { type: 'string' },
      'max-batch-size': { type: 'string' },
      'max-wait-ms': { type: 'string' },
      order: { type: 'string' },
      'max-queued-tokens': { type: 'string' },
      'max-concurrent-requests': { type: 'string' },
      'timeout-ms': { type: 'string', default: '30000' },
      'max-client-batch-size': { type: 'string', default: '32' },
      'max-input-length': { type: 'string' },
      'payload-limit': { type: 'string', default: '2000000' },
      'auto-truncate': { type: 'boolean', default: false },
      'shutdown-timeout-ms': { type: 'string', default: '30000' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (e) {
  console.error(`${e.message}\n\n${HELP}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (!args.model) {
  console.error(`--model is required\n\n${HELP}`);
  process.exit(2);
}
const int = (name, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) => {
  const v = args[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    console.error(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
if (args.batching !== 'on' && args.batching !== 'off') {
  console.error('--batching must be on or off');
  process.exit(2);
}

// Checked before the model loads: a bad --port is a usage error, not a crash after loading.
const port = int('port', { max: 65535 });

const batcherOptions = Object.fromEntries(
  Object.entries({
    maxBatchTokens: int('max-batch-tokens', { min: 1 }),
    maxBatchSize: int('max-batch-size', { min: 1 }),
    maxWaitMs: int('max-wait-ms'),
    maxQueuedTokens: int('max-queued-tokens', { min: 1 }),
    maxConcurrentRequests: int('max-concurrent-requests', { min: 1 }),
    order: args.order,
  }).filter(([, v]) => v !== undefined),
);

try {
  const settings = await readEmbeddingSettings(args.model);
  const model = await loadModel(settings.modelDir, {
    device: 'cpu',
    ...(args.threads ? { threads: int('threads', { min: 1 }) } : {}),
    ...(args.dtype ? { dtype: args.dtype } : {}),
  });
  if (!model.hasTokenizer) throw new Error(`${settings.modelDir} has no tokenizer (tokenizer.json or vocab.txt)`);
  const app = createApp({
    model,
    tokenizer: model.tokenizer,
    modelId: args.model,
    servedModelName: args['served-model-name'],
    apiKey: args['api-key'] ?? process.env.API_KEY,
    batching: args.batching === 'on',
    batcher: batcherOptions,
    pooling: args.pooling ? args.pooling.split(',') : (settings.pooling ?? ['mean']),
    prompts: settings.prompts,
    defaultPromptName: settings.defaultPromptName,
    maxInputLength: int('max-input-length', { min: 1 }) ?? settings.maxSeqLength ?? undefined,
    maxClientBatchSize: int('max-client-batch-size', { min: 1 }),
    payloadLimit: int('payload-limit', { min: 1 }),
    autoTruncate: args['auto-truncate'],
    timeoutMs: int('timeout-ms', { min: 1 }),
  });

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    console.error(`${signal}: finishing ${app.inflight} in-flight request(s)`);
    try {
      await app.shutdown({ deadlineMs: int('shutdown-timeout-ms', { min: 1 }) });
      await model.dispose();
      console.error('stopped');
      process.exit(0);
    } catch (e) {
      console.error(`shutdown: ${e.message}`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  app.server.listen(port, args.host, () => {
    const { port } = app.server.address();
    const host = args.host.includes(':') ? `[${args.host}]` : args.host;
    process.stdout.write(`listening on http://${host}:${port}\n`);
  });
  app.server.on('error', (e) => {
    console.error(`server: ${e.message}`);
    process.exit(1);
  });
} catch (e) {
  console.error(`bertkit server: ${e?.name ?? 'Error'}: ${e?.message ?? e}`);
  process.exit(1);
}
