/**
 * Which engine a model loaded for training runs on. The CUDA addon carries the CPU training
 * engine too, so `device: 'cuda'` used to train on the CPU without a word: it is refused now, and
 * 'auto' with a usable GPU trains on the CPU and says why. The CUDA addon is stood in for by the
 * CPU addon with a probe that reports a device (BERTKIT_CUDA_ADDON, as test/cuda-backend.test.ts
 * points at a real build), so this runs on machines without a GPU.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { UnsupportedModelError, createModel, loadModel, loadTrainableModel, TrainableBertModel } from '../src-ts/index.js';
import { cpuAddonInfo } from '../src-ts/native/load-binding.js';
import { cudaStatus } from '../src-ts/native/select-backend.js';
import { fixture } from './helpers/fixtures.js';
import { randomBertConfig, randomBertTensors } from '../src-ts/cli/random-bert.js';

const SEQCLS = fixture('tiny-bert-seqcls');

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bertkit-fake-cuda-'));
  const file = join(dir, 'bertkit_cuda.cjs');
  // The CPU addon's functions (createTrainableModel included, as in the real CUDA addon) and a
  // probe that answers "one device".
  await writeFile(
    file,
    `const cpu = require(${JSON.stringify(cpuAddonInfo().path)});
module.exports = Object.create(cpu, {
  withCuda: { value: true },
  cudaProbe: { value: () => ({ available: true, reasons: [], devices: [], device: 0, driverVersion: 12080, runtimeVersion: 12080 }) },
});
`,
  );
  process.env.BERTKIT_CUDA_ADDON = file;
  delete process.env.BERTKIT_DEVICE;
});

test.after.always(async () => {
  delete process.env.BERTKIT_CUDA_ADDON;
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial('the stand-in CUDA addon is taken as a usable GPU', (t) => {
  const status = cudaStatus();
  t.true(status.available, status.reasons.join('; '));
  t.is(status.addonOrigin, 'BERTKIT_CUDA_ADDON');
});

test.serial("training with device: 'cuda' is refused, with the way out", async (t) => {
  const err = await t.throwsAsync(loadModel(SEQCLS, { training: true, device: 'cuda', threads: 1 }), { instanceOf: UnsupportedModelError });
  t.is(err!.code, 'ERR_UNSUPPORTED_MODEL');
  t.regex(err!.message, /CPU/);
  t.regex(err!.message, /device: 'cpu'/);
  await t.throwsAsync(loadTrainableModel(SEQCLS, { device: 'cuda', threads: 1 }), { instanceOf: UnsupportedModelError });
  const shape = { layers: 1, hidden: 16, heads: 2, intermediate: 32, vocab: 64, maxPositions: 32 };
  await t.throwsAsync(createModel(randomBertConfig(shape), randomBertTensors(shape, 1), { training: true, device: 'cuda' }), { instanceOf: UnsupportedModelError });
});

test.serial("training under 'auto' with a GPU present runs on the CPU and says why", async (t) => {
  const model = await loadModel(SEQCLS, { training: true, device: 'auto', threads: 1 });
  try {
    t.true(model instanceof TrainableBertModel);
    t.is(model.backend.device, 'cpu');
    t.is(model.backend.name, 'cpu');
    t.regex(model.backend.fallbackReason ?? '', /training runs on the CPU/);
    // And it trains: a gradient step's loss is finite.
    const out = await model.computeGradients({ inputIds: [[1, 23, 2]] }, { labels: [1] }, { grads: false });
    t.true(Number.isFinite(out.loss));
  } finally {
    await model.dispose();
  }
});

test.serial('loadTrainableModel() is loadModel(dir, { training: true }) and needs no cast', async (t) => {
  const model = await loadTrainableModel(SEQCLS, { device: 'cpu', threads: 1 });
  try {
    t.true(model instanceof TrainableBertModel);
    t.is(model.backend.fallbackReason, undefined);
    t.true(model.parameters().length > 0);
    t.is(model.head, 'SequenceClassification');
  } finally {
    await model.dispose();
  }
});
