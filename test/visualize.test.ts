/** renderAttention and its renderings, without a browser: numbers, summaries, images, bad input, atomic writes. */
import test from 'ava';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InvalidInputError,
  OutputFileError,
  createModel,
  loadModel,
  renderAttention,
  summarizeAttention,
  writeFileAtomic,
  type AttentionData,
  type BertModel,
} from '../src-ts/index.js';
import { RAMP_LUT, rampIndex } from '../src-ts/visualize/colors.js';
import { gridGeometry } from '../src-ts/visualize/png.js';
import { fixture } from './helpers/fixtures.js';
import { randomConfig, randomTensors } from './helpers/random-model.js';
import { decodePng } from './helpers/png.js';

const TEXT = 'The quick brown fox jumps over the lazy dog.';
const PAIR = 'It was unbelievable.';

let model: BertModel;
test.before(async () => {
  model = await loadModel(fixture('tiny-bert-model'), { device: 'cpu' });
});
test.after.always(async () => {
  await model?.dispose();
});

/** forward() on the same tokens, the reference every rendering is checked against. */
async function reference(m: BertModel, text: string, pair?: string) {
  const enc = m.tokenizer!.encode(text, pair ?? null);
  const ids = Array.from(enc.ids);
  const out = await m.forward({ inputIds: [ids], attentionMask: [ids.map(() => 1)], tokenTypeIds: [Array.from(enc.typeIds)] }, { outputAttentions: true });
  return { enc, attentions: out.attentions! };
}

test('attentions equal forward(..., { outputAttentions: true }) for a text and a pair', async (t) => {
  for (const pair of [undefined, PAIR]) {
    const view = await renderAttention(model, TEXT, pair === undefined ? {} : { pair });
    const ref = await reference(model, TEXT, pair);
    t.deepEqual(view.tokens, ref.enc.tokens);
    t.is(view.attentions.length, model.config.num_hidden_layers);
    for (let l = 0; l < ref.attentions.length; l++) {
      t.deepEqual(ref.attentions[l]!.dims, [1, 4, view.data.length, view.data.length]);
      t.deepEqual(view.attentions[l]!.dims, [4, view.data.length, view.data.length]);
      t.deepEqual(Array.from(view.attentions[l]!.data), Array.from(ref.attentions[l]!.data), `layer ${l}`);
    }
    if (pair !== undefined) {
      t.true(view.data.typeIds.includes(1));
      t.is(view.data.pair, PAIR);
    }
  }
});

test('every BERT head architecture renders, and its attention matches its own forward', async (t) => {
  for (const name of ['tiny-bert-mlm', 'tiny-bert-nsp', 'tiny-bert-qa', 'tiny-bert-seqcls', 'tiny-bert-tokcls', 'tiny-bert-pretraining-bin', 'tiny-bert-gamma-beta']) {
    const m = await loadModel(fixture(name), { device: 'cpu' });
    try {
      const view = await renderAttention(m, 'Where is the cat?', { pair: 'On the mat.' });
      const ref = await reference(m, 'Where is the cat?', 'On the mat.');
      t.deepEqual(Array.from(view.attentions.at(-1)!.data), Array.from(ref.attentions.at(-1)!.data), name);
      t.true(view.html.includes(m.architecture), name);
    } finally {
      await m.dispose();
    }
  }
});

test('BertForMultipleChoice (which takes [batch][choices][L]) renders its one text as one choice', async (t) => {
  const shape = { layers: 2, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 };
  const tensors = randomTensors(shape);
  tensors['classifier.weight'] = { dtype: 'F32', dims: [1, 32], data: new Float32Array(32).fill(0.01) };
  tensors['classifier.bias'] = { dtype: 'F32', dims: [1], data: new Float32Array(1) };
  const mc = await createModel({ ...randomConfig(shape), architectures: ['BertForMultipleChoice'] }, tensors, { device: 'cpu' });
  try {
    const view = await renderAttention(mc, 'hello world', { pair: 'how are you', tokenizer: model.tokenizer! });
    const enc = model.tokenizer!.encode('hello world', 'how are you');
    const ids = Array.from(enc.ids);
    const ref = await mc.forward({ inputIds: [[ids]], tokenTypeIds: [[Array.from(enc.typeIds)]] }, { outputAttentions: true });
    t.deepEqual(view.attentions[1]!.dims, [2, ids.length, ids.length]);
    t.deepEqual(Array.from(view.attentions[1]!.data), Array.from(ref.attentions![1]!.data));
    t.is(view.data.modelName, 'BertForMultipleChoice', 'a model built in memory is named by its architecture');
  } finally {
    await mc.dispose();
  }
});

test('the JSON form holds [layer][head][i][j] = forward probabilities, with tokens and summary', async (t) => {
  const view = await renderAttention(model, TEXT);
  const json = JSON.parse(JSON.stringify(view.toJSON()));
  const ref = await reference(model, TEXT);
  const L = view.data.length;
  t.deepEqual(json.tokens, ref.enc.tokens);
  t.is(json.attentions.length, 2);
  t.is(json.attentions[0].length, 4);
  for (let l = 0; l < 2; l++) {
    for (let h = 0; h < 4; h++) {
      for (let i = 0; i < L; i++) {
        for (let j = 0; j < L; j++) {
          if (json.attentions[l][h][i][j] !== ref.attentions[l]!.data[(h * L + i) * L + j]) return t.fail(`[${l}][${h}][${i}][${j}] differs`);
        }
      }
    }
  }
  t.is(json.summary.layers.length, 2);
});

/** The patterns and rollout computed the long way: full matrices in float64. */
function naiveSummary(d: AttentionData) {
  const L = d.length, H = d.heads;
  const seps = d.special.map((s, j) => (s === 1 && j > 0 ? j : -1)).filter((j) => j >= 0);
  const layers = d.attentions.map((a) => {
    const p = (h: number, i: number, j: number) => a[(h * L + i) * L + j]!;
    let cls = 0, sep = 0, prev = 0, next = 0, self = 0;
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < L; i++) {
        cls += p(h, i, 0);
        for (const j of seps) sep += p(h, i, j);
        if (i > 0) prev += p(h, i, i - 1);
        if (i + 1 < L) next += p(h, i, i + 1);
        self += p(h, i, i);
      }
    }
    return { cls: cls / (H * L), sep: sep / (H * L), previous: prev / (H * (L - 1)), next: next / (H * (L - 1)), self: self / (H * L) };
  });
  // R = Ã_last ⋯ Ã_1 as a full matrix.
  let R: number[][] = Array.from({ length: L }, (_, i) => Array.from({ length: L }, (_, j) => (i === j ? 1 : 0)));
  for (let l = 0; l < d.layers; l++) {
    const a = d.attentions[l]!;
    const M = Array.from({ length: L }, (_, i) => {
      const row = Array.from({ length: L }, (_, j) => {
        let s = 0;
        for (let h = 0; h < H; h++) s += a[(h * L + i) * L + j]!;
        return 0.5 * (s / H) + (i === j ? 0.5 : 0);
      });
      const sum = row.reduce((x, y) => x + y, 0);
      return row.map((v) => v / sum);
    });
    R = M.map((row) => R[0]!.map((_, j) => row.reduce((s, v, k) => s + v * R[k]![j]!, 0)));
  }
  const mean = R[0]!.map((_, j) => R.reduce((s, row) => s + row[j]!, 0) / L);
  return { layers, rolloutFirst: R[0]!, rolloutMean: mean };
}

test('summary: per-layer patterns and attention rollout match a direct computation', async (t) => {
  const view = await renderAttention(model, TEXT, { pair: PAIR });
  const got = summarizeAttention(view.data);
  const want = naiveSummary(view.data);
  // Float64 sums of the same float32 inputs in another order: 1e-12 is far below any float32 step.
  const close = (a: number | null, b: number, what: string) => t.true(a !== null && Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);
  got.layers.forEach((p, l) => {
    close(p.cls, want.layers[l]!.cls, `cls ${l}`);
    close(p.sep, want.layers[l]!.sep, `sep ${l}`);
    close(p.previous, want.layers[l]!.previous, `previous ${l}`);
    close(p.next, want.layers[l]!.next, `next ${l}`);
    close(p.self, want.layers[l]!.self, `self ${l}`);
  });
  got.rolloutFirst.forEach((v, j) => close(v, want.rolloutFirst[j]!, `rollout first ${j}`));
  got.rolloutMean.forEach((v, j) => close(v, want.rolloutMean[j]!, `rollout mean ${j}`));
  t.true(Math.abs(got.rolloutFirst.reduce((a, b) => a + b, 0) - 1) < 1e-9, 'rollout is a distribution');
});

test('summary of a hand-made input: all attention on the previous token', (t) => {
  const L = 4;
  const a = new Float32Array(L * L);
  for (let i = 0; i < L; i++) a[i * L + Math.max(0, i - 1)] = 1;
  const d = { length: L, heads: 1, layers: 1, special: [1, 0, 0, 1], attentions: [a] } as unknown as AttentionData;
  const s = summarizeAttention(d);
  t.is(s.layers[0]!.previous, 1);
  t.is(s.layers[0]!.next, 0);
  t.is(s.layers[0]!.cls, 2 / 4); // rows 0 and 1 attend to token 0
  t.is(s.layers[0]!.sep, 0);
  // Ã = ½A + ½I: token 0 keeps everything; rollout from token 0 is all on token 0.
  t.deepEqual(s.rolloutFirst, [1, 0, 0, 0]);
});

test('PNG grid and single head decode with the expected size and colours', async (t) => {
  const view = await renderAttention(model, 'hello world');
  const g = gridGeometry(view.data);
  const grid = decodePng(view.toPng());
  t.is(grid.width, g.width);
  t.is(grid.height, g.height);
  t.is(g.width, 4 * g.size + 5 * g.gap);
  t.is(g.height, 2 * g.size + 3 * g.gap);
  // Top-left pixel of layer 1, head 2 is p(token 0 → token 0) in the ramp colour.
  const p = view.data.attentions[1]![(2 * view.data.length + 0) * view.data.length + 0]!;
  const x = g.gap + 2 * (g.size + g.gap), y = g.gap + 1 * (g.size + g.gap);
  const k = rampIndex(p) * 3;
  t.deepEqual(Array.from(grid.rgb.subarray((y * g.width + x) * 3, (y * g.width + x) * 3 + 3)), [RAMP_LUT[k], RAMP_LUT[k + 1], RAMP_LUT[k + 2]]);
  t.deepEqual(Array.from(grid.rgb.subarray(0, 3)), [255, 255, 255], 'the gap is white');

  const one = decodePng(view.toPng({ layer: 1, head: 3 }));
  const cell = Math.floor(512 / view.data.length);
  t.is(one.width, cell * view.data.length);
  t.is(one.height, one.width);
  const L = view.data.length;
  for (const [i, j] of [[0, 0], [1, 3], [L - 1, 2]] as const) {
    const q = rampIndex(view.data.attentions[1]![(3 * L + i) * L + j]!) * 3;
    const o = ((i * cell + 1) * one.width + j * cell + 1) * 3;
    t.deepEqual(Array.from(one.rgb.subarray(o, o + 3)), [RAMP_LUT[q], RAMP_LUT[q + 1], RAMP_LUT[q + 2]], `cell ${i},${j}`);
  }
});

test('SVG grid: layers x heads embedded maps of the expected size; one head with token labels', async (t) => {
  const view = await renderAttention(model, 'hello <world> & "you"');
  const svg = view.svg;
  t.regex(svg, /^<\?xml/);
  const images = [...svg.matchAll(/<image x="[\d.]+" y="[\d.]+" width="(\d+)" height="(\d+)"[^>]*href="data:image\/png;base64,([^"]+)"/g)];
  t.is(images.length, 2 * 4);
  const g = gridGeometry(view.data);
  for (const m of images) {
    const png = decodePng(Buffer.from(m[3]!, 'base64'));
    t.is(png.width, g.size);
    t.is(Number(m[1]), g.size);
  }
  const [, w, h] = svg.match(/<svg [^>]*width="(\d+)" height="(\d+)"/)!;
  t.true(Number(w) > g.width && Number(h) > g.height);

  const one = view.toSvg({ layer: 0, head: 1 });
  t.is([...one.matchAll(/<image /g)].length, 1);
  for (const tok of view.tokens) t.true(one.includes(`>${tok.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')}</text>`), tok);
  t.false(one.includes('<world>'), 'tokens are escaped');
  t.throws(() => view.toSvg({ layer: 2, head: 0 }), { instanceOf: InvalidInputError, message: /layer must be an integer in \[0, 1\]/ });
  t.throws(() => view.toPng({ layer: 0, head: 4 }), { instanceOf: InvalidInputError, message: /head must be an integer in \[0, 3\]/ });
  t.throws(() => view.toPng({ layer: 0, head: 0, x: 1 } as never), { instanceOf: InvalidInputError, message: /unknown option "x"/ });
});

test('the page is self-contained: no external references, data island escaped', async (t) => {
  const view = await renderAttention(model, 'a </script><script>alert(1)</script> b');
  const html = view.html;
  t.notRegex(html, /\b(src|href)="(?!#|data:)/, 'no external src / href');
  t.notRegex(html, /https?:\/\//);
  t.notRegex(html, /@import|url\(/);
  t.regex(html, /Content-Security-Policy" content="default-src 'none'/);
  t.is(html.split('</script>').length - 1, 3, 'exactly the three script elements close');
  t.is((html.match(/<canvas class="mv-cell"/g) ?? []).length, 8);
});

test('bad input: empty and blank texts, too long, unknown options, no tokenizer', async (t) => {
  for (const text of ['', '   \n']) {
    await t.throwsAsync(renderAttention(model, text), { instanceOf: InvalidInputError, message: /text is empty/ });
  }
  await t.throwsAsync(renderAttention(model, 'ok', { pair: '' }), { instanceOf: InvalidInputError, message: /pair text is empty/ });
  await t.throwsAsync(renderAttention(model, 42 as never), { instanceOf: InvalidInputError, message: /must be a string/ });
  const long = Array.from({ length: 100 }, () => 'word').join(' ');
  const err = await t.throwsAsync(renderAttention(model, long), { instanceOf: InvalidInputError });
  t.regex(err!.message, /102 tokens long and this model takes at most 64/);
  t.regex(err!.message, /shorten the text by at least 38 tokens/);
  t.regex(err!.message, /--truncate/);
  const cut = await renderAttention(model, long, { truncate: true });
  t.is(cut.data.length, 64);
  t.true(cut.data.computed.truncated);
  t.is(cut.tokens.at(-1), '[SEP]');
  await t.throwsAsync(renderAttention(model, 'ok', { colour: 'red' } as never), { instanceOf: InvalidInputError, message: /unknown option "colour"/ });
  await t.throwsAsync(renderAttention(model, 'ok', { precision: 'int4' as never }), { instanceOf: InvalidInputError, message: /precision/ });
  const bare = await loadModel(fixture('tiny-bert-model'), { device: 'cpu', tokenizer: false });
  try {
    await t.throwsAsync(renderAttention(bare, 'ok'), { instanceOf: InvalidInputError, message: /no tokenizer/ });
    const withTok = await renderAttention(bare, 'ok', { tokenizer: model.tokenizer! });
    t.deepEqual(withTok.tokens, model.tokenizer!.encode('ok').tokens);
  } finally {
    await bare.dispose();
  }
});

test('writeFileAtomic: replaces a file whole; unwritable paths throw OutputFileError and leave nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bertkit-viz-'));
  try {
    const file = join(dir, 'out.html');
    await writeFile(file, 'old');
    await writeFileAtomic(file, 'new');
    t.is(await readFile(file, 'utf8'), 'new');
    await writeFile(join(dir, 'a-file'), '');
    const cases: [string, RegExp][] = [
      [join(dir, 'missing', 'x.html'), /folder does not exist/],
      [join(dir, 'a-file', 'x.html'), /is a file, not a folder/],
      [dir, /it is a folder/],
    ];
    for (const [path, message] of cases) {
      const err = await t.throwsAsync(writeFileAtomic(path, 'x'), { instanceOf: OutputFileError, message });
      t.is(err!.code, 'ERR_INVALID_INPUT');
      t.is((err as OutputFileError).file, path);
    }
    t.deepEqual((await readdir(dir)).sort(), ['a-file', 'out.html'], 'no temporary files left');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
