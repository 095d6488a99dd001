/** Lazy checkpoints: float tensors stay in the file, described by where their bytes are. */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { readCheckpoint } from '../src-ts/index.js';
import { loadBinding } from '../src-ts/native/load-binding.js';
import { fixture } from './helpers/fixtures.js';

test('lazy and eager reads describe the same bytes', async (t) => {
  for (const model of ['tiny-bert-model', 'tiny-bert-model-bf16', 'tiny-bert-gamma-beta']) {
    const eager = await readCheckpoint(fixture(model));
    const lazy = await readCheckpoint(fixture(model), { lazy: true });
    t.deepEqual([...lazy.tensors.keys()], [...eager.tensors.keys()]);
    const file = readFileSync(lazy.files[0]!);
    for (const [name, e] of eager.tensors) {
      const l = lazy.tensors.get(name)!;
      t.deepEqual(l.dims, e.dims);
      if (l.location) {
        t.is(l.data.length, 0);
        t.deepEqual(file.subarray(l.location.offset, l.location.offset + l.location.nbytes), Buffer.from(e.data));
      } else {
        t.is(e.dtype, 'I64'); // only non-float tensors are read eagerly
        t.deepEqual(l.data, e.data);
      }
    }
  }
});

test('the engine reports a tensor whose bytes are no longer in its file', async (t) => {
  // The file can change between the header read (TS) and the data read (engine): simulate that by
  // pointing one tensor past the end of a real file.
  const { tensors } = await readCheckpoint(fixture('tiny-bert-model'), { lazy: true });
  const binding = loadBinding();
  const config = {
    architecture: 'BertModel' as const,
    vocab_size: 1000, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128,
    max_position_embeddings: 64, type_vocab_size: 2, num_labels: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu',
    has_pooler: true, tie_word_embeddings: true,
  };
  const views = [...tensors.values()]
    .filter((x) => x.location)
    .map((x) => ({ name: x.name, dtype: x.dtype as 'F32', dims: x.dims, ...x.location! }));
  await t.notThrowsAsync(binding.createModel(config, views, { threads: 1 }).then((m) => m.dispose()));
  // A vector (read whole) and a matrix (read a panel of rows at a time by the packing threads).
  for (const name of ['embeddings.LayerNorm.bias', 'encoder.layer.1.intermediate.dense.weight']) {
    for (const threads of [1, 2]) {
      const bad = views.map((v) => (v.name === name ? { ...v, offset: 10_000_000 } : v));
      t.is(bad.filter((v) => v.offset === 10_000_000).length, 1);
      const err = await t.throwsAsync(binding.createModel(config, bad, { threads }));
      t.is((err as { code?: string }).code, 'INVALID_ARGUMENT');
      // The offset of the first failed read: the tensor's, or a later panel's when another thread failed first.
      t.regex(err!.message, new RegExp(`cannot read \\d+ bytes of ${name.replaceAll('.', '\\.')} at offset 10\\d{6} `));
    }
  }
});
