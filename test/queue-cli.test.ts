/** The queue's command-line surface, without Redis: what `embed --queue` and `worker` refuse before connecting. */
import test from 'ava';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bertkit, cleanEnv } from './helpers/cli.js';
import { fixture, repoRoot } from './helpers/fixtures.js';

test('embed: the queue options go with --queue and --redis, and the producer takes no model', async (t) => {
  const noQueue = await bertkit(['embed', '-m', fixture('tiny-bert-model'), '--chunk-size', '8', 'a text']);
  t.is(noQueue.code, 2);
  t.regex(noQueue.stderr, /--chunk-size goes with --queue and --redis/);
  const noRedis = await bertkit(['embed', '--queue', 'q', '-o', 'out.jsonl', 'a text']);
  t.is(noRedis.code, 2);
  t.regex(noRedis.stderr, /--queue and --redis go together/);
  const noOutput = await bertkit(['embed', '--queue', 'q', '--redis', 'redis://127.0.0.1:1', 'a text']);
  t.is(noOutput.code, 2);
  t.regex(noOutput.stderr, /needs -o FILE/);
  const model = await bertkit(['embed', '--queue', 'q', '--redis', 'redis://127.0.0.1:1', '-o', 'x.jsonl', '-m', 'm', 'a text']);
  t.is(model.code, 2);
  t.regex(model.stderr, /workers hold the model/);
  const prompt = await bertkit(['embed', '--queue', 'q', '--redis', 'redis://127.0.0.1:1', '-o', 'x.jsonl', '--prompt', 'query: ', 'a text']);
  t.is(prompt.code, 2);
  t.regex(prompt.stderr, /--prompt does not go with --queue/);
});

test('worker: --redis, --queue and --task are required; a bad task or URL is refused before the model loads', async (t) => {
  const noTask = await bertkit(['worker', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '-m', fixture('tiny-bert-model')]);
  t.is(noTask.code, 2);
  t.regex(noTask.stderr, /--task is required: embed, classify, ner, rerank, fill-mask/);
  const badTask = await bertkit(['worker', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--task', 'summarize', '-m', fixture('tiny-bert-model')]);
  t.is(badTask.code, 2);
  const badUrl = await bertkit(['worker', '--redis', 'http://127.0.0.1:1', '--queue', 'q', '--task', 'embed', '-m', fixture('tiny-bert-model')]);
  t.is(badUrl.code, 1);
  t.regex(badUrl.stderr, /InvalidInputError \(ERR_INVALID_INPUT\): redis: expected a redis:\/\/ or rediss:\/\/ URL/);
  const help = await bertkit(['--help']);
  t.regex(help.stdout, /worker +run a model on a BullMQ job queue/);
});

test('without the optional bullmq and ioredis packages, worker and embed --queue say what to install', async (t) => {
  const hide = pathToFileURL(join(repoRoot, "test", "helpers", "hide-queue-deps.mjs")).href;
  const env = cleanEnv({ NODE_OPTIONS: `--import=${hide}` });
  const worker = await bertkit(['worker', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--task', 'embed', '-m', fixture('tiny-bert-model')], { env });
  t.is(worker.code, 1, worker.stderr);
  t.regex(worker.stderr, /needs the optional packages bullmq and ioredis: npm install bullmq ioredis/);
  const producer = await bertkit(['embed', '--queue', 'q', '--redis', 'redis://127.0.0.1:1', '-o', join(tmpdir(), 'bertkit-never-written.jsonl'), 'a text'], { env });
  t.not(producer.code, 0, producer.stderr);
  t.regex(producer.stderr, /npm install bullmq ioredis/);
});
