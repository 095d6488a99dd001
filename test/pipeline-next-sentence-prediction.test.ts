/** next-sentence-prediction against the NSP goldens (tiny-bert-nsp; tiny-bert-pretraining-bin's seq_relationship head). */
import test from 'ava';
import { pipeline, loadModel, InvalidInputError } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { pipelineGolden } from './pipeline-helpers.js';

for (const folder of ['tiny-bert-nsp', 'tiny-bert-pretraining-bin']) {
  test(`${folder}: logits and isNextProbability, one by one and batched`, async (t) => {
    const g = pipelineGolden(`${folder}.nsp.json`);
    await using nsp = await pipeline('next-sentence-prediction', fixture(folder), { threads: 1 });
    for (const c of g.cases) {
      // The tokenizer gives the golden's ids.
      const e = nsp.tokenizer.encode(c.inputs.text, c.inputs.text_pair);
      t.deepEqual(Array.from(e.ids), c.input_ids);
      t.deepEqual(Array.from(e.typeIds), c.token_type_ids);
      const out = await nsp({ text: c.inputs.text, textPair: c.inputs.text_pair });
      t.true(Math.abs(out.logits[0] - c.logits[0]) < 2e-5 && Math.abs(out.logits[1] - c.logits[1]) < 2e-5, JSON.stringify(out));
      t.true(Math.abs(out.isNextProbability - c.probs[0]) < 1e-5);
    }
    const b = g.batch_case;
    const outs = await nsp(b.inputs.map((x: any) => ({ text: x.text, textPair: x.text_pair })) as { text: string; textPair: string }[]);
    t.is(outs.length, 2);
    outs.forEach((o, i) => {
      t.true(Math.abs(o.logits[0] - b.logits[i][0]) < 2e-5 && Math.abs(o.logits[1] - b.logits[i][1]) < 2e-5);
    });
  });
}

test('a BertForPreTraining model passed in uses its seq_relationship logits', async (t) => {
  const g = pipelineGolden('tiny-bert-pretraining-bin.nsp.json');
  await using model = await loadModel(fixture('tiny-bert-pretraining-bin'), { threads: 1 });
  t.is(model.architecture, 'BertForPreTraining');
  const nsp = await pipeline('next-sentence-prediction', model);
  const c = g.cases[0];
  const out = await nsp({ text: c.inputs.text, textPair: c.inputs.text_pair });
  t.true(Math.abs(out.logits[0] - c.logits[0]) < 2e-5);
  // The same model also fills masks (its prediction head).
  const fill = await pipeline('fill-mask', model);
  const f: any = await fill('a [MASK] b');
  t.is(f.length, 5);
  await nsp.dispose();
  await fill.dispose();
  t.false(model.disposed, 'a shared model outlives its pipelines');
});

test('bad inputs are typed errors', async (t) => {
  await using nsp = await pipeline('next-sentence-prediction', fixture('tiny-bert-nsp'), { threads: 1 });
  for (const bad of ['one text', { text: 'a' }, { text: 'a', textPair: 3 }, [], null, [{ text: 'a', textPair: 'b' }, 'x']]) {
    await t.throwsAsync(nsp(bad as any), { instanceOf: InvalidInputError }, JSON.stringify(bad));
  }
});
