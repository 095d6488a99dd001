/**
 * The families' config.json: keys, defaults and hard-coded values as transformers reads them, the
 * encoder and head descriptions made from them, and what is refused by name.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeHead, parseConfig, toNativeConfig } from '../src-ts/config.js';
import { loadModel, UnsupportedModelError } from '../src-ts/index.js';
import { fixture, repoRoot } from './helpers/fixtures.js';

const cfg = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(fixture('variants', name), 'config.json'), 'utf8'));

test('DistilBERT: its own key names, LayerNorm eps fixed at 1e-12, no token types, ReLU pre_classifier', (t) => {
  const c = parseConfig({ ...cfg('distilbert-seqcls'), layer_norm_eps: 1e-5 });
  t.is(c.hidden_size, 32);
  t.is(c.num_hidden_layers, 2);
  t.is(c.intermediate_size, 64);
  t.is(c.hidden_act, 'gelu');
  t.is(c.layer_norm_eps, 1e-12);
  t.false(c.encoder.tokenTypes);
  t.is(c.encoder.paddingIdx, -1);
  t.false(c.encoder.pooler);
  t.deepEqual(describeHead(c, 'DistilBertForSequenceClassification'), { architecture: 'DistilBertForSequenceClassification', kind: 'sequence_classification', pooler: false, ownDense: 'relu', transformAct: null });
  t.false('dim' in c.extra);
  t.throws(() => parseConfig({ ...cfg('distilbert-model'), activation: 'swish' }), { instanceOf: UnsupportedModelError, message: /activation "swish"/ });
});

test('RoBERTa / XLM-R: positions after padding_idx, the classification head on <s>, gelu lm_head, multiple choice on the pooler', (t) => {
  const c = parseConfig(cfg('roberta-mc'));
  t.is(c.encoder.paddingIdx, 1);
  t.is(c.encoder.positionOffset, 2);
  t.is(c.encoder.maxSequenceLength, 64);
  t.is(describeHead(c, 'RobertaForSequenceClassification').ownDense, 'tanh');
  t.true(describeHead(c, 'RobertaForMultipleChoice').pooler);
  t.is(describeHead(c, 'RobertaForMaskedLM').transformAct, 'gelu');
  const x = parseConfig(cfg('xlmr-model'));
  t.is(x.model_type, 'xlm-roberta');
  t.is(toNativeConfig(x, 'XLMRobertaModel', true).padding_idx, 1);
  t.throws(() => parseConfig({ ...cfg('xlmr-model'), architectures: ['BertModel'] }), { instanceOf: UnsupportedModelError, message: /BertModel is not supported; supported: XLMRobertaModel|RobertaModel/ });
  t.is(parseConfig({ ...cfg('roberta-model'), dtype: undefined, torch_dtype: 'float16' }).torch_dtype, 'float16');
  t.is(parseConfig(cfg('roberta-model')).torch_dtype, 'float32');
});

test('ALBERT: factorized embeddings, shared groups, applications; position_embedding_type other than absolute is refused by name', (t) => {
  const c = parseConfig({ ...cfg('albert-model'), num_hidden_layers: 4, num_hidden_groups: 2, inner_group_num: 3 });
  t.is(c.encoder.embeddingSize, 16);
  t.is(c.encoder.numHiddenGroups, 2);
  t.is(c.encoder.layerApplications, 12);
  t.is(describeHead(c, 'AlbertForPreTraining').kind, 'pretraining');
  t.throws(() => parseConfig({ ...cfg('albert-model'), position_embedding_type: 'relative_key' }), { instanceOf: UnsupportedModelError, message: /position_embedding_type "relative_key"/ });
  t.throws(() => parseConfig({ ...cfg('albert-model'), num_hidden_groups: 3 }), { message: /num_hidden_groups/ });
});

test('ELECTRA: projection, no pooler, gelu classification head, hidden_act discriminator', (t) => {
  const c = parseConfig({ ...cfg('electra-discriminator'), hidden_act: 'relu' });
  t.is(c.encoder.embeddingSize, 16);
  t.false(c.encoder.pooler);
  t.is(describeHead(c, 'ElectraForPreTraining').kind, 'discriminator');
  t.is(describeHead(c, 'ElectraForPreTraining').ownDense, 'relu');
  t.is(describeHead(c, 'ElectraForSequenceClassification').ownDense, 'gelu');
  t.is(describeHead(c, 'ElectraForMaskedLM').transformAct, 'gelu');
});

test('an unknown model_type names what is supported', (t) => {
  t.throws(() => parseConfig({ model_type: 'deberta-v2' }), { instanceOf: UnsupportedModelError, message: /model_type "deberta-v2" is not supported; supported: bert, distilbert, roberta, xlm-roberta, camembert, albert, electra/ });
});

test('DistilBERT with sinusoidal_pos_embds: the stored fixed table, as transformers (right and left padding)', async (t) => {
  const dir = join(repoRoot, 'test', 'data', 'families', 'distilbert-sinusoidal');
  const g = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
  await using model = await loadModel(dir, { threads: 1 });
  t.is(model.config.extra.sinusoidal_pos_embds, true);
  const out = await model.forward({ inputIds: g.input_ids, attentionMask: g.attention_mask });
  const H = model.config.hidden_size;
  let worst = 0;
  g.attention_mask.forEach((row: number[], b: number) =>
    row.forEach((m, j) => {
      if (m !== 1) return;
      for (let h = 0; h < H; h++) worst = Math.max(worst, Math.abs(out.lastHiddenState.data[(b * row.length + j) * H + h]! - g.last_hidden_state[b][j][h]));
    }),
  );
  t.true(worst < 5e-5, `max diff ${worst}`);
});
