/**
 * The CUDA backend from JavaScript: device selection ('auto' | 'cpu' | 'cuda', BERTKIT_DEVICE),
 * the probe, and the CUDA addon itself. CI has nvcc but no GPU: there the addon is built (by
 * `npm run test:cpp`, into build-cmake/bertkit_cuda.node; or `npm run build:cuda`), loads, and
 * must report "no device" without crashing; 'auto' then runs on the CPU with a fallbackReason
 * and 'cuda' throws BackendUnavailableError listing the reasons. On a machine with a usable GPU
 * the last tests run the fixtures on it against their goldens.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BackendUnavailableError, InvalidInputError, loadModel } from '../src-ts/index.js';
import { loadBinding } from '../src-ts/native/load-binding.js';
import { cudaStatus } from '../src-ts/native/select-backend.js';
import type { ModelConfig, NativeBinding, TensorView } from '../src-ts/native/types.js';
import { fixture, repoRoot } from './helpers/fixtures.js';
import { loadGolden, maxAbsDiff } from './helpers/golden.js';
import { randomTensors } from './helpers/random-model.js';

const require = createRequire(import.meta.url);

// The CUDA addon under test: BERTKIT_CUDA_ADDON, else the tests' build, else npm run build:cuda's.
const candidates = [
  process.env.BERTKIT_CUDA_ADDON,
  join(repoRoot, 'build-cmake', 'bertkit_cuda.node'),
  join(repoRoot, 'build-cuda', 'Release', 'bertkit_cuda.node'),
].filter((p): p is string => !!p);
const addonPath = candidates.find((p) => existsSync(p));
const nvcc = existsSync('/usr/local/cuda/bin/nvcc') || spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0;
const missing = nvcc
  ? 'the CUDA addon is not built: `npm run test:cpp` builds build-cmake/bertkit_cuda.node (or `npm run build:cuda`)'
  : 'nvcc is not installed here, so the CUDA addon cannot be built (CUDA addon tests skipped)';
if (addonPath) process.env.BERTKIT_CUDA_ADDON = addonPath;
// CI must exercise the addon: a missing build there is a failure, not a skip.
const withAddon = addonPath ? test.serial : process.env.CI && nvcc ? test.serial : test.skip;
if (!addonPath) console.log(`cuda-backend: ${missing}`);

const cuda = (): NativeBinding => {
  if (!addonPath) throw new Error(missing);
  return require(addonPath) as NativeBinding;
};
const probe = () => cuda().cudaProbe();

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const nativeConfig = (layers: number, hidden: number, heads: number): ModelConfig => ({
  architecture: 'BertModel',
  vocab_size: 1000,
  hidden_size: hidden,
  num_hidden_layers: layers,
  num_attention_heads: heads,
  intermediate_size: 2 * hidden,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  num_labels: 0,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
  has_pooler: true,
  tie_word_embeddings: true,
});

function nativeTensors(layers: number, hidden: number): TensorView[] {
  const t = randomTensors({ layers, hidden, heads: 1, intermediate: 2 * hidden }, 5);
  return Object.entries(t).map(([name, v]) => {
    const f = v.data as Float32Array;
    return { name, dtype: 'F32', dims: v.dims, data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
  });
}

test.serial('without a CUDA addon, auto runs on the CPU and says why; cuda throws the reasons', async (t) => {
  await withEnv({ BERTKIT_CUDA_ADDON: join(repoRoot, 'no-such-dir', 'bertkit_cuda.node'), BERTKIT_DEVICE: undefined }, async () => {
    const status = cudaStatus();
    t.false(status.available);
    t.regex(status.reasons[0]!, /BERTKIT_CUDA_ADDON=.*no such file/);
    await using model = await loadModel(fixture('tiny-bert-model'), { threads: 1 });
    t.is(model.backend.name, 'cpu');
    t.is(model.backend.device, 'cpu');
    t.is(model.backend.fallbackReason, `CUDA not used: ${status.reasons.join('; ')}`);
    t.is(model.backend.gemm, undefined, 'the GEMM choice is a CUDA field');
    const err = await t.throwsAsync(loadModel(fixture('tiny-bert-model'), { device: 'cuda' }), { instanceOf: BackendUnavailableError });
    t.is(err?.code, 'ERR_BACKEND_UNAVAILABLE');
    t.deepEqual((err as BackendUnavailableError).reasons, status.reasons);
    // 'cpu' never looks for CUDA.
    await using cpu = await loadModel(fixture('tiny-bert-model'), { device: 'cpu', threads: 1 });
    t.is(cpu.backend.fallbackReason, undefined);
  });
});

test.serial('BERTKIT_DEVICE picks the device when the options do not', async (t) => {
  await withEnv({ BERTKIT_CUDA_ADDON: join(repoRoot, 'no-such-dir', 'bertkit_cuda.node'), BERTKIT_DEVICE: 'cuda' }, async () => {
    await t.throwsAsync(loadModel(fixture('tiny-bert-model')), { instanceOf: BackendUnavailableError });
    await using model = await loadModel(fixture('tiny-bert-model'), { device: 'cpu', threads: 1 }); // options win
    t.is(model.backend.name, 'cpu');
  });
  await withEnv({ BERTKIT_DEVICE: 'cpu' }, async () => {
    await using model = await loadModel(fixture('tiny-bert-model'), { threads: 1 });
    t.is(model.backend.name, 'cpu');
    t.is(model.backend.fallbackReason, undefined);
  });
  await withEnv({ BERTKIT_DEVICE: 'gpu' }, async () => {
    await t.throwsAsync(loadModel(fixture('tiny-bert-model')), { instanceOf: InvalidInputError, message: /device must be one of auto, cpu, cuda/ });
  });
});

test.serial('the CPU addon has no CUDA and says so', async (t) => {
  const cpu = loadBinding();
  t.false(cpu.withCuda);
  const p = cpu.cudaProbe();
  t.false(p.available);
  t.regex(p.reasons[0]!, /built without CUDA/);
  const err = await t.throwsAsync(cpu.createModel(nativeConfig(1, 32, 2), nativeTensors(1, 32), { device: 'cuda' }));
  t.is((err as Error & { code?: string }).code, 'UNAVAILABLE');
});

withAddon('the CUDA addon loads and its probe answers without crashing (twice, same answer)', (t) => {
  const b = cuda();
  t.true(b.withCuda);
  const p = probe();
  t.is(typeof p.available, 'boolean');
  t.true(Array.isArray(p.reasons) && Array.isArray(p.devices));
  if (!p.available) {
    t.true(p.reasons.length > 0, 'no device must come with a reason');
    t.is(p.device, -1);
    t.log(`probe: no device: ${p.reasons.join('; ')}`);
  } else {
    t.true(p.device >= 0 && p.devices[p.device]!.supported);
    t.log(`probe: ${p.devices.map((d) => `${d.name} (${d.computeCapability})`).join(', ')}`);
  }
  t.deepEqual(probe(), p);
  t.true(p.runtimeVersion >= 12000, `CUDA runtime ${p.runtimeVersion}`);
});

withAddon("with the addon and no device: 'auto' falls back to the CPU naming the probe's reason; 'cuda' throws it", async (t) => {
  const p = probe();
  if (p.available) return t.pass('a device answered: see the GPU tests below');
  await withEnv({ BERTKIT_DEVICE: undefined }, async () => {
    const status = cudaStatus();
    t.deepEqual(status.reasons, p.reasons);
    t.is(status.addonPath, addonPath);
    await using model = await loadModel(fixture('tiny-bert-model'), { device: 'auto', threads: 1 });
    t.is(model.backend.name, 'cpu');
    t.is(model.backend.fallbackReason, `CUDA not used: ${p.reasons.join('; ')}`);
    const out = await model.forward({ inputIds: [[101, 7, 102]] });
    t.deepEqual(out.lastHiddenState!.dims, [1, 3, 64]);
    const err = await t.throwsAsync(loadModel(fixture('tiny-bert-model'), { device: 'cuda' }), { instanceOf: BackendUnavailableError });
    t.deepEqual((err as BackendUnavailableError).reasons, p.reasons);
    t.true(err!.message.includes(p.reasons[0]!));
  });
  await withEnv({ BERTKIT_DEVICE: 'cuda' }, async () => {
    await t.throwsAsync(loadModel(fixture('tiny-bert-model')), { instanceOf: BackendUnavailableError });
  });
});

withAddon('the CUDA addon carries the CPU engine: same results as the CPU addon; device cuda without a device is UNAVAILABLE', async (t) => {
  const config = nativeConfig(2, 32, 2);
  const tensors = nativeTensors(2, 32);
  const input = { input_ids: Int32Array.of(101, 5, 6, 7, 102, 101, 9, 102), cu_seqlens: Int32Array.of(0, 5, 8) };
  const run = async (b: NativeBinding) => {
    const m = await b.createModel(config, tensors, { device: 'cpu', threads: 1 });
    const out = { last_hidden_state: new Float32Array(8 * 32), pooler_output: new Float32Array(2 * 32) };
    await m.forward(input, out);
    t.is(m.info().backend, 'cpu');
    t.is(m.info().gemm, '');
    t.is(m.info().gemm_reason, '');
    m.dispose();
    return out;
  };
  const a = await run(cuda());
  const b = await run(loadBinding());
  let d = 0;
  for (let i = 0; i < a.last_hidden_state.length; i++) d = Math.max(d, Math.abs(a.last_hidden_state[i]! - b.last_hidden_state[i]!));
  t.true(d <= 1e-5, `max abs ${d}`);
  if (!probe().available) {
    const err = await t.throwsAsync(cuda().createModel(config, tensors, { device: 'cuda' }));
    t.is((err as Error & { code?: string }).code, 'UNAVAILABLE');
    t.regex(err!.message, /no usable CUDA device/);
  }
});

// ---- on a GPU (skipped where the probe finds none) ----

const gpu = addonPath && (() => {
  try {
    return probe().available;
  } catch {
    return false;
  }
})();
const onGpu = gpu ? test.serial : test.skip;
const FIXTURES = ['tiny-bert-model', 'tiny-bert-mlm', 'tiny-bert-seqcls', 'tiny-bert-tokcls', 'tiny-bert-qa', 'tiny-bert-pretraining-bin', 'tiny-bert-model-f16'];

onGpu('on the GPU: auto picks CUDA, float32 mode matches the fixture goldens (5e-5)', async (t) => {
  for (const name of FIXTURES) {
    const golden = loadGolden(name);
    await using model = await loadModel(golden.modelDir, { device: 'auto' });
    t.is(model.backend.name, 'cuda');
    t.is(model.backend.dtype, 'float32');
    t.regex(model.backend.isa, /^sm_\d+$/);
    for (const c of golden.cases) {
      const input: Parameters<typeof model.forward>[0] = { inputIds: c.inputIds };
      if (c.attentionMaskGiven) input.attentionMask = c.attentionMask;
      if (c.tokenTypeIdsGiven) input.tokenTypeIds = c.tokenTypeIds;
      const out = await model.forward(input);
      const expected = c.outputs.get('last_hidden_state')!;
      const diff = maxAbsDiff(out.lastHiddenState!.data, expected, c.attentionMask);
      t.true(diff <= 5e-5, `${name}/${c.name}: max abs ${diff}`);
    }
  }
});

onGpu('on the GPU: the GEMM choice is reported (cuBLASLt, or the own kernels with the reason)', async (t) => {
  await using model = await loadModel(fixture('tiny-bert-model'), { device: 'cuda', dtype: 'float16' });
  t.true(['cublasLt', 'wgmma', 'mma', 'simt'].includes(model.backend.gemm ?? ''), JSON.stringify(model.backend));
  if (model.backend.gemm === 'cublasLt') t.is(model.backend.gemmReason, undefined);
  else t.regex(model.backend.gemmReason ?? '', /cuBLASLt|BERTKIT_CUBLASLT/);
  t.log(`gemm: ${model.backend.gemm}${model.backend.gemmReason ? ` (${model.backend.gemmReason})` : ''}`);
});

onGpu('on the GPU: bfloat16 tensor cores stay within the bf16 bounds of the CPU', async (t) => {
  const golden = loadGolden('tiny-bert-model');
  await using model = await loadModel(golden.modelDir, { device: 'cuda', dtype: 'bfloat16' });
  t.is(model.backend.dtype, 'bfloat16');
  for (const c of golden.cases) {
    const out = await model.forward({ inputIds: c.inputIds, attentionMask: c.attentionMask, tokenTypeIds: c.tokenTypeIds });
    const diff = maxAbsDiff(out.lastHiddenState!.data, c.outputs.get('last_hidden_state')!, c.attentionMask);
    t.true(diff <= 0.16, `${c.name}: max abs ${diff}`);
  }
});

withAddon("the CUDA backend runs BERT's graph only: another family is UNAVAILABLE naming what it lacks (so 'auto' falls back to the CPU)", async (t) => {
  const { parseConfig, toNativeConfig } = await import('../src-ts/config.js');
  const { expectedTensors } = await import('../src-ts/weights/index.js');
  const { readFileSync } = await import('node:fs');
  const config = parseConfig(JSON.parse(readFileSync(join(fixture('variants', 'roberta-model'), 'config.json'), 'utf8')));
  const tensors: TensorView[] = [...expectedTensors(config, 'RobertaModel')].map(([name, dims]) => ({
    name,
    dtype: 'F32',
    dims,
    data: new Uint8Array(dims.reduce((a, b) => a * b, 4)),
  }));
  const err = await t.throwsAsync(cuda().createModel(toNativeConfig(config, 'RobertaModel', true), tensors, { device: 'cuda' }));
  t.is((err as { code?: string }).code, 'UNAVAILABLE');
  t.regex(err!.message, /the CUDA backend runs BERT's graph only: positions from padding_idx \(RobertaModel\)/);
});
