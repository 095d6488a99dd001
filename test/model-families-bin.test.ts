/**
 * Each family from a legacy pytorch_model.bin (test/data/families/make_bin.py: the F16 fixture
 * weights saved with torch.save, plus the position_ids buffer old checkpoints carry): the same
 * outputs as the folder's goldens, the buffer ignored.
 */
import test from 'ava';
import { join } from 'node:path';
import { loadModel } from '../src-ts/index.js';
import { repoRoot } from './helpers/fixtures.js';
import { ATOL, flatMask, loadVariantGolden, maxDiff, ours, runCase } from './helpers/variant-golden.js';

const binDir = (name: string): string => join(repoRoot, 'test', 'data', 'families', 'bin', name);

for (const name of ['distilbert-qa-f16', 'roberta-qa-f16', 'xlmr-seqcls-f16', 'albert-qa-f16', 'electra-qa-f16']) {
  test(`${name} from pytorch_model.bin: the safetensors folder's goldens`, async (t) => {
    const golden = loadVariantGolden(name);
    await using model = await loadModel(binDir(name), { device: 'cpu', threads: 1 });
    t.is(model.weights.format, 'pytorch');
    t.deepEqual(model.weights.ignored.map((n) => n.replace(/^[a-z]+\./, '')), ['embeddings.position_ids']);
    for (const c of golden.cases) {
      const out = await runCase(model, c);
      for (const [field, exp] of c.outputs) {
        const d = maxDiff(field, ours(out, field)!, exp, flatMask(c));
        t.true(d <= ATOL, `${c.name}/${field}: ${d}`);
      }
    }
  });
}
