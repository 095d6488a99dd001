/**
 * zero-shot-classification against transformers' ZeroShotClassificationPipeline on two tiny NLI
 * variants of tiny-bert-seqcls (references from test/data/pipelines/make_refs.py).
 */
import test from 'ava';
import { pipeline, InvalidInputError, UnsupportedModelError } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { camelKeys, SCORE_TOL, TIE } from './pipeline-helpers.js';
import { fixtureVariant, labels, references, tempDir } from './pipeline-variants.js';

const tmp = tempDir();
test.after.always(() => tmp.remove());
const MODELS: Record<string, string> = {
  nli: fixtureVariant(tmp.dir, 'nli', 'tiny-bert-seqcls', labels(['contradiction', 'neutral', 'entailment'])),
  // Entailment first: transformers then contrasts it with the last label.
  'nli-e0': fixtureVariant(tmp.dir, 'nli-e0', 'tiny-bert-seqcls', labels(['ENTAILMENT', 'neutral', 'contradiction'])),
};

function sameResult(t: any, a: any, e: any, where: string): void {
  t.is(a.sequence, e.sequence, where);
  t.is(a.labels.length, e.labels.length, where);
  for (let i = 0; i < e.labels.length; i++) {
    // Near-ties (golden scores within TIE) may swap.
    const j = a.labels[i] === e.labels[i] ? i : e.labels.findIndex((l: string, k: number) => l === a.labels[i] && Math.abs(e.scores[k] - e.scores[i]) <= TIE);
    t.true(j >= 0, `${where}: label ${i} ${a.labels[i]} vs ${e.labels[i]}`);
    t.true(Math.abs(a.scores[i] - e.scores[j]) <= SCORE_TOL, `${where}: score ${i}`);
  }
}

for (const name of Object.keys(MODELS)) {
  test(`${name}: every reference call (default, multiLabel, template, one label, a batch)`, async (t) => {
    await using zs = await pipeline('zero-shot-classification', MODELS[name]!, { threads: 1 });
    t.is(zs.entailmentId, name === 'nli' ? 2 : 0);
    for (const c of references.zero_shot.filter((z: any) => z.model === name)) {
      const where = `${JSON.stringify(c.inputs).slice(0, 30)} ${JSON.stringify(c.kwargs)}`;
      const o = camelKeys(c.kwargs);
      const out: any = await zs(c.inputs, o);
      if (Array.isArray(c.output)) {
        t.is(out.length, c.output.length);
        c.output.forEach((e: any, i: number) => sameResult(t, out[i], e, `${where}[${i}]`));
      } else sameResult(t, out, c.output, where);
      // The labels as the second argument, the options third.
      const { candidateLabels, ...rest } = o;
      t.deepEqual(await zs(c.inputs, candidateLabels, rest), out);
    }
  });
}

test('scores: single-label ones sum to 1, multi-label ones do not need to', async (t) => {
  await using zs = await pipeline('zero-shot-classification', MODELS.nli!, { threads: 1 });
  const one = await zs('she', ['a', 'b', 'c']);
  t.true(Math.abs(one.scores.reduce((s, x) => s + x, 0) - 1) < 1e-9);
  const multi = await zs('she', ['a', 'b', 'c'], { multiLabel: true });
  for (const s of multi.scores) t.true(s > 0 && s < 1);
});

test('a model without an entailment label is refused; bad arguments are typed errors', async (t) => {
  await t.throwsAsync(pipeline('zero-shot-classification', fixture('tiny-bert-seqcls')), { instanceOf: UnsupportedModelError, message: /entailment/ });
  await using zs = await pipeline('zero-shot-classification', MODELS.nli!, { threads: 1 });
  await t.throwsAsync(zs('text', { candidateLabels: [] }), { instanceOf: InvalidInputError });
  await t.throwsAsync(zs('text', ' , '), { instanceOf: InvalidInputError });
  await t.throwsAsync(zs('text', {} as any), { instanceOf: InvalidInputError, message: /candidateLabels/ });
  await t.throwsAsync(zs('text', ['a'], { hypothesisTemplate: 'no slot' }), { instanceOf: InvalidInputError, message: /\{\}/ });
  await t.throwsAsync(zs(42 as any, ['a']), { instanceOf: InvalidInputError });
  await t.throwsAsync(zs([], ['a']), { instanceOf: InvalidInputError });
  await t.throwsAsync(zs('text', ['a', 3] as any), { instanceOf: InvalidInputError });
});
