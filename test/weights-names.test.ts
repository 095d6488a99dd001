import test from 'ava';
import { readdirSync } from 'node:fs';
import { type Architecture, parseConfig, readConfig } from '../src-ts/config.js';
import { InvalidFileError, UnsupportedModelError, WeightsMismatchError } from '../src-ts/errors.js';
import { DTYPE_SIZE, type DType, expectedTensors, type RawTensor, readCheckpoint, resolveWeights } from '../src-ts/weights/index.js';
import { fixture, fixturesDir } from './helpers/fixtures.js';

/** A tiny config: H=8, I=16, 1 layer, vocab 10, 3 labels. */
const config = parseConfig({ hidden_size: 8, num_attention_heads: 2, intermediate_size: 16, num_hidden_layers: 1, vocab_size: 10, max_position_embeddings: 6, num_labels: 3 });

const tensor = (name: string, dims: number[], dtype: DType = 'F32'): RawTensor => ({
  name,
  dtype,
  dims,
  data: new Uint8Array(dims.reduce((n, d) => n * d, DTYPE_SIZE[dtype])),
});

/** A checkpoint holding exactly what `architecture` expects, with `prefix` on the encoder names. */
function checkpoint(architecture: Architecture, prefix = '', cfg = config): Map<string, RawTensor> {
  const m = new Map<string, RawTensor>();
  for (const [name, dims] of expectedTensors(cfg, architecture)) {
    const stored = /^(embeddings|encoder|pooler)\./.test(name) ? prefix + name : name;
    m.set(stored, tensor(stored, dims));
  }
  return m;
}

const ENCODER = 5 + 16 * 1;

test('expectedTensors: shapes and heads of every architecture', (t) => {
  const e = (a: Architecture) => expectedTensors(config, a);
  t.is(e('BertModel').size, ENCODER + 2);
  t.deepEqual(e('BertModel').get('embeddings.word_embeddings.weight'), [10, 8]);
  t.deepEqual(e('BertModel').get('embeddings.position_embeddings.weight'), [6, 8]);
  t.deepEqual(e('BertModel').get('embeddings.token_type_embeddings.weight'), [2, 8]);
  t.deepEqual(e('BertModel').get('encoder.layer.0.intermediate.dense.weight'), [16, 8]);
  t.deepEqual(e('BertModel').get('encoder.layer.0.output.dense.weight'), [8, 16]);
  t.deepEqual(e('BertModel').get('encoder.layer.0.attention.output.LayerNorm.bias'), [8]);
  t.is(e('BertForMaskedLM').size, ENCODER + 5);
  t.false(e('BertForMaskedLM').has('pooler.dense.weight'));
  t.deepEqual(e('BertForMaskedLM').get('cls.predictions.bias'), [10]);
  t.false(e('BertForMaskedLM').has('cls.predictions.decoder.weight'), 'tied to the word embeddings');
  t.deepEqual(e('BertForNextSentencePrediction').get('cls.seq_relationship.weight'), [2, 8]);
  t.is(e('BertForPreTraining').size, ENCODER + 2 + 5 + 2);
  t.deepEqual(e('BertForSequenceClassification').get('classifier.weight'), [3, 8]);
  t.true(e('BertForSequenceClassification').has('pooler.dense.bias'));
  t.deepEqual(e('BertForTokenClassification').get('classifier.bias'), [3]);
  t.false(e('BertForTokenClassification').has('pooler.dense.bias'));
  t.deepEqual(e('BertForQuestionAnswering').get('qa_outputs.weight'), [2, 8]);
  t.false(e('BertForQuestionAnswering').has('pooler.dense.weight'));
  t.deepEqual(e('BertForMultipleChoice').get('classifier.weight'), [1, 8]);
  t.deepEqual(e('BertForMultipleChoice').get('classifier.bias'), [1]);
  const untied = { ...config, tie_word_embeddings: false };
  t.deepEqual(expectedTensors(untied, 'BertForMaskedLM').get('cls.predictions.decoder.weight'), [10, 8]);
  t.is(t.throws(() => expectedTensors(config, 'BertForCausalLM' as Architecture), { instanceOf: UnsupportedModelError })?.code, 'ERR_UNSUPPORTED_MODEL');
});

test('every fixture folder loads and resolves with its own architecture', async (t) => {
  const folders = readdirSync(fixturesDir).filter((d) => d.startsWith('tiny-bert-'));
  t.is(folders.length, 10);
  for (const folder of folders) {
    const cfg = await readConfig(fixture(folder, 'config.json'));
    const arch = cfg.architectures![0]!;
    const ck = await readCheckpoint(fixture(folder));
    const r = resolveWeights(ck.tensors, cfg, arch, ck.files[0]);
    t.deepEqual([...r.tensors.keys()], [...expectedTensors(cfg, arch).keys()], folder);
    t.is(r.hasPooler, expectedTensors(cfg, arch).has('pooler.dense.weight'), folder);
    for (const [name, x] of r.tensors) t.is(x.name, name);
  }
});

test('gamma/beta are renamed to weight/bias; position_ids is ignored', async (t) => {
  const ck = await readCheckpoint(fixture('tiny-bert-gamma-beta'));
  const cfg = await readConfig(fixture('tiny-bert-gamma-beta', 'config.json'));
  const r = resolveWeights(ck.tensors, cfg, 'BertModel');
  t.is(r.sourceNames.get('embeddings.LayerNorm.weight'), 'embeddings.LayerNorm.gamma');
  t.is(r.sourceNames.get('encoder.layer.1.attention.output.LayerNorm.bias'), 'encoder.layer.1.attention.output.LayerNorm.beta');
  t.is(r.tensors.get('embeddings.LayerNorm.weight')!.data, ck.tensors.get('embeddings.LayerNorm.gamma')!.data);
  t.deepEqual(r.ignored, ['embeddings.position_ids']);
});

test('pretraining .bin: tied decoder and its bias ignored, heads mapped, prefix stripped', async (t) => {
  const ck = await readCheckpoint(fixture('tiny-bert-pretraining-bin'));
  const cfg = await readConfig(fixture('tiny-bert-pretraining-bin', 'config.json'));
  const r = resolveWeights(ck.tensors, cfg, 'BertForPreTraining');
  t.deepEqual(r.ignored.sort(), ['bert.embeddings.position_ids', 'cls.predictions.decoder.bias', 'cls.predictions.decoder.weight']);
  t.is(r.sourceNames.get('embeddings.word_embeddings.weight'), 'bert.embeddings.word_embeddings.weight');
  t.is(r.sourceNames.get('cls.predictions.bias'), 'cls.predictions.bias');
  t.true(r.hasPooler);
  t.false(r.tensors.has('cls.predictions.decoder.weight'));

  // As bert-base-uncased is used: a pre-training checkpoint whose config says BertForMaskedLM.
  const mlm = resolveWeights(ck.tensors, cfg, 'BertForMaskedLM');
  t.false(mlm.hasPooler);
  t.deepEqual(mlm.ignored.sort(), [
    'bert.embeddings.position_ids',
    'bert.pooler.dense.bias',
    'bert.pooler.dense.weight',
    'cls.predictions.decoder.bias',
    'cls.predictions.decoder.weight',
    'cls.seq_relationship.bias',
    'cls.seq_relationship.weight',
  ]);
  // And as a plain encoder: every head is ignored, the pooler kept.
  const base = resolveWeights(ck.tensors, cfg, 'BertModel');
  t.true(base.hasPooler);
  t.is(base.tensors.size, 39);
  t.is(base.ignored.filter((n) => n.startsWith('cls.')).length, 9);
});

test('encoder names with or without the bert. prefix', (t) => {
  for (const prefix of ['', 'bert.']) {
    const r = resolveWeights(checkpoint('BertForSequenceClassification', prefix), config, 'BertForSequenceClassification');
    t.is(r.tensors.size, ENCODER + 4);
    t.is(r.sourceNames.get('pooler.dense.weight'), `${prefix}pooler.dense.weight`);
    t.is(r.sourceNames.get('classifier.weight'), 'classifier.weight');
    t.deepEqual(r.ignored, []);
  }
});

test('the same tensor stored with and without the prefix (or as gamma and weight) is an error', (t) => {
  const ck = checkpoint('BertModel');
  ck.set('bert.encoder.layer.0.output.dense.bias', tensor('bert.encoder.layer.0.output.dense.bias', [8]));
  const err = t.throws(() => resolveWeights(ck, config, 'BertModel', '/m/model.safetensors'), { instanceOf: InvalidFileError });
  t.is(err?.code, 'ERR_INVALID_FILE');
  t.regex(err!.message, /"encoder.layer.0.output.dense.bias" and "bert.encoder.layer.0.output.dense.bias" are both stored/);

  const gb = checkpoint('BertModel');
  gb.set('embeddings.LayerNorm.gamma', tensor('embeddings.LayerNorm.gamma', [8]));
  t.throws(() => resolveWeights(gb, config, 'BertModel'), { instanceOf: InvalidFileError, message: /are both stored for embeddings.LayerNorm.weight/ });
});

test('missing, unexpected and wrong-shape tensors are listed all at once', (t) => {
  const ck = checkpoint('BertForSequenceClassification', 'bert.');
  ck.delete('bert.encoder.layer.0.attention.self.key.bias');
  ck.delete('classifier.weight');
  ck.set('bert.encoder.layer.0.output.dense.weight', tensor('bert.encoder.layer.0.output.dense.weight', [16, 8]));
  ck.set('bert.embeddings.word_embeddings.weight', tensor('bert.embeddings.word_embeddings.weight', [11, 8]));
  ck.set('lm_head.weight', tensor('lm_head.weight', [10, 8]));
  ck.set('bert.encoder.layer.1.output.dense.bias', tensor('bert.encoder.layer.1.output.dense.bias', [8])); // a layer past num_hidden_layers
  ck.set('module.bert.pooler.dense.bias', tensor('module.bert.pooler.dense.bias', [8]));
  const err = t.throws(() => resolveWeights(ck, config, 'BertForSequenceClassification', '/m/model.safetensors'), { instanceOf: WeightsMismatchError });
  t.is(err?.code, 'ERR_WEIGHTS_MISMATCH');
  t.is(err?.file, '/m/model.safetensors');
  t.deepEqual(err?.missing, ['encoder.layer.0.attention.self.key.bias', 'classifier.weight']);
  t.deepEqual(err?.unexpected, ['lm_head.weight', 'bert.encoder.layer.1.output.dense.bias', 'module.bert.pooler.dense.bias']);
  t.deepEqual(err?.wrongShape, [
    { name: 'bert.embeddings.word_embeddings.weight', expected: [10, 8], actual: [11, 8] },
    { name: 'bert.encoder.layer.0.output.dense.weight', expected: [8, 16], actual: [16, 8] },
  ]);
  t.regex(err!.message, /missing tensors: .*unexpected tensors: .*wrong shapes: /);
});

test('heads: a BertModel checkpoint lacks what a task head needs; classifier sizes follow num_labels', (t) => {
  const err = t.throws(() => resolveWeights(checkpoint('BertModel'), config, 'BertForQuestionAnswering'), { instanceOf: WeightsMismatchError });
  t.deepEqual(err?.missing, ['qa_outputs.weight', 'qa_outputs.bias']);
  t.deepEqual(err?.unexpected, []);

  const two = resolveWeights(checkpoint('BertForSequenceClassification'), { ...config, num_labels: 3 }, 'BertForSequenceClassification');
  t.deepEqual(two.tensors.get('classifier.weight')!.dims, [3, 8]);
  const shape = t.throws(() => resolveWeights(checkpoint('BertForSequenceClassification'), { ...config, num_labels: 5 }, 'BertForSequenceClassification'), {
    instanceOf: WeightsMismatchError,
  });
  t.deepEqual(shape?.wrongShape.map((w) => w.name), ['classifier.weight', 'classifier.bias']);

  // A sequence-classification checkpoint loaded for token classification: the pooler is ignored.
  const tok = resolveWeights(checkpoint('BertForSequenceClassification'), config, 'BertForTokenClassification');
  t.deepEqual(tok.ignored, ['pooler.dense.weight', 'pooler.dense.bias']);
  t.false(tok.hasPooler);
  const mc = resolveWeights(checkpoint('BertForMultipleChoice'), config, 'BertForMultipleChoice');
  t.deepEqual(mc.tensors.get('classifier.weight')!.dims, [1, 8]);
});

test('BertModel pooler is optional, but not half of it', (t) => {
  const ck = checkpoint('BertModel');
  ck.delete('pooler.dense.weight');
  ck.delete('pooler.dense.bias');
  const r = resolveWeights(ck, config, 'BertModel');
  t.false(r.hasPooler);
  t.is(r.tensors.size, ENCODER);

  ck.set('pooler.dense.weight', tensor('pooler.dense.weight', [8, 8]));
  const err = t.throws(() => resolveWeights(ck, config, 'BertModel'), { instanceOf: WeightsMismatchError });
  t.deepEqual(err?.missing, ['pooler.dense.bias']);

  // Other pooled architectures need it.
  const nsp = checkpoint('BertForNextSentencePrediction', 'bert.');
  nsp.delete('bert.pooler.dense.weight');
  t.deepEqual(t.throws(() => resolveWeights(nsp, config, 'BertForNextSentencePrediction'), { instanceOf: WeightsMismatchError })?.missing, ['pooler.dense.weight']);
});

test('MLM decoder: tied weight ignored when stored, required when untied; decoder.bias stands for cls.predictions.bias', (t) => {
  const ck = checkpoint('BertForMaskedLM', 'bert.');
  ck.set('cls.predictions.decoder.weight', tensor('cls.predictions.decoder.weight', [10, 8]));
  t.deepEqual(resolveWeights(ck, config, 'BertForMaskedLM').ignored, ['cls.predictions.decoder.weight']);

  const untied = { ...config, tie_word_embeddings: false };
  const r = resolveWeights(ck, untied, 'BertForMaskedLM');
  t.is(r.tensors.get('cls.predictions.decoder.weight')!.data, ck.get('cls.predictions.decoder.weight')!.data);
  ck.delete('cls.predictions.decoder.weight');
  t.deepEqual(t.throws(() => resolveWeights(ck, untied, 'BertForMaskedLM'), { instanceOf: WeightsMismatchError })?.missing, ['cls.predictions.decoder.weight']);

  // Only the decoder's name for the bias is stored: it is the same parameter.
  const bias = ck.get('cls.predictions.bias')!;
  ck.delete('cls.predictions.bias');
  ck.set('cls.predictions.decoder.bias', { ...bias, name: 'cls.predictions.decoder.bias' });
  const only = resolveWeights(ck, config, 'BertForMaskedLM');
  t.is(only.sourceNames.get('cls.predictions.bias'), 'cls.predictions.decoder.bias');
  t.is(only.tensors.get('cls.predictions.bias')!.data, bias.data);
  t.deepEqual(only.ignored, []);
  // Both stored: cls.predictions.bias is used.
  ck.set('cls.predictions.bias', bias);
  const both = resolveWeights(ck, config, 'BertForMaskedLM');
  t.is(both.sourceNames.get('cls.predictions.bias'), 'cls.predictions.bias');
  t.deepEqual(both.ignored, ['cls.predictions.decoder.bias']);
  // A decoder bias of the wrong size is reported under its stored name.
  ck.delete('cls.predictions.bias');
  ck.set('cls.predictions.decoder.bias', tensor('cls.predictions.decoder.bias', [9]));
  t.deepEqual(t.throws(() => resolveWeights(ck, config, 'BertForMaskedLM'), { instanceOf: WeightsMismatchError })?.wrongShape, [
    { name: 'cls.predictions.decoder.bias', expected: [10], actual: [9] },
  ]);
});

test('dtypes: F64 becomes F32, F16/BF16 pass through, integer weights are rejected', (t) => {
  const ck = checkpoint('BertModel');
  const f64 = tensor('pooler.dense.bias', [8], 'F64');
  const v = new DataView(f64.data.buffer);
  for (let i = 0; i < 8; i++) v.setFloat64(i * 8, i === 7 ? 1 / 3 : i - 3.5, true);
  ck.set('pooler.dense.bias', f64);
  ck.set('pooler.dense.weight', tensor('pooler.dense.weight', [8, 8], 'BF16'));
  ck.set('embeddings.LayerNorm.bias', tensor('embeddings.LayerNorm.bias', [8], 'F16'));
  const r = resolveWeights(ck, config, 'BertModel');
  const b = r.tensors.get('pooler.dense.bias')!;
  t.is(b.dtype, 'F32');
  t.deepEqual(b.dims, [8]);
  t.deepEqual(Array.from(new Float32Array(b.data.buffer, b.data.byteOffset, 8)), [-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, Math.fround(1 / 3)]);
  t.is(r.tensors.get('pooler.dense.weight')!.dtype, 'BF16');
  t.is(r.tensors.get('embeddings.LayerNorm.bias')!.dtype, 'F16');

  ck.set('encoder.layer.0.attention.self.query.weight', tensor('encoder.layer.0.attention.self.query.weight', [8, 8], 'I64'));
  ck.set('encoder.layer.0.attention.self.query.bias', tensor('encoder.layer.0.attention.self.query.bias', [8], 'U8'));
  const err = t.throws(() => resolveWeights(ck, config, 'BertModel', '/m/w'), { instanceOf: InvalidFileError });
  t.is(err?.code, 'ERR_INVALID_FILE');
  t.regex(err!.message, /encoder.layer.0.attention.self.query.weight \(I64\), encoder.layer.0.attention.self.query.bias \(U8\)/);
  // An integer buffer that is ignored stays fine.
  const ok = checkpoint('BertModel');
  ok.set('embeddings.position_ids', tensor('embeddings.position_ids', [1, 6], 'I64'));
  t.deepEqual(resolveWeights(ok, config, 'BertModel').ignored, ['embeddings.position_ids']);
});

test('unknown architecture is an UnsupportedModelError', (t) => {
  for (const name of ['RobertaModel', 'constructor', '__proto__']) {
    const err = t.throws(() => resolveWeights(checkpoint('BertModel'), config, name as Architecture), { instanceOf: UnsupportedModelError });
    t.is(err?.code, 'ERR_UNSUPPORTED_MODEL');
  }
});
