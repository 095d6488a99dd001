/** fill-mask against transformers' FillMaskPipeline goldens (tiny-bert-mlm, tiny-bert-pretraining-bin). */
import test from 'ava';
import { pipeline, InvalidInputError, loadModel } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { camelKeys, kwargs, pipelineGolden, sameScoredList } from './pipeline-helpers.js';

for (const folder of ['tiny-bert-mlm', 'tiny-bert-pretraining-bin']) {
  test(`${folder}: every golden case`, async (t) => {
    const g = pipelineGolden(`${folder}.fill-mask.json`);
    await using fill = await pipeline('fill-mask', fixture(folder), { threads: 1 });
    for (const [n, c] of g.cases.entries()) {
      const where = `case ${n} ${JSON.stringify(c.inputs)} ${JSON.stringify(c.kwargs)}`;
      if (c.error) {
        const err = await t.throwsAsync(fill(c.inputs, kwargs(c.kwargs)), { instanceOf: InvalidInputError }, where);
        t.is(err?.message, c.error_message, where);
        continue;
      }
      const out: any = await fill(c.inputs, kwargs(c.kwargs));
      const exp = camelKeys(c.output);
      const lists = (x: any, e: any, w: string): void => {
        if (Array.isArray(e[0])) {
          t.is(x.length, e.length, `${w}: lists`);
          e.forEach((ee: any, i: number) => lists(x[i], ee, `${w}[${i}]`));
        } else sameScoredList(t, x, e, w);
      };
      lists(out, exp, where);
    }
  });
}

test('options: topK, targets as a string, batches in input order, a list of one stays a list', async (t) => {
  await using fill = await pipeline('fill-mask', fixture('tiny-bert-mlm'), { threads: 1 });
  const ten = (await fill('a [MASK] dog', { topK: 10 })) as any[];
  t.is(ten.length, 10);
  for (let i = 1; i < 10; i++) t.true(ten[i - 1].score >= ten[i].score);
  const one = (await fill('a [MASK] dog', { targets: 'dog' })) as any[];
  t.is(one.length, 1);
  t.is(one[0].tokenStr, 'dog');
  t.is(one[0].sequence, 'a dog dog');
  t.is(one[0].score, ten.find((x) => x.token === one[0].token)?.score ?? one[0].score);
  const texts = ['b [MASK]', 'a [MASK] dog', '[MASK] c d e f'];
  const batch = await fill(texts, { topK: 2, batchSize: 2 });
  t.is(batch.length, 3);
  for (let i = 0; i < 3; i++) t.deepEqual(batch[i], await fill(texts[i]!, { topK: 2 }));
  // transformers returns a bare result for a list of one; bertkit keeps one entry per input.
  const single = await fill(['a [MASK] dog']);
  t.is(single.length, 1);
  t.deepEqual(single[0], await fill('a [MASK] dog'));
});

test('bad inputs and options are typed errors', async (t) => {
  await using fill = await pipeline('fill-mask', fixture('tiny-bert-mlm'), { threads: 1 });
  for (const bad of [null, 3, [], ['a [MASK]', 4], { text: 'a [MASK]' }, 'no mask here']) {
    await t.throwsAsync(fill(bad as any), { instanceOf: InvalidInputError }, JSON.stringify(bad));
  }
  for (const o of [{ topK: 0 }, { topK: 'x' }, { targets: [] }, { targets: [3] }, { targets: 5 }, { tokenizeOptions: 'x' }, []]) {
    await t.throwsAsync(fill('a [MASK]', o as any), { instanceOf: InvalidInputError }, JSON.stringify(o));
  }
});

test('a BertForMaskedLM model passed in is shared, not disposed', async (t) => {
  const model = await loadModel(fixture('tiny-bert-mlm'), { threads: 1 });
  const fill = await pipeline('fill-mask', model);
  t.is(fill.model, model);
  await fill.dispose();
  t.false(model.disposed);
  await model.dispose();
});
