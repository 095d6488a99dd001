/** text-classification against transformers' TextClassificationPipeline goldens (tiny-bert-seqcls). */
import test from 'ava';
import { pipeline } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { camelKeys, kwargs, pipelineGolden, sameScoredList, SCORE_TOL } from './pipeline-helpers.js';

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
