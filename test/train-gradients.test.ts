/**
 * Every head against the training goldens (shared/fixtures/training, transformers in float64):
 * loss, logits and the gradient of every parameter, with the tolerances the fixtures' README
 * derives from what torch float32 achieves (float32_vs_float64 in index.json), and the gradient
 * facts it lists (padding_idx, tied decoder, analytically zero tensors).
 */
import test from 'ava';
import { loadModel } from '../src-ts/index.js';
import type { TrainableBertModel } from '../src-ts/training/index.js';
import { flat, index, maxAbs, maxAbsDiff, readGoldenFile, rows, sharedPath } from './train-helpers.js';

const cases = index().gradient_cases as any[];

for (const c of cases) {
  test(`gradients match transformers: ${c.case}`, async (t) => {
    const golden = readGoldenFile(c.file);
    const model = (await loadModel(sharedPath(c.model_dir), { training: true, threads: 2, device: 'cpu' })) as TrainableBertModel;
    try {
      // The goldens are transformers in train mode with every dropout probability set to 0.
      model.setDropout({ hidden: 0, attention: 0, classifier: 0 });
      const input = {
        inputIds: rows(golden.get('input/input_ids')!),
        attentionMask: rows(golden.get('input/attention_mask')!),
        tokenTypeIds: rows(golden.get('input/token_type_ids')!),
      };
      const mask = input.attentionMask;
      const lab = golden.get('input/labels');
      let labels: any;
      switch (c.case) {
        case 'qa':
          labels = { startPositions: flat(golden.get('input/start_positions')!), endPositions: flat(golden.get('input/end_positions')!) };
          break;
        case 'pretraining':
          labels = { labels: rows(lab!), nextSentenceLabel: flat(golden.get('input/next_sentence_label')!) };
          break;
        default:
          labels = { labels: lab!.dims.length === 2 ? rows(lab!) : flat(lab!) };
      }
      const out = await model.computeGradients(input, labels);

      const want = golden.get('loss')!.data[0]!;
      t.true(Math.abs(out.loss - want) <= 1e-5 * Math.abs(want), `loss ${out.loss} vs ${want}`);

      // Logits: per-token outputs where the attention mask is 1 (QA: every position, as its loss).
      const outputs: [string, string][] = [];
      for (const k of Object.keys(c.outputs)) outputs.push([k, k.replace(/_(\w)/g, (_, x) => x.toUpperCase())]);
      for (const [goldenName, field] of outputs) {
        const ref = golden.get(`output/${goldenName}`)!;
        const got = (out as any)[field];
        t.truthy(got, `output ${field}`);
        t.deepEqual(got.dims, ref.dims, `${field} dims`);
        const [, L] = ref.dims;
        const perToken = ref.dims.length >= 2 && ref.dims[1] === mask[0]!.length && c.case !== 'qa' && goldenName !== 'seq_relationship_logits';
        const width = perToken ? ref.data.length / (ref.dims[0]! * L!) : 1;
        const keep = perToken ? (i: number) => mask[Math.floor(i / width / L!)]![Math.floor(i / width) % L!] === 1 : undefined;
        const err = maxAbsDiff(got.data, ref.data, keep);
        t.true(err <= 1e-5 * maxAbs(ref.data), `${field}: max abs diff ${err} (max |ref| ${maxAbs(ref.data)})`);
      }

      // Gradients: max|g - ref| <= 1e-4 max|ref| + 1e-6 G per tensor (the README's criterion; the
      // 1e-6 G term is what lets the analytically zero tensors through, compared absolutely).
      const refNames = [...golden.keys()].filter((k) => k.startsWith('grad/')).map((k) => k.slice(5));
      t.deepEqual(Object.keys(out.grads).sort(), refNames.sort(), 'one gradient per distinct parameter, checkpoint names');
      const G = c.gradient_facts.global_max_abs_grad as number;
      const zero = Object.keys(c.gradient_facts.analytically_zero_gradient_tensors ?? {});
      let worst = 0;
      let worstName = '';
      let vsTorch = 0;
      for (const name of refNames) {
        const ref = golden.get(`grad/${name}`)!;
        const g = out.grads[name]!;
        t.deepEqual(g.dims, ref.dims, `${name} dims`);
        const err = maxAbsDiff(g.data, ref.data);
        const tol = 1e-4 * maxAbs(ref.data) + 1e-6 * G;
        if (err / tol > worst) {
          worst = err / tol;
          worstName = name;
        }
        t.true(err <= tol, `${name}: max abs diff ${err} > ${tol}`);
        if (zero.includes(name)) {
          t.true(maxAbs(g.data) <= 1e-6 * G, `${name} should be ~0, max ${maxAbs(g.data)}`);
        } else {
          // Against what torch float32 itself achieves on this tensor (normwise).
          const torch32 = c.float32_vs_float64.grads[name]?.normwise_rel_err as number | undefined;
          if (torch32) vsTorch = Math.max(vsTorch, err / maxAbs(ref.data) / torch32);
        }
      }
      t.true(vsTorch <= 10, `normwise gradient error ${vsTorch}x torch float32's (allowed 10x: a different float32 summation order)`);
      t.log(
        `${c.case}: loss ${out.loss.toPrecision(10)} (ref ${want.toPrecision(10)}); worst gradient ${worstName} at ` +
          `${(worst * 100).toFixed(1)}% of its tolerance; worst normwise error ${vsTorch.toFixed(2)}x torch float32's`,
      );

      // padding_idx: the [PAD] row gets nothing from the lookup (MLM: only the tied decoder's part).
      const word = Object.keys(out.grads).find((n) => n.endsWith('word_embeddings.weight'))!;
      const H = out.grads[word]!.dims[1]!;
      const row0 = maxAbs(out.grads[word]!.data.subarray(0, H));
      const wantRow0 = c.gradient_facts.word_embedding_pad_row_0_max_abs_grad as number;
      t.true(Math.abs(row0 - wantRow0) <= 1e-4 * Math.max(wantRow0, 1e-3), `[PAD] row: ${row0} vs ${wantRow0}`);
    } finally {
      await model.dispose();
    }
  });
}
