/**
 * The fixture goldens again with the avx2 kernels forced (BERTKIT_ISA caps the run-time ISA
 * choice; it is read when the addon first picks kernels, i.e. at the first model load of this
 * process), so every dispatch path the release binary carries is checked on one machine.
 */
import test from 'ava';
import { cpuInfo, loadModel } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { registerFixtureParity } from './helpers/parity.js';

process.env.BERTKIT_ISA = 'avx2';

// A CPU without avx2 falls back to a lower ISA; nothing to check here then.
const supported = cpuInfo().features.split(' ').includes('avx2');
if (supported) registerFixtureParity({ isa: 'avx2', threads: 3 });
else test('avx2 kernels need a CPU with avx2', (t) => t.pass());

test('without AVX-512 a bfloat16 or int8 request computes in float32 and says why', async (t) => {
  for (const [dtype, needs] of [['bfloat16', /AVX512-BF16/], ['int8', /AVX512-VNNI/]] as const) {
    await using model = await loadModel(fixture('tiny-bert-model'), { device: 'cpu', dtype });
    t.is(model.backend.dtype, 'float32');
    t.regex(model.backend.dtypeFallbackReason ?? '', needs);
  }
});
