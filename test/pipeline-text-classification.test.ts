/** text-classification against transformers' TextClassificationPipeline goldens (tiny-bert-seqcls). */
import test from 'ava';
import { pipeline, InvalidInputError } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { camelKeys, kwargs, pipelineGolden, sameScoredList, SCORE_TOL } from './pipeline-helpers.js';
import { fixtureVariant, oneLabelModel, references, tempDir } from './pipeline-variants.js';

const g = pipelineGolden('tiny-bert-seqcls.text-classification.json');

/** Golden inputs use transformers' { text, text_pair }. */
const input = (x: any): any => (Array.isArray(x) ? x.map(input) : typeof x === 'string' ? x : camelKeys(x));

test('every golden case: labels, scores, order and shape', async (t) => {
  await using cls = await pipeline('text-classification', fixture('tiny-bert-seqcls'), { threads: 1 });
  for (const [n, c] of g.cases.entries()) {
    const where = `case ${n} ${JSON.stringify(c.inputs)} ${JSON.stringify(c.kwargs)}`;
    const out: any = await cls(input(c.inputs), kwargs(c.kwargs));
    const exp = camelKeys(c.output);
    if (!Array.isArray(exp)) {
      // transformers' quirk: a pair with the default topK gives a bare { label, score }.
      t.false(Array.isArray(out), where);
      t.is(out.label, exp.label, where);
      t.true(Math.abs(out.score - exp.score) <= SCORE_TOL, where);
    } else if (Array.isArray(exp[0])) {
      t.is(out.length, exp.length, where);
      exp.forEach((e: any, i: number) => sameScoredList(t, out[i], e, `${where}[${i}]`));
    } else {
      sameScoredList(t, out, exp, where);
    }
  }
});

test('raw logits of the 8 single texts (functionToApply none) match the float64 model outputs', async (t) => {
  await using cls = await pipeline('text-classification', fixture('tiny-bert-seqcls'), { threads: 1 });
  const out: any = await cls(
    g.raw_logits.map((r: any) => r.text),
    { topK: null, functionToApply: 'none' },
  );
  g.raw_logits.forEach((r: any, i: number) => {
    for (const { label, score } of out[i]) {
      const k = Number(Object.entries(g.id2label).find(([, l]) => l === label)![0]);
      t.true(Math.abs(score - r.logits[k]) < 2e-5, `${r.text} ${label}`);
    }
  });
});

test('functionToApply defaults: sigmoid for multi-label and one-label models, none for regression (transformers references)', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const folders: Record<string, string> = {
    multilabel: fixtureVariant(tmp.dir, 'multilabel', 'tiny-bert-seqcls', { problem_type: 'multi_label_classification' }),
    regression: fixtureVariant(tmp.dir, 'regression', 'tiny-bert-seqcls', { problem_type: 'regression' }),
  };
  const one = await oneLabelModel();
  for (const c of references.text_classification) {
    const where = `${c.model} ${JSON.stringify(c.kwargs)}`;
    const cls =
      c.model === 'one-label'
        ? await pipeline('text-classification', one.model, { tokenizer: one.tokenizer })
        : await pipeline('text-classification', folders[c.model]!, { threads: 1 });
    const out: any = await cls(c.inputs, kwargs(c.kwargs));
    const exp = camelKeys(c.output);
    t.is(out.length, exp.length, where);
    exp.forEach((e: any, i: number) => {
      if (Array.isArray(e)) sameScoredList(t, out[i], e, `${where}[${i}]`);
      else {
        t.is(out[i].label, e.label, where);
        t.true(Math.abs(out[i].score - e.score) <= SCORE_TOL, where);
      }
    });
    await cls.dispose();
  }
  await one.model.dispose();
});

test('topK and functionToApply checks; pairs in a batch; bad inputs are typed errors', async (t) => {
  await using cls = await pipeline('sentiment-analysis', fixture('tiny-bert-seqcls'), { threads: 1 });
  const both: any = await cls(['a b', { text: 'a', textPair: 'b' }], { topK: 3 });
  t.is(both.length, 2);
  t.deepEqual(both[1], await cls({ text: 'a', textPair: 'b' }, { topK: 3 }));
  // As transformers' tokenizer: an empty textPair is dropped.
  t.deepEqual(await cls({ text: 'a b', textPair: '' }), ((await cls('a b')) as any)[0]);
  const top1: any = await cls('a b', { topK: 1 });
  t.true(Array.isArray(top1) && top1.length === 1);
  for (const o of [{ topK: 0 }, { topK: 1.5 }, { functionToApply: 'tanh' }, { tokenizeOptions: { bogus: 1 } }, { batchSize: 0 }]) {
    await t.throwsAsync(cls('x', o as any), { instanceOf: InvalidInputError }, JSON.stringify(o));
  }
  for (const bad of [null, 3, [], [['a', 'b']], { textPair: 'b' }, { text: 1 }, ['ok', 5]]) {
    await t.throwsAsync(cls(bad as any), { instanceOf: InvalidInputError }, JSON.stringify(bad));
  }
});
