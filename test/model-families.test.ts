/**
 * DistilBERT, RoBERTa, XLM-RoBERTa, ALBERT and ELECTRA through the public API against the goldens
 * transformers made in float64 (test/fixtures/variants, README there): every folder, every case,
 * every output transformers returned (hidden states and attentions included), at the README's
 * tolerance for a float32 engine (5e-5; the bugs it lists move outputs by 1e-4 and more).
 */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { loadModel } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { ATOL, flatMask, loadVariantGolden, maxDiff, ours, runCase, variantDir } from './helpers/variant-golden.js';

const folders = readdirSync(fixture('variants'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && !['pipelines', 'tokenizer'].includes(d.name))
  .map((d) => d.name);

test('the variant set has its 28 folders', (t) => {
  t.is(folders.length, 28);
});

for (const name of folders) {
  test(`${name}: every golden output within ${ATOL}`, async (t) => {
    const golden = loadVariantGolden(name);
    await using model = await loadModel(variantDir(name), { device: 'cpu', threads: 2, tokenizer: false });
    t.is(model.architecture as string, golden.architecture);
    t.is(model.config.model_type as string, golden.modelType);
    t.deepEqual(model.weights.ignored, [], 'every stored tensor is used');
    for (const c of golden.cases) {
      const out = await runCase(model, c);
      const mask = flatMask(c);
      for (const [field, exp] of c.outputs) {
        const got = ours(out, field);
        if (!got) {
          t.fail(`${c.name}: no ${field}`);
          continue;
        }
        t.deepEqual(got.dims, exp.dims, `${c.name}/${field} dims`);
        const d = maxDiff(field, got, exp, mask);
        t.true(d <= ATOL, `${c.name}/${field}: max abs diff ${d}`);
      }
      // Nothing beyond what transformers returns (ALBERT: one hidden state per inner application).
      const hs = [...c.outputs.keys()].filter((k) => k.startsWith('hidden_states.')).length;
      if (hs) t.is(out.hiddenStates!.length, hs, `${c.name}: hidden_states count`);
      const at = [...c.outputs.keys()].filter((k) => k.startsWith('attentions.')).length;
      if (at) t.is(out.attentions!.length, at, `${c.name}: attentions count`);
    }
  });
}
