/**
 * Saving a model keeps its tokenizer exactly (a reload tokenizes identically), also into the folder
 * it was loaded from and for a tokenizer built in memory; file-system failures are FileSystemErrors.
 */
import test from 'ava';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSystemError, loadModel, loadTokenizer, tokenizerFromVocab, type Tokenizer } from '../src-ts/index.js';
import { initTrainableModel, type TrainableBertModel } from '../src-ts/training/index.js';
import { bertBaseUncasedDir, fixture, fixturesDir } from './helpers/fixtures.js';

const TEXTS = [
  'Hello WORLD',
  'Zürich naïve café, 中文 and ÅNGSTRÖM!',
  "don't stop [MASK] the [SEP] tokens",
  'unaffable antidisestablishmentarianism',
  '  spaces\tand\nnewlines  ',
];

function tmp(t: { teardown: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'bertkit-save-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function same(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void; is: (a: unknown, b: unknown, m?: string) => void }, a: Tokenizer, b: Tokenizer, what: string): void {
  for (const text of TEXTS) {
    const x = a.encode(text, 'a pair');
    const y = b.encode(text, 'a pair');
    t.deepEqual(y.tokens, x.tokens, `${what}: ${JSON.stringify(text)}`);
    t.deepEqual(Array.from(y.ids), Array.from(x.ids), `${what}: ${JSON.stringify(text)}`);
  }
  t.deepEqual(b.specialTokens, a.specialTokens, `${what}: special tokens`);
  t.is(b.modelMaxLength, a.modelMaxLength, `${what}: model_max_length`);
}

/** A random tiny model around `tokenizer` (no weights needed to test what save writes). */
async function tinyModel(tokenizer: Tokenizer): Promise<TrainableBertModel> {
  const { model } = await initTrainableModel({
    architecture: 'BertForMaskedLM',
    tokenizer,
    config: { vocab_size: tokenizer.vocabSize, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 64 },
    threads: 1,
  });
  return model;
}

function hasTokenizerFilesForTest(d: string): boolean {
  return existsSync(join(d, 'tokenizer.json')) || existsSync(join(d, 'vocab.txt'));
}

/** Every fixture folder a tokenizer loads from. */
function fixtureTokenizerDirs(): string[] {
  const dirs: string[] = [bertBaseUncasedDir];
  const walk = (d: string, depth: number) => {
    if (hasTokenizerFilesForTest(d)) dirs.push(d);
    if (depth === 0) return;
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name), depth - 1);
  };
  walk(fixturesDir, 3);
  return dirs;
}

test('save() into the folder the model came from keeps a cased vocab.txt tokenizer (do_lower_case: false, no tokenizer.json)', async (t) => {
  const dir = join(tmp(t), 'cased');
  cpSync(fixture('tiny-bert-seqcls'), dir, { recursive: true });
  rmSync(join(dir, 'tokenizer.json'));
  const cfgPath = join(dir, 'tokenizer_config.json');
  writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), do_lower_case: false }));
  // A cased vocabulary: the original vocabulary with capitalised words appended.
  const vocabPath = join(dir, 'vocab.txt');
  writeFileSync(vocabPath, `${readFileSync(vocabPath, 'utf8').trimEnd()}\nHello\nWORLD\n`);
  const configBefore = readFileSync(cfgPath, 'utf8');
  const model = (await loadModel(dir, { training: true, threads: 1 })) as TrainableBertModel;
  t.teardown(() => model.dispose());
  const before = model.tokenizer.encode('Hello WORLD').tokens;
  t.deepEqual(before, ['[CLS]', 'Hello', 'WORLD', '[SEP]']);
  await model.save(dir);
  t.is(readFileSync(cfgPath, 'utf8'), configBefore, 'tokenizer_config.json is left as it was');
  const reloaded = await loadTokenizer(dir);
  t.deepEqual(reloaded.encode('Hello WORLD').tokens, before);
  same(t, model.tokenizer, reloaded, 'same folder');
});

test('a tokenizer built with options (pretrain --tokenizer with do_lower_case: false) is saved with them', async (t) => {
  const vocab = readFileSync(join(fixture('tiny-bert-seqcls'), 'vocab.txt'), 'utf8');
  const tok = tokenizerFromVocab(`${vocab.trimEnd()}\nHello\n`, { doLowerCase: false, modelMaxLength: 64 });
  const model = await tinyModel(tok);
  t.teardown(() => model.dispose());
  const out = tmp(t);
  await model.save(out);
  const reloaded = await loadTokenizer(out);
  t.deepEqual(reloaded.encode('Hello').tokens, ['[CLS]', 'Hello', '[SEP]']);
  same(t, tok, reloaded, 'in memory');
});

test('save() keeps every fixture tokenizer exactly: a reload tokenizes identically', async (t) => {
  const dirs = fixtureTokenizerDirs();
  t.true(dirs.length >= 5, `found ${dirs.length} tokenizer folders`);
  let checked = 0;
  for (const dir of dirs) {
    let tok: Tokenizer;
    try {
      tok = await loadTokenizer(dir);
    } catch {
      continue; // not a WordPiece tokenizer (ALBERT's SentencePiece): bertkit does not load it at all
    }
    const model = await tinyModel(tok);
    try {
      const out = join(tmp(t), 'saved');
      await model.save(out);
      same(t, tok, await loadTokenizer(out), dir);
      checked++;
    } finally {
      await model.dispose();
    }
  }
  t.true(checked >= 5, `checked ${checked} tokenizers`);
});

test('saving twice from read-only source files works (files are replaced, not written into)', async (t) => {
  const root = tmp(t);
  const src = join(root, 'src');
  cpSync(fixture('tiny-bert-seqcls'), src, { recursive: true });
  for (const f of readdirSync(src)) chmodSync(join(src, f), 0o444);
  const model = (await loadModel(src, { training: true, threads: 1 })) as TrainableBertModel;
  t.teardown(() => model.dispose());
  const out = join(root, 'out');
  await model.save(out);
  for (const f of readdirSync(out)) chmodSync(join(out, f), 0o444);
  await model.save(out);
  t.true(existsSync(join(out, 'vocab.txt')));
  t.deepEqual((await loadTokenizer(out)).encode('hello').ids, model.tokenizer.encode('hello').ids);
});

test('file-system failures while saving are FileSystemError (ERR_FS) with the path and the cause, not NativeError', async (t) => {
  const root = tmp(t);
  const model = (await loadModel(fixture('tiny-bert-seqcls'), { training: true, threads: 1 })) as TrainableBertModel;
  t.teardown(() => model.dispose());
  // A folder where a file should go: the rename fails whatever the permissions.
  const out = join(root, 'out');
  mkdirSync(join(out, 'model.safetensors'), { recursive: true });
  writeFileSync(join(out, 'model.safetensors', 'x'), 'x');
  const err = await t.throwsAsync(model.save(out), { instanceOf: FileSystemError });
  t.is(err!.code, 'ERR_FS');
  t.is(err!.path, join(out, 'model.safetensors'));
  t.truthy(err!.cause);
  t.regex(err!.message, /model\.safetensors/);
  // A file where the folder should be.
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  const err2 = await t.throwsAsync(model.save(join(file, 'sub')), { instanceOf: FileSystemError });
  t.regex(err2!.message, /a-file/);
  t.truthy(err2!.errno);
});

test('fit() into an output folder it cannot write is a FileSystemError with the path', async (t) => {
  const root = tmp(t);
  const model = (await loadModel(fixture('tiny-bert-seqcls'), { training: true, threads: 1 })) as TrainableBertModel;
  t.teardown(() => model.dispose());
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  const ex = model.tokenizer.encode('the cat');
  const { fit } = await import('../src-ts/training/index.js');
  const err = await t.throwsAsync(fit(model, { train: [{ inputIds: Array.from(ex.ids), label: 1 }] as never, learningRate: 1e-3, maxSteps: 1, outputDir: join(file, 'out') }), { instanceOf: FileSystemError });
  t.is(err!.path, join(file, 'out'));
});
