/** token-classification against transformers' TokenClassificationPipeline goldens (tiny-bert-tokcls). */
import test from 'ava';
import { pipeline, InvalidInputError } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { camelKeys, kwargs, pipelineGolden, SCORE_TOL } from './pipeline-helpers.js';
import { references } from './pipeline-variants.js';

const g = pipelineGolden('tiny-bert-tokcls.token-classification.json');

test('every golden case: entities, groups, words, offsets, scores', async (t) => {
  await using ner = await pipeline('token-classification', fixture('tiny-bert-tokcls'), { threads: 1 });
  for (const [n, c] of g.cases.entries()) {
    const where = `case ${n} ${JSON.stringify(c.inputs)} ${JSON.stringify(c.kwargs)}`;
    const out: any[] = await ner(c.inputs, kwargs(c.kwargs) as any);
    const exp = camelKeys(c.output);
    t.is(out.length, exp.length, `${where}: count`);
    exp.forEach((e: any, i: number) => {
      const a = out[i] ?? {};
      const { score: sa, ...ra } = a;
      const { score: se, ...re } = e;
      t.deepEqual(ra, re, `${where}[${i}]`);
      t.true(Math.abs(sa - se) <= SCORE_TOL, `${where}[${i}] score ${sa} vs ${se}`);
      // Offsets index the input.
      t.true(typeof a.start === 'number' && typeof a.end === 'number');
    });
  }
});

test('stride: a text longer than the model, in overlapping windows, entities merged (transformers references)', async (t) => {
  await using ner = await pipeline('token-classification', fixture('tiny-bert-tokcls'), { threads: 1 });
  for (const c of references.token_classification_stride) {
    const where = JSON.stringify(c.kwargs);
    const out: any[] = await ner(c.inputs, kwargs(c.kwargs) as any);
    const exp = camelKeys(c.output);
    t.is(out.length, exp.length, `${where}: count`);
    exp.forEach((e: any, i: number) => {
      const { score: sa, ...ra } = out[i] ?? {};
      const { score: se, ...re } = e;
      t.deepEqual(ra, re, `${where}[${i}]`);
      t.true(Math.abs(sa - se) <= SCORE_TOL, `${where}[${i}] score`);
    });
  }
  // Without a stride the text is truncated to the model's 64 tokens, as transformers does.
  const cut = await ner(references.token_classification_stride[0].inputs, { aggregationStrategy: 'simple' });
  t.true(cut.length < references.token_classification_stride[0].output.length);
});

test('ignoreLabels, batches, offsets into non-ASCII text, bad options', async (t) => {
  await using ner = await pipeline('ner', fixture('tiny-bert-tokcls'), { threads: 1 });
  const text = 'Ünïcode 😀 night Today Head';
  const all = (await ner(text, { ignoreLabels: [] })) as any[];
  for (const e of all) {
    // UTF-16 offsets: the slice is the token's source text.
    t.is(text.slice(e.start, e.end).toLowerCase().normalize('NFD').replace(/\p{M}/gu, ''), e.word.replace(/^##/, '').toLowerCase().normalize('NFD').replace(/\p{M}/gu, ''), JSON.stringify(e));
  }
  const noLoc = (await ner(text, { ignoreLabels: ['I-LOC', 'B-LOC', 'O'] })) as any[];
  t.true(noLoc.every((e) => !e.entity.endsWith('LOC')));
  const grouped = (await ner(text, { aggregationStrategy: 'first', ignoreLabels: ['LOC'] })) as any[];
  t.true(grouped.every((e) => e.entityGroup !== 'LOC'));
  const batch = await ner([text, 'dog', ''], { aggregationStrategy: 'average' });
  t.is(batch.length, 3);
  t.deepEqual(batch[0], await ner(text, { aggregationStrategy: 'average' }));
  t.deepEqual(batch[2], []);
  for (const o of [{ aggregationStrategy: 'longest' }, { ignoreLabels: 'O' }, { stride: 8 }, { stride: -1, aggregationStrategy: 'simple' }, { stride: 64, aggregationStrategy: 'simple' }, { stride: 62, aggregationStrategy: 'max' }]) {
    await t.throwsAsync(ner(text, o as any), { instanceOf: InvalidInputError }, JSON.stringify(o));
  }
  for (const bad of [null, 1, [], ['a', 2], { text: 'a' }]) {
    await t.throwsAsync(ner(bad as any), { instanceOf: InvalidInputError }, JSON.stringify(bad));
  }
});
