/**
 * "Adding a model family" (README) followed to the letter by a test-only family: BERT without a
 * pooler and with positions after padding_idx, stored under its own prefix. It is a family row
 * (src-ts/families.ts) and a checkpoint-names row (src-ts/weights/names.ts), registered at run
 * time here; its architecture names are BERT's, so the engine's table needs no row. The engine
 * then runs it from the description alone: the same numbers as BERT's graph given those positions.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createModel, loadModel, UnsupportedModelError } from '../src-ts/index.js';
import { FAMILIES, registerFamily } from '../src-ts/families.js';
import { parseSafetensors, registerCheckpointNames } from '../src-ts/weights/index.js';
import { fixture } from './helpers/fixtures.js';

registerFamily({ ...FAMILIES[0]!, family: 'toy', modelTypes: ['toy-bert'], pooler: false, positionsFromPadding: true });
registerCheckpointNames('toy', { prefix: 'toy', encoderModules: ['embeddings', 'encoder'], renames: [] });

test('a family row without training: true is refused for training by name', async (t) => {
  registerFamily({ ...FAMILIES[0]!, family: 'toy-untrained', modelTypes: ['toy-untrained'], training: false });
  registerCheckpointNames('toy-untrained', { prefix: 'bert', encoderModules: ['embeddings', 'encoder', 'pooler'], renames: [] });
  const dir = fixture('tiny-bert-seqcls');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const tensors = new Map<string, { dtype: 'F32'; dims: number[]; data: Uint8Array }>();
  for (const [name, tensor] of parseSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors')) tensors.set(name, { dtype: tensor.dtype as 'F32', dims: tensor.dims, data: tensor.data });
  await t.throwsAsync(createModel({ ...config, model_type: 'toy-untrained' }, tensors, { training: true }), { instanceOf: UnsupportedModelError, message: /training is not yet supported for model_type "toy-untrained"/ });
});

test('a family added through the recipe loads and runs from its description', async (t) => {
  const dir = fixture('tiny-bert-model');
  const bertConfig = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const tensors = new Map<string, { dtype: 'F32'; dims: number[]; data: Uint8Array }>();
  for (const [name, tensor] of parseSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors')) {
    if (name.includes('pooler')) continue;
    tensors.set(`toy.${name.replace(/^bert\./, '')}`, { dtype: tensor.dtype as 'F32', dims: tensor.dims, data: tensor.data });
  }
  await using toy = await createModel({ ...bertConfig, model_type: 'toy-bert', architectures: null }, tensors, { threads: 1 });
  t.is(toy.architecture, 'BertModel');
  t.is(toy.config.encoder.family, 'toy');
  t.is(toy.config.encoder.positionOffset, 1);
  t.deepEqual(toy.weights.ignored, []);

  // pad_token_id 0: positions count the non-pad ids from 1, pads get 0, left padding included.
  const inputIds = [[0, 0, 2, 17, 33, 3], [2, 40, 41, 42, 43, 3]];
  const attentionMask = [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]];
  const out = await toy.forward({ inputIds, attentionMask });
  t.is(out.poolerOutput, undefined, 'no pooler');

  await using bert = await loadModel(dir, { threads: 1, tokenizer: false });
  // The same tokens through BERT's graph with the positions given: [pad at 0 kept as a query-only token] 0, then 1 2 3 4.
  const ref = await bert.forwardPacked({
    inputIds: new Int32Array([0, 2, 17, 33, 3, 2, 40, 41, 42, 43, 3]),
    cuSeqlens: new Int32Array([0, 5, 11]),
    positionIds: new Int32Array([0, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6]),
    attentionMask: new Uint8Array([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
  });
  const H = bert.config.hidden_size;
  let worst = 0;
  const rows: [number, number][] = [[0, 2], [0, 3], [0, 4], [0, 5], ...[0, 1, 2, 3, 4, 5].map((j): [number, number] => [1, j])];
  rows.forEach(([b, j], k) => {
    for (let h = 0; h < H; h++) worst = Math.max(worst, Math.abs(out.lastHiddenState.data[(b * 6 + j) * H + h]! - ref.lastHiddenState.data[(k + 1) * H + h]!));
  });
  t.true(worst < 1e-5, `max diff ${worst}`);
});
