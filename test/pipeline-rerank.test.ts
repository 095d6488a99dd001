/**
 * rerank against sentence-transformers' CrossEncoder.rank on a one-label variant of
 * tiny-bert-seqcls (references from test/data/pipelines/make_refs.py).
 */
import test from 'ava';
import { pipeline, InvalidInputError, UnsupportedModelError } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { camelKeys, sameScoredList } from './pipeline-helpers.js';
import { oneLabelModel, references } from './pipeline-variants.js';

const ref = references.rerank;

test('rank: every document scored with a sigmoid, best first; topK, returnDocuments', async (t) => {
  const { model, tokenizer } = await oneLabelModel();
  const rr = await pipeline('rerank', model, { tokenizer });
  const all = await rr(ref.query, ref.documents, { returnDocuments: true });
  sameScoredList(t, all, camelKeys(ref.rank), 'rank');
  const two = await rr(ref.query, ref.documents, { topK: 2 });
  sameScoredList(t, two, camelKeys(ref.rank_top2), 'rank top 2');
  t.false('text' in two[0]!);
  // activation 'none': the raw logits (CrossEncoder.predict with Identity).
  const raw = await rr(ref.query, ref.documents, { activation: 'none' });
  for (const r of raw) t.true(Math.abs(r.score - ref.predict_identity[r.corpusId]) < 1e-5);
  // Batching does not change scores.
  const one = await rr(ref.query, ref.documents, { batchSize: 1, returnDocuments: true });
  t.deepEqual(one.map((r) => r.corpusId), all.map((r) => r.corpusId));
  await rr.dispose();
  t.false(model.disposed);
  await model.dispose();
});

test("the model's configured activation (sentence-transformers' activation_fn) is the default", async (t) => {
  const { model, tokenizer } = await oneLabelModel({ sentence_transformers: { activation_fn: 'torch.nn.modules.linear.Identity' } });
  const rr = await pipeline('rerank', model, { tokenizer });
  const raw = await rr(ref.query, ref.documents);
  for (const r of raw) t.true(Math.abs(r.score - ref.predict_identity[r.corpusId]) < 1e-5);
  await model.dispose();
});

test('a model with several labels is refused; bad arguments are typed errors', async (t) => {
  await t.throwsAsync(pipeline('rerank', fixture('tiny-bert-seqcls')), { instanceOf: UnsupportedModelError, message: /num_labels 1/ });
  const { model, tokenizer } = await oneLabelModel();
  const rr = await pipeline('text-ranking', model, { tokenizer });
  for (const [q, d, o] of [
    [3, ['a'], {}],
    ['q', 'a', {}],
    ['q', [], {}],
    ['q', ['a', null], {}],
    ['q', ['a'], { topK: 0 }],
    ['q', ['a'], { activation: 'tanh' }],
  ] as const) {
    await t.throwsAsync(rr(q as any, d as any, o as any), { instanceOf: InvalidInputError }, JSON.stringify([q, d, o]));
  }
  await model.dispose();
});
