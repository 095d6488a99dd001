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
