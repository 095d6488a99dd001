/**
 * Training DistilBERT, the RoBERTa family (RoBERTa, XLM-R), ALBERT and ELECTRA: loss, logits and every parameter's
 * gradient against transformers in float64 (test/data/families/make_train_refs.py: train mode,
 * dropout 0, the folders' padded_batch inputs), with the BERT training goldens' criterion
 * (max|g - ref| <= 1e-4 max|ref| + 1e-6 G per tensor). Covers what these families add to BERT's
 * graph: positions from the ids (and the position table's padding row, which gets no gradient),
 * no token types, the classification heads' own dense layer (tanh, ReLU, gelu), RoBERTa's gelu
 * lm_head, the embeddings projection and H -> E MLM transform (ALBERT, ELECTRA), ALBERT's shared
 * layers (their gradients summed over the applications) and its sentence-order head, ELECTRA's
 * discriminator (per-token BCE over the tokens with attention mask 1).
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src-ts/index.js';
import type { TrainableBertModel } from '../src-ts/training/index.js';
import { parseSafetensors } from '../src-ts/weights/index.js';
import { toFloat64 } from './helpers/golden.js';
import { fixture, repoRoot } from './helpers/fixtures.js';
import { maxAbs, maxAbsDiff } from './train-helpers.js';

const refsDir = join(repoRoot, 'test', 'data', 'families', 'train');
const read = (name: string) => {
  const m = new Map<string, { dims: number[]; data: Float64Array }>();
  for (const [k, t] of parseSafetensors(readFileSync(join(refsDir, `${name}.safetensors`)), name)) m.set(k, { dims: t.dims, data: toFloat64(t) });
  return m;
};
const rows = (t: { dims: number[]; data: Float64Array }): number[][] =>
  Array.from({ length: t.dims[0]! }, (_, b) => Array.from(t.data.subarray(b * t.dims[1]!, (b + 1) * t.dims[1]!)));

const CASES = ['roberta-seqcls', 'distilbert-seqcls', 'roberta-mlm', 'distilbert-qa-f16', 'xlmr-tokcls-f16', 'albert-seqcls', 'albert-pretraining', 'electra-seqcls-f16', 'electra-generator', 'electra-tokcls', 'electra-discriminator'];
for (const name of CASES) {
  test(`${name}: loss, logits and gradients match transformers`, async (t) => {
    const ref = read(name);
    await using model = (await loadModel(fixture('variants', name), { training: true, threads: 2, device: 'cpu', tokenizer: false })) as TrainableBertModel;
    model.setDropout({ hidden: 0, attention: 0, classifier: 0 });
    const mask = rows(ref.get('input/attention_mask')!);
    const input = { inputIds: rows(ref.get('input/input_ids')!), attentionMask: mask };
    const labels: Record<string, unknown> = ref.has('input/start_positions')
      ? { startPositions: Array.from(ref.get('input/start_positions')!.data), endPositions: Array.from(ref.get('input/end_positions')!.data) }
      : { labels: ref.get('input/labels')!.dims.length === 2 ? rows(ref.get('input/labels')!) : Array.from(ref.get('input/labels')!.data) };
    // ALBERT's sentence-order label takes the next-sentence label's place.
    if (ref.has('input/sentence_order_label')) labels.nextSentenceLabel = Array.from(ref.get('input/sentence_order_label')!.data);
    const out: any = await model.computeGradients(input, labels as never);
    const want = ref.get('loss')!.data[0]!;
    t.true(Math.abs(out.loss - want) <= 1e-5 * Math.abs(want), `loss ${out.loss} vs ${want}`);
    for (const [key, field] of [['output/logits', 'logits'], ['output/start_logits', 'startLogits'], ['output/end_logits', 'endLogits']] as const) {
      const r = ref.get(key);
      if (!r) continue;
      const L = mask[0]!.length;
      const perToken = r.dims.length >= 2 && r.dims[1] === L && !key.includes('start') && !key.includes('end');
      const width = perToken ? r.data.length / (r.dims[0]! * L) : 1;
      const keep = perToken ? (i: number) => mask[Math.floor(i / width / L)]![Math.floor(i / width) % L] === 1 : undefined;
      const err = maxAbsDiff(out[field].data, r.data, keep);
      t.true(err <= 1e-5 * maxAbs(r.data), `${field}: ${err}`);
    }
    const names = [...ref.keys()].filter((k) => k.startsWith('grad/')).map((k) => k.slice(5));
    t.deepEqual(Object.keys(out.grads).sort(), names.sort(), 'one gradient per parameter, transformers names');
    let G = 0;
    for (const n of names) G = Math.max(G, maxAbs(ref.get(`grad/${n}`)!.data));
    let worst = 0;
    for (const n of names) {
      const r = ref.get(`grad/${n}`)!;
      const err = maxAbsDiff(out.grads[n].data, r.data);
      const tol = 1e-4 * maxAbs(r.data) + 1e-6 * G;
      worst = Math.max(worst, err / tol);
      t.true(err <= tol, `${n}: ${err} > ${tol}`);
    }
    t.log(`${name}: loss ${out.loss.toPrecision(8)} (ref ${want.toPrecision(8)}), worst gradient at ${(worst * 100).toFixed(1)}% of its tolerance`);
  });
}

test('a trained RoBERTa classifier saves with its own names and model_type and loads back with the same outputs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bertkit-family-save-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await using model = (await loadModel(fixture('variants', 'roberta-seqcls'), { training: true, threads: 1 })) as TrainableBertModel;
  await model.save(dir);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  t.is(config.model_type, 'roberta');
  t.deepEqual(config.architectures, ['RobertaForSequenceClassification']);
  const names = [...parseSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors').keys()];
  t.true(names.includes('classifier.out_proj.weight') && names.includes('roberta.embeddings.word_embeddings.weight'));
  await using back = await loadModel(dir, { threads: 1 });
  await using orig = await loadModel(fixture('variants', 'roberta-seqcls'), { threads: 1 });
  const input = { inputIds: [[0, 44, 73, 357, 2, 1]], attentionMask: [[1, 1, 1, 1, 1, 0]] };
  const [a, b] = [await back.forward(input), await orig.forward(input)];
  t.true(maxAbsDiff(a.logits!.data, b.logits!.data) < 1e-6);
});

test('DistilBERT saves with its own key names (dim, n_layers, activation) and tensor names', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bertkit-family-save-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await using model = (await loadModel(fixture('variants', 'distilbert-seqcls'), { training: true, threads: 1 })) as TrainableBertModel;
  await model.save(dir);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  t.is(config.model_type, 'distilbert');
  t.is(config.dim, 32);
  t.is(config.n_layers, 2);
  t.is(config.activation, 'gelu');
  t.false('hidden_size' in config || 'layer_norm_eps' in config || 'type_vocab_size' in config);
  const names = [...parseSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors').keys()];
  t.true(names.includes('pre_classifier.weight') && names.includes('distilbert.transformer.layer.0.attention.q_lin.weight'));
  await using back = await loadModel(dir, { threads: 1 });
  t.is(back.architecture, 'DistilBertForSequenceClassification');
});

