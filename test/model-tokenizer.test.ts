/** The model folder's tokenizer rides along, and its batch output feeds forward() directly. */
import test from 'ava';
import { BertError, loadModel } from '../src-ts/index.js';
import { fixture } from './helpers/fixtures.js';

const texts = ['the cat sat on the mat', 'a much longer sentence about nothing in particular, with punctuation!', 'hi'];

test('model.tokenizer exists when the folder has tokenizer files; tokenizer: false skips it', async (t) => {
  await using model = await loadModel(fixture('tiny-bert-seqcls'), { device: 'cpu' });
  t.truthy(model.tokenizer);
  t.deepEqual(model.tokenizer!.encode('the').ids.slice(0, 1), Int32Array.of(101));
  await using bare = await loadModel(fixture('tiny-bert-seqcls'), { device: 'cpu', tokenizer: false });
  t.false(bare.hasTokenizer);
  t.throws(() => bare.tokenizer, { instanceOf: BertError, message: /tokenizer: false/ });
});

test('forward takes encodeBatch output, padded or not, and agrees with each text alone', async (t) => {
  await using model = await loadModel(fixture('tiny-bert-seqcls'), { device: 'cpu' });
  const tok = model.tokenizer!;
  const ragged = await model.forward(tok.encodeBatch(texts));
  const padded = await model.forward(tok.encodeBatch(texts, { padding: 'longest' }));
  t.deepEqual(ragged.logits!.dims, [3, 3]);
  t.deepEqual(ragged.lastHiddenState.dims, padded.lastHiddenState.dims);
  for (let i = 0; i < texts.length; i++) {
    const alone = await model.forward(tok.encodeBatch([texts[i]!]));
    for (let k = 0; k < 3; k++) {
      t.true(Math.abs(alone.logits!.data[k]! - ragged.logits!.data[i * 3 + k]!) <= 1e-5);
      t.true(Math.abs(alone.logits!.data[k]! - padded.logits!.data[i * 3 + k]!) <= 1e-5);
    }
  }
  // The packed form skips the padded layout entirely.
  const packed = await model.forwardPacked(tok.encodeBatch(texts).toPacked());
  for (let k = 0; k < 9; k++) t.true(Math.abs(packed.logits!.data[k]! - ragged.logits!.data[k]!) <= 1e-6);
});
