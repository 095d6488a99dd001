/**
 * feature-extraction and sentence-embeddings: transformers' feature-extraction goldens (all ten
 * fixture folders), sentence-transformers' encode() goldens (mean and cls folders, normalised or
 * not), and every fixture's sentence_embedding.{cls,mean,max}[_norm] goldens via the pooling options.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { pipeline, type PoolingMode } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { loadGolden } from './helpers/golden.js';
import { maxDiff, pipelineGolden } from './pipeline-helpers.js';
import { references, sentenceTransformersFolder, ST_FOLDERS, tempDir } from './pipeline-variants.js';

const FOLDERS = [
  'tiny-bert-model',
  'tiny-bert-mlm',
  'tiny-bert-nsp',
  'tiny-bert-seqcls',
  'tiny-bert-tokcls',
  'tiny-bert-qa',
  'tiny-bert-model-f16',
  'tiny-bert-model-bf16',
  'tiny-bert-pretraining-bin',
  'tiny-bert-gamma-beta',
];
/** float32 compute lands ~2e-6 from the float64 goldens; typical bugs move values by > 1e-4. */
const ATOL = 5e-5;

for (const folder of FOLDERS) {
  test(`feature-extraction ${folder}: [1][seqLen][hidden] as transformers`, async (t) => {
    const g = pipelineGolden(`${folder}.feature-extraction.json`);
    await using fe = await pipeline('feature-extraction', fixture(folder), { threads: 1 });
    for (const c of g.cases) {
      const opts = c.kwargs.tokenize_kwargs ? { tokenizeOptions: { truncation: c.kwargs.tokenize_kwargs.truncation, maxLength: c.kwargs.tokenize_kwargs.max_length } } : {};
      const out = await fe(c.inputs, opts);
      t.is(out.length, 1);
      t.is(out[0]!.length, c.output[0].length, `${c.inputs}: seqLen`);
      t.is(out[0]![0]!.length, c.output[0][0].length);
      const d = maxDiff(out, c.output);
      t.true(d < ATOL, `${folder} ${JSON.stringify(c.inputs).slice(0, 40)}: max diff ${d}`);
    }
    // A batch gives each text's own result, in input order.
    const texts = g.cases.map((c: any) => c.inputs);
    const all = await fe(texts, { tokenizeOptions: { truncation: true, maxLength: 64 }, batchSize: 2 });
    t.is(all.length, texts.length);
    g.cases.forEach((c: any, i: number) => t.true(maxDiff(all[i], c.output) < ATOL, `batched ${i}`));
  });
}

test('feature-extraction: a text longer than the model is a clear error unless truncated', async (t) => {
  const g = pipelineGolden('tiny-bert-model.feature-extraction.json');
  const long = g.cases.find((c: any) => c.kwargs.tokenize_kwargs).inputs;
  await using fe = await pipeline('feature-extraction', fixture('tiny-bert-model'), { threads: 1 });
  await t.throwsAsync(fe(long), { code: 'ERR_INVALID_INPUT', message: /more than the model's 64 positions.*truncation/ });
  const cut = await fe(long, { tokenizeOptions: { truncation: true } });
  t.is(cut[0]!.length, 64);
});

for (const pooling of ['mean', 'cls'] as const) {
  test(`sentence-embeddings: sentence-transformers folder st-tiny-bert-model-${pooling}`, async (t) => {
    const g = pipelineGolden(`st-tiny-bert-model-${pooling}.sentence-transformers.json`);
    await using st = await pipeline('sentence-embeddings', fixture('pipelines', `st-tiny-bert-model-${pooling}`), { threads: 1 });
    t.deepEqual(st.settings.pooling, [pooling]);
    t.true(st.settings.normalize);
    t.is(st.settings.maxSeqLength, 64);
    const norm = await st(g.texts, { batchSize: 8 });
    t.is(norm.length, g.texts.length);
    t.true(maxDiff(norm, g.normalized.embeddings) < 1e-5, `normalized: ${maxDiff(norm, g.normalized.embeddings)}`);
    t.true(maxDiff(norm, g.normalized_flag.embeddings) < 1e-5);
    // The Normalize module dropped: the raw pooled vectors.
    const raw = await st(g.texts, { normalize: false });
    t.true(maxDiff(raw, g.unnormalized.embeddings) < ATOL, `unnormalized: ${maxDiff(raw, g.unnormalized.embeddings)}`);
    // One string: one vector, the same as in the batch.
    const one = await st(g.texts[3]);
    t.true(one instanceof Float32Array);
    t.true(maxDiff(one, g.normalized.embeddings[3]) < 1e-5);
    // The same through a plain folder with options instead of the folder's modules.
    await using plain = await pipeline('sentence-embeddings', fixture('tiny-bert-model'), { threads: 1, pooling, normalize: true });
    t.true(maxDiff(await plain(g.texts), g.normalized.embeddings) < 1e-5);
    // Truncation to max_seq_length: the 84-word text has 64 tokens.
    const longest = g.tokens.reduce((a: number, tk: string[]) => Math.max(a, tk.length), 0);
    t.is(longest, 64);
  });
}

const MODES: PoolingMode[] = ['cls', 'mean', 'max'];

for (const folder of FOLDERS) {
  test(`sentence_embedding goldens of ${folder}: cls/mean/max, normalised or not`, async (t) => {
    const golden = loadGolden(folder);
    await using st = await pipeline('sentence-embeddings', fixture(folder), { threads: 1 });
    for (const c of golden.cases) {
      const input = { inputIds: c.inputIds, attentionMask: c.attentionMask, tokenTypeIds: c.tokenTypeIds };
      for (const mode of MODES) {
        for (const normalize of [false, true]) {
          const field = `sentence_embedding.${mode}${normalize ? '_norm' : ''}`;
          const exp = c.outputs.get(field)!;
          const out = await st(input, { pooling: mode, normalize });
          t.is(out.length, c.batchSize);
          let worst = 0;
          const H = exp.dims[1]!;
          for (let b = 0; b < c.batchSize; b++) {
            for (let h = 0; h < H; h++) worst = Math.max(worst, Math.abs(out[b]![h]! - exp.data[b * H + h]!));
          }
          t.true(worst < ATOL, `${folder} ${c.name} ${field}: ${worst}`);
        }
      }
    }
  });
}

test('sentence-transformers folders: every pooling mode, several modes, include_prompt false with prompts (references)', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const texts: string[] = references.texts;
  for (const name of Object.keys(ST_FOLDERS)) {
    const exp = references.sentence_transformers[name];
    await using st = await pipeline('sentence-embeddings', sentenceTransformersFolder(tmp.dir, name), { threads: 1 });
    const out = await st(texts, { batchSize: 2 });
    t.true(maxDiff(out, exp.default) < ATOL, `${name}: ${maxDiff(out, exp.default)}`);
    if (name === 'cls-mean') t.is(out[0]!.length, 128);
    if (name === 'prompt') {
      t.is(st.settings.defaultPromptName, 'query');
      t.false(st.settings.includePrompt);
      t.true(maxDiff(await st(texts, { promptName: 'doc' }), exp.doc) < ATOL, 'promptName doc');
      t.true(maxDiff(await st(texts, { prompt: 'search: ' }), exp.explicit) < ATOL, 'explicit prompt');
      await t.throwsAsync(st(texts, { promptName: 'nope' }), { code: 'ERR_INVALID_INPUT', message: /query, doc/ });
      // includePrompt true: the prompt's tokens count again (a different vector).
      t.true(maxDiff(await st(texts, { includePrompt: true }), exp.default) > 1e-3);
    }
  }
});

test('pooling options: every mode through a plain folder, concatenation, normalisation, overrides', async (t) => {
  await using st = await pipeline('sentence-embeddings', fixture('tiny-bert-model'), { threads: 1 });
  t.deepEqual(st.settings.pooling, ['mean']); // sentence-transformers' default for a plain model
  t.false(st.settings.normalize);
  t.is(st.settings.maxSeqLength, 64);
  const texts: string[] = references.texts;
  const byMode = new Map<string, Float32Array[]>();
  for (const mode of ['cls', 'max', 'mean', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken'] as const) {
    const v = await st(texts, { pooling: mode });
    byMode.set(mode, v);
    t.is(v[0]!.length, 64);
  }
  // mean_sqrt_len = mean * sqrt(n).
  const n = st.tokenizer.encode(texts[0]!).length;
  t.true(Math.abs(byMode.get('mean_sqrt_len_tokens')![0]![5]! - byMode.get('mean')![0]![5]! * Math.sqrt(n)) < 1e-4);
  const both = await st(texts, { pooling: ['cls', 'mean'] });
  t.is(both[1]!.length, 128);
  t.true(maxDiff(both[1]!.subarray(0, 64), byMode.get('cls')![1]) === 0);
  t.true(maxDiff(both[1]!.subarray(64), byMode.get('mean')![1]) === 0);
  const unit = await st(texts[0]!, { pooling: 'max', normalize: true });
  t.true(Math.abs(Math.hypot(...unit) - 1) < 1e-5);
  // feature-extraction with a pooling option gives the same vectors.
  await using fe = await pipeline('feature-extraction', fixture('tiny-bert-model'), { threads: 1 });
  t.true(maxDiff(await fe(texts, { pooling: 'weightedmean', tokenizeOptions: { truncation: true } }), byMode.get('weightedmean')) === 0);
  for (const o of [{ pooling: 'sum' }, { pooling: [] }, { pooling: 'none' }, { normalize: 1 }, { prompt: 3 }, { batchSize: -1 }]) {
    await t.throwsAsync(st('x', o as any), { code: 'ERR_INVALID_INPUT' }, JSON.stringify(o));
  }
  await t.throwsAsync(pipeline('sentence-embeddings', fixture('tiny-bert-model'), { pooling: 'none' }), { code: 'ERR_INVALID_INPUT' });
});

test('batches are length-sorted internally and restored: any batchSize gives the same vectors in input order', async (t) => {
  await using st = await pipeline('sentence-embeddings', fixture('tiny-bert-model'), { threads: 1, batchSize: 3 });
  const texts: string[] = [...references.texts, ...references.texts.map((x: string) => `${x} dog dog`)];
  const ref = await Promise.all(texts.map((x) => st(x)));
  for (const batchSize of [1, 2, 5, 32]) {
    const out = await st(texts, { batchSize });
    t.true(maxDiff(out, ref) < 1e-6, `batchSize ${batchSize}`);
  }
  t.true(maxDiff(await st(texts), ref) < 1e-6, 'pipeline batchSize 3');
});

test('encoded input: padded rows with masks, a string array, bad rows', async (t) => {
  await using st = await pipeline('sentence-embeddings', fixture('tiny-bert-model'), { threads: 1 });
  const b = st.tokenizer.encodeBatch(['a dog', 'she took the long walk'], { padding: true });
  const enc = await st({ inputIds: b.inputIds, attentionMask: b.attentionMask, tokenTypeIds: b.tokenTypeIds });
  const txt = await st(['a dog', 'she took the long walk']);
  t.true(maxDiff(enc, txt) < 1e-5);
  for (const bad of [
    { inputIds: [] },
    { inputIds: [[101, 5000]] },
    { inputIds: [[101, 1.5]] },
    { inputIds: [[101, 102]], attentionMask: [[1]] },
    { inputIds: [[101, 102]], attentionMask: [[1, 1], [1, 1]] },
    { inputIds: [[101, 102]], tokenTypeIds: [[0, 7]] },
  ]) {
    await t.throwsAsync(st(bad as any), { code: 'ERR_INVALID_INPUT' }, JSON.stringify(bad));
  }
  await t.throwsAsync(st(b as any, { prompt: 'x' }), { code: 'ERR_INVALID_INPUT' });
});

test('bad inputs and options are typed errors (feature-extraction and sentence-embeddings)', async (t) => {
  await using fe = await pipeline('feature-extraction', fixture('tiny-bert-model'), { threads: 1 });
  await using st = await pipeline('sentence-embeddings', fixture('tiny-bert-model'), { threads: 1 });
  for (const bad of [null, 3, [], ['a', 1], { text: 'a' }, [['a']]]) {
    await t.throwsAsync(fe(bad as any), { code: 'ERR_INVALID_INPUT' }, `fe ${JSON.stringify(bad)}`);
    await t.throwsAsync(st(bad as any), { code: 'ERR_INVALID_INPUT' }, `st ${JSON.stringify(bad)}`);
  }
  for (const o of [3, { tokenizeOptions: { maxLen: 3 } }, { tokenizeOptions: { truncation: 'sideways' } }, { pooling: 'avg' }]) {
    await t.throwsAsync(fe('a', o as any), { code: 'ERR_INVALID_INPUT' }, `fe ${JSON.stringify(o)}`);
  }
  await t.throwsAsync(pipeline('sentence-embeddings', fixture('tiny-bert-model'), { maxSeqLength: 0 }), { code: 'ERR_INVALID_INPUT' });
  // Empty strings are inputs like any other: [CLS] [SEP].
  t.is((await fe(''))[0]!.length, 2);
  t.is((await st('')).length, 64);
});

test('a sentence-transformers folder with a module bertkit does not run is refused', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const dir = sentenceTransformersFolder(tmp.dir, 'sqrt');
  const modules = JSON.parse(readFileSync(join(dir, 'modules.json'), 'utf8'));
  modules.push({ idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' });
  writeFileSync(join(dir, 'modules.json'), JSON.stringify(modules));
  await t.throwsAsync(pipeline('sentence-embeddings', dir), { code: 'ERR_UNSUPPORTED_MODEL', message: /Dense.*supported: Transformer, Pooling, Normalize/ });
  writeFileSync(join(dir, 'modules.json'), '{not json');
  await t.throwsAsync(pipeline('sentence-embeddings', dir), { code: 'ERR_INVALID_FILE' });
});
