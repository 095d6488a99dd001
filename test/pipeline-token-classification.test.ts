/** token-classification against transformers' TokenClassificationPipeline goldens (tiny-bert-tokcls). */
import test from 'ava';
import { pipeline } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { camelKeys, kwargs, pipelineGolden, SCORE_TOL } from './pipeline-helpers.js';

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
