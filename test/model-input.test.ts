/**
 * Inputs: batch invariance, the packed form, and every kind of bad input getting a typed error
 * (the process lives on: each test goes on to run a good forward afterwards).
 */
import test from 'ava';
import { DisposedError, InvalidInputError, loadModel, type BertModel } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';
import { loadGolden } from './helpers/golden.js';

const golden = loadGolden('tiny-bert-seqcls');
const batchCase = golden.cases.find((c) => c.name === 'padded_batch')!;

async function seqcls(): Promise<BertModel> {
  return loadModel(fixture('tiny-bert-seqcls'), { device: 'cpu', threads: 2 });
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('a sequence alone and inside a padded batch give the same outputs', async (t) => {
  await using model = await seqcls();
  const H = model.config.hidden_size;
  const full = await model.forward({
    inputIds: batchCase.inputIds,
    attentionMask: batchCase.attentionMask,
    tokenTypeIds: batchCase.tokenTypeIds,
  });
  const L = batchCase.seqLen;
  for (let b = 0; b < batchCase.batchSize; b++) {
    const n = batchCase.attentionMask[b]!.reduce((s, v) => s + v, 0);
    const alone = await model.forward({
      inputIds: [batchCase.inputIds[b]!.slice(0, n)],
      tokenTypeIds: [batchCase.tokenTypeIds[b]!.slice(0, n)],
    });
    const inBatch = full.lastHiddenState.data.subarray(b * L * H, b * L * H + n * H);
    t.true(maxDiff(alone.lastHiddenState.data, inBatch) <= 1e-5, `row ${b} hidden states`);
    t.true(maxDiff(alone.logits!.data, full.logits!.data.subarray(b * 3, b * 3 + 3)) <= 1e-5, `row ${b} logits`);
    t.true(maxDiff(alone.poolerOutput!.data, full.poolerOutput!.data.subarray(b * H, (b + 1) * H)) <= 1e-5, `row ${b} pooler`);
  }
});

test('packed input gives what the padded batch gives, without padding', async (t) => {
  await using model = await seqcls();
  const H = model.config.hidden_size;
  const lengths = batchCase.attentionMask.map((r) => r.reduce((s, v) => s + v, 0));
  const cu = new Int32Array(lengths.length + 1);
  lengths.forEach((n, i) => (cu[i + 1] = cu[i]! + n));
  const ids = new Int32Array(cu.at(-1)!);
  const types = new Int32Array(cu.at(-1)!);
  lengths.forEach((n, b) => {
    ids.set(batchCase.inputIds[b]!.slice(0, n), cu[b]!);
    types.set(batchCase.tokenTypeIds[b]!.slice(0, n), cu[b]!);
  });
  const packed = await model.forwardPacked({ inputIds: ids, cuSeqlens: cu, tokenTypeIds: types });
  const padded = await model.forward({
    inputIds: batchCase.inputIds,
    attentionMask: batchCase.attentionMask,
    tokenTypeIds: batchCase.tokenTypeIds,
  });
  t.deepEqual(packed.lastHiddenState.dims, [ids.length, H]);
  t.deepEqual(packed.logits!.dims, [lengths.length, 3]);
  t.true(maxDiff(packed.logits!.data, padded.logits!.data) <= 1e-6);
  const L = batchCase.seqLen;
  lengths.forEach((n, b) => {
    const a = packed.lastHiddenState.data.subarray(cu[b]! * H, (cu[b]! + n) * H);
    const p = padded.lastHiddenState.data.subarray(b * L * H, b * L * H + n * H);
    t.true(maxDiff(a, p) <= 1e-6, `row ${b}`);
  });
});

test('typed-array rows, defaults and padded positions', async (t) => {
  await using model = await seqcls();
  const c = golden.cases.find((x) => x.name === 'defaults')!;
  const a = await model.forward({ inputIds: [Int32Array.from(c.inputIds[0]!)] });
  const b = await model.forward({
    inputIds: c.inputIds,
    attentionMask: [c.inputIds[0]!.map(() => 1)],
    tokenTypeIds: [c.inputIds[0]!.map(() => 0)],
  });
  t.deepEqual(a.logits!.data, b.logits!.data);
  // Padded positions are never computed: they are left at zero.
  const padded = await model.forward({ inputIds: [[101, 7, 102, 0]], attentionMask: [[1, 1, 1, 0]] });
  const H = model.config.hidden_size;
  t.true(padded.lastHiddenState.data.subarray(3 * H).every((v) => v === 0));
});

const bad: [string, (m: BertModel) => Promise<unknown>, RegExp][] = [
  ['token id >= vocab_size', (m) => m.forward({ inputIds: [[101, 1000, 102]] }), /outside the vocabulary/],
  ['negative token id', (m) => m.forward({ inputIds: [[101, -1, 102]] }), /outside the vocabulary/],
  ['non-integer token id', (m) => m.forward({ inputIds: [[101, 1.5, 102]] }), /must be an integer/],
  ['NaN token id', (m) => m.forward({ inputIds: [[101, Number.NaN, 102]] }), /must be an integer/],
  ['token type >= type_vocab_size', (m) => m.forward({ inputIds: [[101, 7, 102]], tokenTypeIds: [[0, 2, 0]] }), /type_vocab_size/],
  [
    'longer than max_position_embeddings',
    (m) => m.forward({ inputIds: [Array.from({ length: 65 }, () => 7)] }),
    /max_position_embeddings \(64\)/,
  ],
  ['ragged rows', (m) => m.forward({ inputIds: [[101, 7, 102], [101, 102]] }), /same length/],
  ['mask shape differs from ids', (m) => m.forward({ inputIds: [[101, 7, 102]], attentionMask: [[1, 1]] }), /expected 3/],
  ['mask row count differs', (m) => m.forward({ inputIds: [[101, 7, 102]], attentionMask: [[1, 1, 1], [1, 1, 1]] }), /rows/],
  ['mask values other than 0/1', (m) => m.forward({ inputIds: [[101, 7, 102]], attentionMask: [[1, 2, 1]] }), /0 or 1/],
  ['empty batch', (m) => m.forward({ inputIds: [] }), /empty/],
  ['empty row', (m) => m.forward({ inputIds: [[]] }), /empty/],
  ['not an array', (m) => m.forward({ inputIds: 'hello' as unknown as number[][] }), /array of rows/],
  ['no input at all', (m) => m.forward(undefined as unknown as { inputIds: number[][] }), /forward\(\) takes/],
  [
    'packed offsets that do not cover the tokens',
    (m) => m.forwardPacked({ inputIds: Int32Array.of(101, 7, 102), cuSeqlens: Int32Array.of(0, 2) }),
    /cu_seqlens must end/,
  ],
  [
    'packed offsets that go backwards',
    (m) => m.forwardPacked({ inputIds: Int32Array.of(101, 7, 102), cuSeqlens: Int32Array.of(0, 3, 2, 3) }),
    /increase strictly/,
  ],
  [
    'packed arrays of the wrong type',
    (m) => m.forwardPacked({ inputIds: [101, 102] as unknown as Int32Array, cuSeqlens: Int32Array.of(0, 2) }),
    /Int32Array/,
  ],
  [
    'packed token types of the wrong length',
    (m) => m.forwardPacked({ inputIds: Int32Array.of(101, 102), cuSeqlens: Int32Array.of(0, 2), tokenTypeIds: Int32Array.of(0) }),
    /one entry per token/,
  ],
];

for (const [name, call, message] of bad) {
  test(`bad input: ${name} -> InvalidInputError`, async (t) => {
    await using model = await seqcls();
    const err = await t.throwsAsync(call(model), { instanceOf: InvalidInputError, message });
    t.is(err?.code, 'ERR_INVALID_INPUT');
    // The caller's stack, not the native completion callback's.
    t.regex(err?.stack ?? '', /model-input\.test/);
    // The model (and the process) lives on.
    const ok = await model.forward({ inputIds: [[101, 7, 102]] });
    t.is(ok.logits!.data.length, 3);
  });
}

test('use after dispose -> DisposedError; dispose is idempotent and waits for queued work', async (t) => {
  const model = await seqcls();
  const pending = model.forward({ inputIds: [[101, 7, 102]] });
  const disposing = model.dispose();
  await t.notThrowsAsync(pending); // accepted before dispose: it completes
  await disposing;
  await model.dispose();
  await model[Symbol.asyncDispose]();
  t.true(model.disposed);
  const err = await t.throwsAsync(model.forward({ inputIds: [[101, 102]] }), { instanceOf: DisposedError });
  t.is(err?.code, 'ERR_DISPOSED');
  t.throws(() => model.memoryUsage(), { instanceOf: DisposedError });
});

test('concurrent forwards on one model are queued and each gets its own result', async (t) => {
  await using model = await seqcls();
  const inputs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ inputIds: [[101, 100 + i * 37, 200 + i, 102]] }));
  const alone: Float32Array[] = [];
  for (const input of inputs) alone.push((await model.forward(input)).logits!.data);
  const together = await Promise.all(inputs.map((input) => model.forward(input)));
  together.forEach((out, i) => t.deepEqual(out.logits!.data, alone[i]));
});

test('threads option is honoured and reported', async (t) => {
  await using model = await loadModel(fixture('tiny-bert-model'), { device: 'cpu', threads: 1 });
  t.is(model.backend.threads, 1);
  t.is(model.backend.device, 'cpu');
  await t.throwsAsync(loadModel(fixture('tiny-bert-model'), { threads: -1 }), { instanceOf: InvalidInputError });
  await t.throwsAsync(loadModel(fixture('tiny-bert-model'), { threads: 2.5 }), { instanceOf: InvalidInputError });
});

test('masked-LM logits for selected tokens only (logitsTokens) equal those rows of the full logits', async (t) => {
  await using mlm = await loadModel(fixture('tiny-bert-mlm'), { device: 'cpu', threads: 2 });
  const V = mlm.config.vocab_size;
  const packed = { inputIds: Int32Array.of(101, 103, 7, 102, 101, 9, 103, 103, 102), cuSeqlens: Int32Array.of(0, 4, 9) };
  const full = await mlm.forwardPacked(packed);
  const pick = Int32Array.of(7, 1, 6);
  const some = await mlm.forwardPacked(packed, { logitsTokens: pick });
  t.deepEqual(some.logits!.dims, [3, V]);
  pick.forEach((tok, i) => t.deepEqual(some.logits!.data.subarray(i * V, (i + 1) * V), full.logits!.data.subarray(tok * V, (tok + 1) * V)));
  t.deepEqual(some.lastHiddenState.data, full.lastHiddenState.data);
  const none = await mlm.forwardPacked(packed, { logitsTokens: new Int32Array(0) });
  t.deepEqual(none.logits!.dims, [0, V]);
  await t.throwsAsync(mlm.forwardPacked(packed, { logitsTokens: Int32Array.of(9) }), { instanceOf: InvalidInputError, message: /not a token of the batch/ });
  await using model = await seqcls();
  await t.throwsAsync(model.forwardPacked(packed, { logitsTokens: Int32Array.of(1) }), { instanceOf: InvalidInputError, message: /has none/ });
});
