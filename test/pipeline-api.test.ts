/** pipeline(): tasks, model arguments, options, lifetime, errors. */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  pipeline,
  createModel,
  loadModel,
  loadTokenizer,
  BertModel,
  BertError,
  DisposedError,
  InvalidInputError,
  PIPELINE_TASKS,
  UnsupportedModelError,
} from '../src-ts/index.js';
import { resolveModelDir } from '../src-ts/pipelines/index.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors } from '../src-ts/weights/index.js';
import { fixture } from './helpers/fixtures.js';
import { fixtureVariant, tempDir } from './pipeline-variants.js';

test('tasks and aliases', (t) => {
  t.deepEqual([...PIPELINE_TASKS].sort(), [
    'feature-extraction',
    'fill-mask',
    'ner',
    'next-sentence-prediction',
    'question-answering',
    'rerank',
    'sentence-embeddings',
    'sentiment-analysis',
    'text-classification',
    'text-ranking',
    'token-classification',
    'zero-shot-classification',
  ]);
});

test('unknown tasks, bad model arguments and options are typed errors', async (t) => {
  await t.throwsAsync(pipeline('summarization' as any, fixture('tiny-bert-mlm')), { instanceOf: InvalidInputError, message: /unknown task/ });
  await t.throwsAsync(pipeline('fill-mask', 42 as any), { instanceOf: InvalidInputError });
  await t.throwsAsync(pipeline('fill-mask', ''), { instanceOf: InvalidInputError });
  await t.throwsAsync(pipeline('fill-mask', fixture('tiny-bert-mlm'), null as any), { instanceOf: InvalidInputError });
  await t.throwsAsync(pipeline('fill-mask', fixture('tiny-bert-mlm'), { dtype: 'float8' as any }), { instanceOf: UnsupportedModelError, message: /float32, bfloat16, int8/ });
  await t.throwsAsync(pipeline('fill-mask', fixture('tiny-bert-mlm'), { batchSize: 0 }), { instanceOf: InvalidInputError });
  await t.throwsAsync(pipeline('fill-mask', fixture('tiny-bert-mlm'), { threads: -1 }), { instanceOf: InvalidInputError });
  const tmp = tempDir();
  t.teardown(tmp.remove);
  // An empty folder: no config.json.
  await t.throwsAsync(pipeline('fill-mask', tmp.dir), { code: 'ERR_INVALID_FILE' });
});

test('dtype is passed to loadModel (reduced precision, or float32 with the reason)', async (t) => {
  for (const dtype of ['bfloat16', 'int8'] as const) {
    await using cls = await pipeline('text-classification', fixture('tiny-bert-seqcls'), { threads: 1, dtype });
    const b = cls.model.backend;
    t.true(b.dtype === dtype || (b.dtype === 'float32' && typeof b.dtypeFallbackReason === 'string'), JSON.stringify(b));
    const out: any = await cls('a b', { topK: null });
    t.is(out.length, 3);
  }
});

test('a string is a folder or a Hub id (resolveModelDir); the Hub path itself is tested in hub-download', async (t) => {
  const err = await t.throwsAsync(pipeline('fill-mask', './no/such/folder'), { instanceOf: InvalidInputError });
  t.regex(err!.message, /no such folder, and not a Hugging Face Hub id/);
  // A Hub id that is not in an (empty) cache, offline: an error, no network.
  const cacheDir = mkdtempSync(join(tmpdir(), 'bertkit-pipe-'));
  t.teardown(() => rmSync(cacheDir, { recursive: true, force: true }));
  await t.throwsAsync(pipeline('fill-mask', 'google-bert/bert-base-uncased', { cacheDir, localFilesOnly: true }), { instanceOf: BertError });
  t.is(await resolveModelDir(fixture('tiny-bert-mlm')), fixture('tiny-bert-mlm'));
  await t.throwsAsync(resolveModelDir(fixture('tiny-bert-mlm', 'config.json')), { instanceOf: InvalidInputError });
});

test('each task refuses a checkpoint without its head, by folder and by model', async (t) => {
  const cases: [Parameters<typeof pipeline>[0], string][] = [
    ['fill-mask', 'tiny-bert-seqcls'],
    ['text-classification', 'tiny-bert-mlm'],
    ['token-classification', 'tiny-bert-qa'],
    ['question-answering', 'tiny-bert-tokcls'],
    ['next-sentence-prediction', 'tiny-bert-model'],
    ['zero-shot-classification', 'tiny-bert-nsp'],
    ['rerank', 'tiny-bert-mlm'],
  ];
  for (const [task, folder] of cases) {
    await t.throwsAsync(pipeline(task, fixture(folder)), { instanceOf: UnsupportedModelError, message: new RegExp(task) }, `${task} on ${folder}`);
  }
  await using model = await loadModel(fixture('tiny-bert-seqcls'), { threads: 1 });
  await t.throwsAsync(pipeline('fill-mask', model), { instanceOf: UnsupportedModelError, message: /BertForSequenceClassification/ });
  // Every head has a last hidden state: the embedding tasks take any model.
  const fe = await pipeline('feature-extraction', model);
  t.is((await fe('a b'))[0]!.length, 4);
});

test('dispose: owned models are released, shared ones are not; calls after dispose reject', async (t) => {
  const cls = await pipeline('text-classification', fixture('tiny-bert-seqcls'), { threads: 1, device: 'cpu', dtype: 'float32' });
  t.is(cls.task, 'text-classification');
  t.is(cls.model.backend.device, 'cpu');
  t.true(cls.model instanceof BertModel);
  t.is(cls.model.backend.threads, 1);
  t.false(cls.disposed);
  await cls.dispose();
  await cls.dispose(); // twice is fine
  t.true(cls.disposed);
  t.true(cls.model.disposed);
  await t.throwsAsync(cls('x'), { instanceOf: DisposedError, message: /pipeline/ });

  const model = await loadModel(fixture('tiny-bert-seqcls'), { threads: 1 });
  {
    await using shared = await pipeline('text-classification', model);
    t.is(shared.model, model);
  }
  t.false(model.disposed);
  await model.dispose();
  await t.throwsAsync(pipeline('text-classification', model), { instanceOf: DisposedError });
});

test('a model without a tokenizer needs options.tokenizer', async (t) => {
  const dir = fixture('tiny-bert-model');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const tensors = new Map<string, { dtype: 'F32'; dims: number[]; data: Uint8Array }>();
  for (const [name, x] of parseSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors')) {
    tensors.set(name, { dtype: x.dtype as 'F32', dims: x.dims, data: x.data });
  }
  await using model = await createModel(config, tensors, { threads: 1 });
  t.false(model.hasTokenizer);
  await t.throwsAsync(pipeline('feature-extraction', model), { instanceOf: InvalidInputError, message: /tokenizer/ });
  const fe = await pipeline('feature-extraction', model, { tokenizer: await loadTokenizer(dir) });
  t.is((await fe('a'))[0]!.length, 3);
});

test("truncation and padding stored in tokenizer.json do not apply (as transformers' tokenizer call)", async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const dir = fixtureVariant(tmp.dir, 'stored', 'tiny-bert-seqcls', {});
  const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  tj.truncation = { direction: 'Right', max_length: 8, strategy: 'LongestFirst', stride: 0 };
  tj.padding = { strategy: { Fixed: 16 }, direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]' };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tj));
  const text = 'ro this his human know large di hea point will ki cou long fact until our';
  await using fe = await pipeline('feature-extraction', dir, { threads: 1 });
  t.is(fe.tokenizer.encode(text).length, 18, 'the tokenizer does not apply them either');
  t.is((await loadTokenizer(dir, { useStoredTruncationAndPadding: true })).encode(text).length, 16, 'unless asked to');
  t.is((await fe(text))[0]!.length, 18);
  t.is((await fe(text, { tokenizeOptions: { maxLength: 8 } }))[0]!.length, 8);
  await using stored = await pipeline('text-classification', dir, { threads: 1 });
  await using plain = await pipeline('text-classification', fixture('tiny-bert-seqcls'), { threads: 1 });
  t.deepEqual(await stored([text, 'she'], { topK: null }), await plain([text, 'she'], { topK: null }));
});

test('concurrent calls on one pipeline and errors carry the caller stack', async (t) => {
  await using fill = await pipeline('fill-mask', fixture('tiny-bert-mlm'), { threads: 1 });
  const texts = Array.from({ length: 20 }, (_, i) => `word ${'a '.repeat(i)}[MASK]`);
  const all = await Promise.all(texts.map((x) => fill(x, { topK: 1 })));
  const batched = await fill(texts, { topK: 1 });
  t.deepEqual(all, batched);
  const err = await t.throwsAsync(fill('no mask'), { instanceOf: InvalidInputError });
  t.regex(err!.stack ?? '', /pipeline-api\.test\.ts/);
});
