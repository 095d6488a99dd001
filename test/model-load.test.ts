/**
 * loadModel / createModel end to end: architecture choice, devices, and every kind of bad folder
 * reaching the user as a typed error (the process lives on: the last test loads fine).
 */
import test from 'ava';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BackendUnavailableError,
  ConfigError,
  InvalidFileError,
  InvalidInputError,
  UnsafePickleError,
  UnsupportedModelError,
  WeightsMismatchError,
  createModel,
  cudaStatus,
  loadModel,
} from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { randomConfig, randomTensors } from './helpers/random-model.js';

const tmp = mkdtempSync(join(tmpdir(), 'bertkit-load-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A copy of a fixture folder that a test may break. */
function copyOf(model: string, edit?: (dir: string) => void): string {
  const dir = join(tmp, `${model}-${n++}`);
  cpSync(fixture(model), dir, { recursive: true });
  edit?.(dir);
  return dir;
}
function editConfig(dir: string, patch: Record<string, unknown>): void {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), ...patch }));
}

test('the class follows config.architectures; `architecture` overrides it', async (t) => {
  await using pre = await loadModel(fixture('tiny-bert-pretraining-bin'), { device: 'cpu' });
  t.is(pre.architecture, 'BertForPreTraining');
  t.is(pre.weights.format, 'pytorch');
  // A pre-training checkpoint run as a masked LM (as bert-base-uncased's config asks): the NSP
  // head and the pooler are ignored, and listed.
  await using mlm = await loadModel(fixture('tiny-bert-pretraining-bin'), { device: 'cpu', architecture: 'BertForMaskedLM' });
  t.is(mlm.architecture, 'BertForMaskedLM');
  t.true(mlm.weights.ignored.includes('cls.seq_relationship.weight'));
  t.true(mlm.weights.ignored.includes('bert.pooler.dense.weight'));
  const ids = { inputIds: [[101, 5, 103, 9, 102]] };
  const [a, b] = [await pre.forward(ids), await mlm.forward(ids)];
  t.deepEqual(a.predictionLogits!.data, b.logits!.data);
  // An MLM checkpoint has no pooler: as a BertModel it gives hidden states and no pooler output.
  await using enc = await loadModel(fixture('tiny-bert-mlm'), { device: 'cpu', architecture: 'BertModel' });
  const out = await enc.forward(ids);
  t.is(out.poolerOutput, undefined);
  t.deepEqual(out.lastHiddenState.dims, [1, 5, 64]);
});

test('a head the checkpoint does not have -> WeightsMismatchError listing the tensors', async (t) => {
  const err = await t.throwsAsync(loadModel(fixture('tiny-bert-model'), { architecture: 'BertForSequenceClassification' }), {
    instanceOf: WeightsMismatchError,
  });
  t.deepEqual(err!.missing.sort(), ['classifier.bias', 'classifier.weight']);
  t.is(err!.code, 'ERR_WEIGHTS_MISMATCH');
});

// On a machine with a usable GPU the CUDA tests (cuda-backend) cover 'auto' and 'cuda' instead.
const cuda = cudaStatus().available;
(cuda ? test.skip : test)('devices: auto says why it is on the CPU; cuda that cannot be honoured throws with reasons', async (t) => {
  await using m = await loadModel(fixture('tiny-bert-model'));
  t.is(m.backend.device, 'cpu');
  t.regex(m.backend.fallbackReason ?? '', /CUDA/);
  await using cpu = await loadModel(fixture('tiny-bert-model'), { device: 'cpu' });
  t.is(cpu.backend.fallbackReason, undefined);
  const err = await t.throwsAsync(loadModel(fixture('tiny-bert-model'), { device: 'cuda' }), { instanceOf: BackendUnavailableError });
  t.true(err!.reasons.length > 0);
  t.is(err!.code, 'ERR_BACKEND_UNAVAILABLE');
  await t.throwsAsync(loadModel(fixture('tiny-bert-model'), { device: 'tpu' as 'cpu' }), { instanceOf: InvalidInputError });
});

test('createModel builds a model from tensors in memory, names as in a checkpoint', async (t) => {
  const shape = { layers: 1, hidden: 16, heads: 2, intermediate: 24, vocab: 50, maxPositions: 16 };
  const tensors = randomTensors(shape);
  const prefixed = Object.fromEntries(Object.entries(tensors).map(([k, v]) => [`bert.${k}`, v]));
  await using a = await createModel(randomConfig(shape), tensors, { threads: 1 });
  await using b = await createModel(randomConfig(shape), prefixed, { threads: 1 });
  const ids = { inputIds: [[1, 2, 3]] };
  t.deepEqual((await a.forward(ids)).lastHiddenState.data, (await b.forward(ids)).lastHiddenState.data);
  t.is(a.weights.format, 'memory');
  t.true(a.memoryUsage().weights > 0);
});

const badFolders: [string, () => string, new (...args: never[]) => Error, RegExp][] = [
  [
    'hidden_size not divisible by num_attention_heads',
    () => copyOf('tiny-bert-model', (d) => editConfig(d, { num_attention_heads: 5 })),
    ConfigError,
    /not a multiple of num_attention_heads/,
  ],
  ['unknown model_type', () => copyOf('tiny-bert-model', (d) => editConfig(d, { model_type: 'gpt2' })), UnsupportedModelError, /model_type "gpt2"/],
  [
    'unknown architecture',
    () => copyOf('tiny-bert-model', (d) => editConfig(d, { architectures: ['BertLMHeadModel'] })),
    UnsupportedModelError,
    /BertLMHeadModel is not supported; supported: BertModel/,
  ],
  ['unsupported hidden_act', () => copyOf('tiny-bert-model', (d) => editConfig(d, { hidden_act: 'swish' })), UnsupportedModelError, /hidden_act/],
  ['config.json that is not JSON', () => copyOf('tiny-bert-model', (d) => writeFileSync(join(d, 'config.json'), '{"hidden_size": 6')), ConfigError, /not valid JSON/],
  ['no config.json', () => copyOf('tiny-bert-model', (d) => rmSync(join(d, 'config.json'))), InvalidFileError, /config/],
  ['no weights file', () => copyOf('tiny-bert-model', (d) => rmSync(join(d, 'model.safetensors'))), InvalidFileError, /model\.safetensors/],
  [
    'truncated safetensors',
    () =>
      copyOf('tiny-bert-model', (d) => {
        const f = join(d, 'model.safetensors');
        writeFileSync(f, readFileSync(f).subarray(0, 100_000));
      }),
    InvalidFileError,
    /./,
  ],
  [
    'safetensors header length beyond the file',
    () =>
      copyOf('tiny-bert-model', (d) => {
        const f = join(d, 'model.safetensors');
        const buf = readFileSync(f);
        buf.writeBigUInt64LE(BigInt(buf.length * 2), 0);
        writeFileSync(f, buf);
      }),
    InvalidFileError,
    /./,
  ],
  [
    'a tensor with the wrong shape',
    () => copyOf('tiny-bert-model', (d) => editConfig(d, { intermediate_size: 96 })),
    WeightsMismatchError,
    /intermediate\.dense\.weight is \[128, 64\], expected \[96, 64\]/,
  ],
  [
    'a pickle asking for a global outside the allow-list',
    () =>
      copyOf('tiny-bert-pretraining-bin', (d) => {
        const f = join(d, 'pytorch_model.bin');
        const buf = readFileSync(f);
        const at = buf.indexOf('torch._utils\n_rebuild_tensor_v2');
        // Same length, so every zip offset stays valid: only the pickle's request changes.
        buf.write('subprocess\ncheck_output_____xx', at, 'latin1');
        writeFileSync(f, buf);
      }),
    UnsafePickleError,
    /subprocess/,
  ],
];

for (const [name, make, type, message] of badFolders) {
  test(`bad folder: ${name} -> ${type.name}`, async (t) => {
    const dir = make();
    const err = await t.throwsAsync(loadModel(dir, { device: 'cpu' }), { instanceOf: type, message });
    t.regex((err as { code?: string }).code ?? '', /^ERR_/);
    t.regex(err!.stack ?? '', /model-load\.test/);
  });
}

test('after all of that, the process still loads and runs models', async (t) => {
  await using m = await loadModel(fixture('tiny-bert-qa'), { device: 'cpu' });
  const out = await m.forward({ inputIds: [[101, 7, 102]] });
  t.deepEqual(out.startLogits!.dims, [1, 3]);
});

test('models loaded from the same files share one read-only copy of the weights', async (t) => {
  const ids = { inputIds: [[101, 7, 42, 102]] };
  const a = await loadModel(fixture('tiny-bert-seqcls'), { device: 'cpu', threads: 1 });
  await using b = await loadModel(fixture('tiny-bert-seqcls'), { device: 'cpu', threads: 1 });
  t.false(a.memoryUsage().sharedWeights);
  t.true(b.memoryUsage().sharedWeights);
  const before = (await b.forward(ids)).logits!.data;
  // The first owner goes; the second keeps the weights alive and computes the same.
  await a.dispose();
  t.deepEqual((await b.forward(ids)).logits!.data, before);
  // Another dtype, another architecture or in-memory tensors: separate weights.
  await using other = await loadModel(fixture('tiny-bert-seqcls'), { device: 'cpu', architecture: 'BertModel' });
  t.false(other.memoryUsage().sharedWeights);
  const shape = { layers: 1, hidden: 16, heads: 2, intermediate: 24, vocab: 50, maxPositions: 16 };
  await using m1 = await createModel(randomConfig(shape), randomTensors(shape));
  await using m2 = await createModel(randomConfig(shape), randomTensors(shape));
  t.false(m2.memoryUsage().sharedWeights);
});
