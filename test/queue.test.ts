/**
 * Job queues for real: a redis-server on 127.0.0.1 (test/helpers/redis.ts), `bertkit worker`
 * processes and the corpus runner (`bertkit embed --queue`), with the failures the queue exists
 * for: a worker SIGKILLed holding a job, Redis restarted mid-run, poison inputs, a model that does
 * not load, a runner interrupted and resumed. Every check is row by row against the single-process
 * `bertkit embed` of the same corpus: every row once, in order, equal. BullMQ's lock and stall
 * intervals are shortened (1 s / 0.5 s) so that a dead worker's job comes back within seconds.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobFailedError, pipeline, createBatcher, createJobClient, createWorker, loadModel, runCorpus, type CorpusError, type JobClient } from '../src-ts/index.js';
import { bertkit, cleanEnv, cliPath, jsonLines } from './helpers/cli.js';
import { makeRerankerFolder } from './helpers/example-server.js';
import { fixture, repoRoot } from './helpers/fixtures.js';
import { Procs, type Proc } from './helpers/processes.js';
import { redisMissing, startRedis, type RedisServer } from './helpers/redis.js';

const missing = redisMissing();
const MODEL = fixture('tiny-bert-model');
/**
 * Fast stall recovery: the doomed worker's lock lapses 1 s after it dies, live workers look every
 * 0.5 s. A job may stall 3 times before it fails, so that a lock renewal delayed by a loaded
 * machine (a stall of a live worker's job) cannot fail a test.
 */
const FAST_STALL = ['--stalled-interval', '500', '--max-stalled', '3'];

interface Env {
  dir: string;
  redis: RedisServer;
  procs: Procs;
}

async function setup(): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'bertkit-queue-'));
  return { dir, redis: await startRedis(), procs: new Procs() };
}

async function teardown(env: Env): Promise<void> {
  await env.procs.killAll();
  await env.redis.stop();
  await rm(env.dir, { recursive: true, force: true });
}

/** `n` short texts (well under the model's 64 positions), all different. */
function corpusLines(n: number): string[] {
  const words = ['the', 'quick', 'river', 'stone', 'paper', 'light', 'north', 'green', 'market', 'song', 'window', 'seven'];
  return Array.from({ length: n }, (_, i) => {
    const len = 3 + ((i * 7) % 11);
    const t = Array.from({ length: len }, (_, k) => words[(i * 5 + k * 3 + (i >> 2)) % words.length]).join(' ');
    return JSON.stringify({ text: `${t} ${i}` });
  });
}

function cliWorker(env: Env, queue: string, extra: string[] = []): Proc {
  return env.procs.start(process.execPath, [cliPath, 'worker', '--redis', env.redis.url, '--queue', queue, '-m', MODEL, '--task', 'embed', ...extra], cleanEnv());
}

/** The test helper worker that holds its `holdAt`-th job (see test/helpers/queue-worker.ts). */
function holdingWorker(env: Env, queue: string, cfg: { holdAt: number; release?: string; lockDuration?: number; stalledInterval?: number; maxStalledCount?: number; concurrency?: number }): Proc {
  const script = join(repoRoot, 'test', 'helpers', 'queue-worker.ts');
  return env.procs.start(process.execPath, ['--import=tsx', script], cleanEnv({ QUEUE_WORKER: JSON.stringify({ redis: env.redis.url, queue, model: MODEL, ...cfg }) }));
}

function runner(env: Env, queue: string, input: string, output: string, extra: string[] = []): Proc {
  return env.procs.start(process.execPath, [cliPath, 'embed', '--queue', queue, '--redis', env.redis.url, '-i', input, '-o', output, ...extra], cleanEnv());
}

type Row = { text?: string; embedding?: number[]; input?: string; error?: { name: string; code: string; message: string } };

/** The single-process run of the same corpus. */
async function reference(input: string): Promise<Row[]> {
  const r = await bertkit(['embed', '-m', MODEL, '-i', input, '-f', 'jsonl']);
  return jsonLines(r.stdout) as Row[];
}

/**
 * Row-level equality: same number of rows, same order, same text, vectors equal to 1e-5 (the
 * queue's batches mix other jobs' rows; the packed engine's per-row results may differ in the last
 * bits with the batch's composition, and the vectors here are O(1)).
 */
function sameRows(t: import('ava').ExecutionContext, got: Row[], want: Row[]): void {
  t.is(got.length, want.length, 'row count');
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (w.error) {
      t.is(g.input, w.input, `row ${i}: error record`);
      t.is(g.error?.code, w.error.code, `row ${i}: error code`);
      continue;
    }
    t.is(g.text, w.text, `row ${i}: text`);
    t.is(g.embedding?.length, w.embedding!.length, `row ${i}: dim`);
    let worst = 0;
    w.embedding!.forEach((x, k) => (worst = Math.max(worst, Math.abs(x - (g.embedding?.[k] ?? NaN)))));
    if (!(worst <= 1e-5)) t.fail(`row ${i}: vectors differ by ${worst}`);
  }
}

async function lineCount(file: string): Promise<number> {
  return existsSync(file) ? (await readFile(file, 'utf8')).split('\n').length - 1 : 0;
}

if (missing) {
  console.warn(`queue: skipped: ${missing}`);
  test.skip(`queue tests skipped: ${missing}`, () => {});
} else {
  registerQueueTests();
}

function registerQueueTests(): void {
  test.serial('two workers: the corpus output equals the single-process run; health, metrics, graceful SIGTERM', async (t) => {
    const env = await setup();
    t.teardown(() => teardown(env));
    const input = join(env.dir, 'corpus.jsonl');
    await writeFile(input, corpusLines(150).join('\n') + '\n');
    const w1 = cliWorker(env, 'q', ['--concurrency', '3', '--port', '0']);
    const w2 = cliWorker(env, 'q', ['--concurrency', '3']);
    const [, healthUrl] = (await w1.waitFor(/health and metrics on (\S+)/))!;
    await Promise.all([w1.waitFor(/ready/), w2.waitFor(/ready/)]);
    const out = join(env.dir, 'vectors.jsonl');
    const r = runner(env, 'q', input, out, ['--chunk-size', '16', '--in-flight', '4']);
    t.is(await r.exited, 0, r.output());
    sameRows(t, jsonLines(await readFile(out, 'utf8')) as Row[], await reference(input));
    t.false(existsSync(`${out}.partial`));
    // Both workers took jobs (10 chunks, 3 at a time each).
    t.true(w1.lines.some((l) => /job embed-/.test(l)) || w2.lines.some((l) => /job embed-/.test(l)));

    const health = await fetch(healthUrl!);
    t.is(health.status, 200);
    t.like(await health.json(), { status: 'ok', redis: 'ready', task: 'embed' });
    const metrics = await (await fetch(healthUrl!.replace('/health', '/metrics'))).text();
    t.regex(metrics, /bertkit_queue_jobs_total\{outcome="completed"\} [1-9]/);
    t.regex(metrics, /bertkit_batcher_batches_total [1-9]/);
    // Finished chunks are deleted from Redis once written: the queue holds nothing.
    const client = await createJobClient({ redis: env.redis.url, queue: 'q' });
    t.teardown(() => client.close());
    t.like(await client.counts(), { completed: 0, failed: 0, waiting: 0, active: 0 });

    w1.child.kill('SIGTERM');
    w2.child.kill('SIGTERM');
    t.is(await w1.exited, 0);
    t.is(await w2.exited, 0);
  });

  test.serial('a worker SIGKILLed holding a job: another takes it (stalled-job recovery), every row exactly once', async (t) => {
    const env = await setup();
    t.teardown(() => teardown(env));
    const input = join(env.dir, 'corpus.jsonl');
    await writeFile(input, corpusLines(96).join('\n') + '\n');
    // Its stall settings too: the Redis key that spaces the stall checks lives as long as the
    // interval of the worker that set it last.
    const doomed = holdingWorker(env, 'q', { holdAt: 1, lockDuration: 1000, stalledInterval: 500, maxStalledCount: 3 });
    await doomed.waitFor(/^ready/);
    const out = join(env.dir, 'vectors.jsonl');
    const r = runner(env, 'q', input, out, ['--chunk-size', '16', '--in-flight', '3']);
    const [, held] = (await doomed.waitFor(/^hold (\S+)/))!;
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const rescuer = cliWorker(env, 'q', FAST_STALL);
    t.is(await r.exited, 0, r.output());
    sameRows(t, jsonLines(await readFile(out, 'utf8')) as Row[], await reference(input));
    // The held job ran again on the rescuer, as BullMQ's stalled-job recovery hands it over.
    t.true(rescuer.lines.some((l) => l.includes(`job ${held}:`)), rescuer.output());
  });

  test.serial('Redis restarted mid-run: the worker and the runner reconnect and finish, every row once', async (t) => {
    const env = await setup();
    t.teardown(() => teardown(env));
    const input = join(env.dir, 'corpus.jsonl');
    await writeFile(input, corpusLines(80).join('\n') + '\n');
    const release = join(env.dir, 'release');
    const w = holdingWorker(env, 'q', { holdAt: 2, release, lockDuration: 5000 });
    await w.waitFor(/^ready/);
    const out = join(env.dir, 'vectors.jsonl');
    const r = runner(env, 'q', input, out, ['--chunk-size', '16', '--in-flight', '3']);
    await w.waitFor(/^hold /);
    await env.redis.restart(() => sleep(300));
    await writeFile(release, '');
    t.is(await r.exited, 0, r.output());
    sameRows(t, jsonLines(await readFile(out, 'utf8')) as Row[], await reference(input));
  });

  test.serial('poison inputs: the job fails with the typed error after its attempts, the rest go on, the runner names the rows', async (t) => {
    const env = await setup();
    t.teardown(() => teardown(env));
    const lines = corpusLines(40);
    // Longer than the model's 64 positions: cut, as the single-process command cuts it. Not a text: refused by the runner.
    const long = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');
    lines[5] = JSON.stringify({ text: long });
    lines[21] = JSON.stringify({ nottext: 1 });
    const input = join(env.dir, 'corpus.jsonl');
    await writeFile(input, lines.join('\n') + '\n');
    cliWorker(env, 'q');
    const out = join(env.dir, 'vectors.jsonl');
    const r = runner(env, 'q', input, out, ['--chunk-size', '8', '--attempts', '2', '--backoff', '10']);
    t.is(await r.exited, 1, r.output());
    const got = jsonLines(await readFile(out, 'utf8')) as Row[];
    sameRows(t, got, await reference(input));
    t.like(got[21], { input: `${input}:22`, error: { name: 'InputError', code: 'ERR_CLI_INPUT' } });
    t.regex(r.output(), /1 of 40 inputs failed/);

    // Without truncation the worker refuses the long text: that job fails after both attempts,
    // naming the row; the chunk's other rows go again as a smaller job and are written in place.
    const client = await createJobClient({ redis: env.redis.url, queue: 'q', attempts: 2, backoffMs: 10 });
    t.teardown(() => client.close());
    const texts = corpusLines(20).map((l) => (JSON.parse(l) as { text: string }).text);
    texts[7] = long;
    const failures: CorpusError[] = [];
    const apiOut = join(env.dir, 'api.jsonl');
    const summary = await runCorpus({
      client,
      task: 'embed',
      rows: (async function* () {
        for (let i = 0; i < texts.length; i++) yield { value: texts[i], where: `row ${i}` };
      })(),
      output: apiOut,
      chunkSize: 8,
      record: (row, text, v) => ({ text, embedding: Array.from(v as Float32Array) }),
      onError: (e) => failures.push(e),
    });
    t.like(summary, { rows: 20, failed: 1, resumed: 0 });
    t.like(failures, [{ where: 'row 7', name: 'InvalidInputError', code: 'ERR_INVALID_INPUT' }]);
    const apiRows = jsonLines(await readFile(apiOut, 'utf8')) as Row[];
    t.like(apiRows[7], { input: 'row 7', error: { code: 'ERR_INVALID_INPUT' } });
    const model = await loadModel(MODEL);
    t.teardown(() => model.dispose());
    const batcher = createBatcher(model);
    for (const i of [0, 6, 8, 19]) t.deepEqual(apiRows[i]!.embedding, Array.from(await batcher.embed(texts[i]!)), `row ${i}`);

    // The API: a job with a bad row fails after both attempts with the worker's error and the row.
    const err = await t.throwsAsync(client.run({ v: 1, task: 'embed', inputs: ['fine', 42] }), { instanceOf: JobFailedError });
    t.like(err, { code: 'ERR_JOB_FAILED', remoteCode: 'ERR_INVALID_INPUT', remoteName: 'InvalidInputError', rows: [1], attemptsMade: 2 });
    // And a good one still goes through, equal to the batcher in this process.
    const [v] = await client.embed(['a short text']);
    t.deepEqual(Array.from(v!), Array.from(await batcher.embed('a short text')));
  });

  test.serial('a model that fails to load: the worker exits non-zero with the error and takes no job', async (t) => {
    const env = await setup();
    t.teardown(() => teardown(env));
    const broken = join(env.dir, 'broken-model');
    await mkdir(broken);
    await writeFile(join(broken, 'config.json'), '{"model_type": "bert", "hidden_size": ');
    const client: JobClient = await createJobClient({ redis: env.redis.url, queue: 'q' });
    t.teardown(() => client.close());
    const pending = client.embed(['waiting for a worker']);
    pending.catch(() => {});
    await sleep(100);
    const w = env.procs.start(process.execPath, [cliPath, 'worker', '--redis', env.redis.url, '--queue', 'q', '-m', broken, '--task', 'embed'], cleanEnv());
    t.is(await w.exited, 1);
    t.regex(w.output(), /bertkit worker: \w+Error \(ERR_[A-Z_]+\): .*config\.json/);
    t.false(w.output().includes('ready'));
    t.like(await client.counts(), { waiting: 1, active: 0, completed: 0, failed: 0 });
  });

  test.serial('the runner interrupted and resumed: nothing computed twice, nothing written twice', async (t) => {
    const env = await setup();
    t.teardown(() => teardown(env));
    const input = join(env.dir, 'corpus.jsonl');
    await writeFile(input, corpusLines(80).join('\n') + '\n');
    const release = join(env.dir, 'release');
    const w = holdingWorker(env, 'q', { holdAt: 3, release });
    await w.waitFor(/^ready/);
    const out = join(env.dir, 'vectors.jsonl');
    const first = runner(env, 'q', input, out, ['--chunk-size', '8', '--in-flight', '4']);
    await w.waitFor(/^hold /);
    // Two chunks are on disk; the held one and those behind it are in flight.
    while ((await lineCount(`${out}.partial`)) < 16) await sleep(20);
    first.child.kill('SIGKILL');
    await first.exited;
    t.false(existsSync(out));
    const done = await lineCount(`${out}.partial`);
    await writeFile(release, '');
    const second = runner(env, 'q', input, out, ['--chunk-size', '8', '--in-flight', '4']);
    t.is(await second.exited, 0, second.output());
    t.regex(second.output(), new RegExp(`80 rows to .* \\(${done} done before, resumed\\)`));
    sameRows(t, jsonLines(await readFile(out, 'utf8')) as Row[], await reference(input));
    // Each of the 10 chunks ran once on the worker: the first run's jobs were read back, not redone.
    const started = w.lines.filter((l) => l.startsWith('start ')).map((l) => l.split(' ')[1]);
    t.is(started.length, 10, w.output());
    t.is(new Set(started).size, 10);
  });

  test.serial('createWorker refuses unknown options and tasks; a worker and client in one process', async (t) => {
    const env = await setup();
    t.teardown(() => teardown(env));
    const model = await loadModel(fixture('tiny-bert-seqcls'));
    t.teardown(() => model.dispose());
    await t.throwsAsync(createWorker({ redis: env.redis.url, queue: 'c', model, task: 'classify', concurency: 2 } as never), { code: 'ERR_INVALID_INPUT', message: /concurency.*concurrency/ });
    await t.throwsAsync(createWorker({ redis: env.redis.url, queue: 'c', model, task: 'summarize' as never }), { code: 'ERR_INVALID_INPUT' });
    const worker = await createWorker({ redis: env.redis.url, queue: 'c', model, task: 'classify', concurrency: 2 });
    const client = await createJobClient({ redis: env.redis.url, queue: 'c' });
    t.teardown(async () => {
      await client.close();
      await worker.close();
    });
    const inputs = ['one text', { text: 'a premise', textPair: 'a hypothesis' }];
    const got = await client.classify(inputs);
    t.deepEqual(got, await createBatcher(model).classify(inputs));
  });

  test.serial('ner and fill-mask jobs give what the pipelines give in-process', async (t) => {
    const env = await setup();
    t.teardown(() => teardown(env));
    for (const [task, dir, pipelineTask, texts] of [
      ['ner', 'tiny-bert-tokcls', 'token-classification', ['alice lives in paris', 'the river runs north']],
      ['fill-mask', 'tiny-bert-mlm', 'fill-mask', ['the [MASK] runs north', 'a [MASK] of paper']],
    ] as const) {
      const model = await loadModel(fixture(dir));
      t.teardown(() => model.dispose());
      const worker = await createWorker({ redis: env.redis.url, queue: task, model, task });
      const client = await createJobClient({ redis: env.redis.url, queue: task });
      t.teardown(async () => {
        await client.close();
        await worker.close();
      });
      const got = await client.run({ v: 1, task, inputs: [...texts], options: task === 'fill-mask' ? { topK: 3 } : {} });
      const p = await pipeline(pipelineTask, model);
      const want = await (p as unknown as (x: string[], o: object) => Promise<unknown>)([...texts], task === 'fill-mask' ? { topK: 3 } : {});
      await p.dispose();
      t.deepEqual(got.results, JSON.parse(JSON.stringify(want)), task);
    }
  });

  test.serial('rerank jobs give what the batcher gives in-process', async (t) => {
    const env = await setup();
    t.teardown(() => teardown(env));
    const dir = makeRerankerFolder(fixture('tiny-bert-seqcls'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const model = await loadModel(dir);
    t.teardown(() => model.dispose());
    const worker = await createWorker({ redis: env.redis.url, queue: 'rerank', model, task: 'rerank' });
    const client = await createJobClient({ redis: env.redis.url, queue: 'rerank' });
    t.teardown(async () => {
      await client.close();
      await worker.close();
    });
    const query = 'where does the river run';
    const documents = ['the river runs north', 'a sheet of paper', 'alice lives in paris'];
    const got = await client.rerank(query, documents, { returnDocuments: true });
    const batcher = createBatcher(model);
    const want = await batcher.rerank(query, documents, { returnDocuments: true });
    await batcher.close();
    t.is(got.length, documents.length);
    t.deepEqual(got, JSON.parse(JSON.stringify(want)));
  });
}
