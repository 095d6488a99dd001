/**
 * Reduced precision (dtype 'bfloat16' / 'int8') against the float64 goldens, with looser bounds:
 * bf16 rounds weights and activations to 8 mantissa bits (~4e-3 relative per value), int8 to 255
 * levels per row / channel. Measured on the fixtures (2026-11-26): bf16 max abs 8e-3, token
 * cosine >= 0.999998; int8 max abs 3e-2, cosine >= 0.99997. The bounds leave ~3x room, and a
 * wrong scale or zero point (cosine << 0.99) still fails them.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { cpuInfo, loadModel, type ComputeDType } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { loadGolden, maxAbsDiff } from './helpers/golden.js';

const BOUNDS: Record<'bfloat16' | 'int8', { atol: number; cosine: number; feature: string }> = {
  bfloat16: { atol: 2.5e-2, cosine: 0.99999, feature: 'avx512bf16' },
  int8: { atol: 8e-2, cosine: 0.9998, feature: 'avx512vnni' },
};
const index = JSON.parse(readFileSync(fixture('index.json'), 'utf8')) as { models: { name: string }[] };
const features = cpuInfo().features.split(' ');

for (const dtype of ['bfloat16', 'int8'] as const) {
  const { atol, cosine, feature } = BOUNDS[dtype];
  if (!features.includes(feature)) {
    test(`${dtype} needs ${feature} (this CPU lacks it: the fallback is tested in model-isa-avx2)`, (t) => t.pass());
    continue;
  }
  for (const { name } of index.models) {
    test(`${name} in ${dtype} stays within its bounds of the golden`, async (t) => {
      const g = loadGolden(name);
      await using model = await loadModel(g.modelDir, { device: 'cpu', threads: 2, dtype });
      t.is(model.backend.dtype, dtype as ComputeDType);
      let worst = 0;
      let minCos = 1;
      for (const c of g.cases) {
        const input: Parameters<typeof model.forward>[0] = { inputIds: c.inputIds };
        if (c.attentionMaskGiven) input.attentionMask = c.attentionMask;
        if (c.tokenTypeIdsGiven) input.tokenTypeIds = c.tokenTypeIds;
        const out = await model.forward(input);
        const exp = c.outputs.get('last_hidden_state')!;
        worst = Math.max(worst, maxAbsDiff(out.lastHiddenState.data, exp, c.attentionMask));
        const [B, L, H] = exp.dims as [number, number, number];
        for (let b = 0; b < B; b++)
          for (let j = 0; j < L; j++) {
            if (c.attentionMask[b]![j] !== 1) continue;
            let dot = 0, na = 0, nb = 0;
            for (let h = 0; h < H; h++) {
              const x = out.lastHiddenState.data[(b * L + j) * H + h]!;
              const y = exp.data[(b * L + j) * H + h]!;
              dot += x * y;
              na += x * x;
              nb += y * y;
            }
            minCos = Math.min(minCos, dot / Math.sqrt(na * nb));
          }
      }
      t.log(`max abs ${worst.toExponential(2)}, min token cosine ${minCos.toFixed(7)}`);
      t.true(worst <= atol, `max abs diff ${worst}`);
      t.true(minCos >= cosine, `min cosine ${minCos}`);
    });
  }
}

test('an unknown dtype is refused', async (t) => {
  await t.throwsAsync(loadModel(fixture('tiny-bert-model'), { dtype: 'float8' as ComputeDType }), { message: /dtype "float8" is not supported/ });
});

test('float16 is a CUDA dtype: on the CPU the model computes in float32 and says why', async (t) => {
  await using model = await loadModel(fixture('tiny-bert-model'), { device: 'cpu', dtype: 'float16' });
  t.is(model.backend.dtype, 'float32');
  t.regex(model.backend.dtypeFallbackReason ?? '', /float16 is a GPU dtype/);
});
