/** `bertkit attention`, run as users run it: every format, the numbers, and clear failures that leave no file. */
import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src-ts/index.js';
import { bertkit } from './helpers/cli.js';
import { fixture } from './helpers/fixtures.js';
import { decodePng } from './helpers/png.js';

const tmp = mkdtempSync(join(tmpdir(), 'bertkit-cli-attention-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const model = fixture('tiny-bert-model');
const TEXT = 'Where is the cat?';
const PAIR = 'On the mat.';

test('html: the text, the pair and the folder name of the model; only the output file is written', async (t) => {
  const dir = mkdtempSync(join(tmp, 'cwd-'));
  const r = await bertkit(['attention', '-m', model, TEXT, '--pair', PAIR, '-o', join(dir, 'attention.html')]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /wrote .*attention\.html \(html, \d+ tokens/);
  const html = readFileSync(join(dir, 'attention.html'), 'utf8');
  t.regex(html, /^<!DOCTYPE html>/);
  t.true(html.includes('<span id="model-name">tiny-bert-model</span>'));
  t.true(html.includes('Where is the cat?'));
  t.true(html.includes('On the mat.'));
  t.deepEqual(readdirSync(dir), ['attention.html']);
});

test('--format json: [layer][head][i][j] equal forward(..., { outputAttentions: true })', async (t) => {
  const out = join(tmp, 'a.json');
  const r = await bertkit(['attention', '-m', model, TEXT, '--pair', PAIR, '-o', out]);
  t.is(r.code, 0, r.stderr);
  const json = JSON.parse(readFileSync(out, 'utf8'));
  const m = await loadModel(model, { device: 'cpu' });
  try {
    const enc = m.tokenizer!.encode(TEXT, PAIR);
    const ids = Array.from(enc.ids);
    const ref = await m.forward({ inputIds: [ids], attentionMask: [ids.map(() => 1)], tokenTypeIds: [Array.from(enc.typeIds)] }, { outputAttentions: true });
    t.deepEqual(json.tokens, enc.tokens);
    t.deepEqual(json.tokenTypeIds, Array.from(enc.typeIds));
    const L = ids.length;
    const flat = (json.attentions as number[][][][]).map((layer) => layer.flat(2));
    for (let l = 0; l < ref.attentions!.length; l++) t.deepEqual(flat[l], Array.from(ref.attentions![l]!.data), `layer ${l}`);
    t.is(flat[0]!.length, 4 * L * L);
  } finally {
    await m.dispose();
  }
  // '-' writes to stdout.
  const stdout = await bertkit(['attention', '-m', model, TEXT, '--format', 'json', '-o', '-']);
  t.is(stdout.code, 0, stdout.stderr);
  t.is(JSON.parse(stdout.stdout).layers, 2);
});

test('--format png / svg: the grid and one --layer --head map decode with the expected size', async (t) => {
  const grid = join(tmp, 'grid.png');
  t.is((await bertkit(['attention', '-m', model, TEXT, '-o', grid])).code, 0);
  const png = decodePng(readFileSync(grid));
  const tokens = 7; // [CLS] where is the cat ? [SEP]
  const cell = Math.floor(96 / tokens);
  const size = cell * tokens;
  const gap = Math.max(2, Math.round(size / 16));
  t.is(png.width, 4 * size + 5 * gap);
  t.is(png.height, 2 * size + 3 * gap);

  const one = join(tmp, 'one.png');
  const r = await bertkit(['attention', '-m', model, TEXT, '-o', one, '--layer', '1', '--head', '3']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /7 tokens/);
  const head = decodePng(readFileSync(one));
  t.is(head.width, Math.floor(512 / tokens) * tokens);
  t.is(head.height, head.width);

  const svg = join(tmp, 'one.svg');
  t.is((await bertkit(['attention', '-m', model, TEXT, '--format', 'svg', '-o', svg, '--layer', '0', '--head', '0'])).code, 0);
  const text = readFileSync(svg, 'utf8');
  t.regex(text, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="\d+" height="\d+"/);
  t.true(text.includes('>cat</text>'));
});

test('bad input: empty text, too long, unwritable output: clear errors, exit 1, no file left', async (t) => {
  const dir = mkdtempSync(join(tmp, 'bad-'));
  const out = join(dir, 'x.html');
  const empty = await bertkit(['attention', '-m', model, '  ', '-o', out]);
  t.is(empty.code, 1);
  t.regex(empty.stderr, /InvalidInputError \(ERR_INVALID_INPUT\): the text is empty/);

  const long = await bertkit(['attention', '-m', model, Array.from({ length: 80 }, () => 'word').join(' '), '-o', out]);
  t.is(long.code, 1);
  t.regex(long.stderr, /82 tokens long and this model takes at most 64 .*shorten the text by at least 18 tokens.*--truncate/);
  const cut = await bertkit(['attention', '-m', model, Array.from({ length: 80 }, () => 'word').join(' '), '-o', join(dir, 'cut.json'), '--truncate']);
  t.is(cut.code, 0, cut.stderr);
  t.regex(cut.stderr, /truncated to 64 tokens/);
  t.is(JSON.parse(readFileSync(join(dir, 'cut.json'), 'utf8')).tokens.length, 64);

  const noFolder = await bertkit(['attention', '-m', model, TEXT, '-o', join(dir, 'missing', 'x.html')]);
  t.is(noFolder.code, 1);
  t.regex(noFolder.stderr, /OutputFileError \(ERR_INVALID_INPUT\): .*missing\/x\.html: cannot write the output: its folder .* does not exist/);
  writeFileSync(join(dir, 'a-file'), '');
  const underFile = await bertkit(['attention', '-m', model, TEXT, '-o', join(dir, 'a-file', 'x.html')]);
  t.is(underFile.code, 1);
  t.regex(underFile.stderr, /OutputFileError/);
  const aFolder = await bertkit(['attention', '-m', model, TEXT, '-o', dir]);
  t.is(aFolder.code, 1);
  t.regex(aFolder.stderr, /it is a folder/);
  t.deepEqual(readdirSync(dir).sort(), ['a-file', 'cut.json'], 'nothing partial left behind');
});

test('usage errors exit 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [['attention', '-m', model], /give the text to look at/],
    [['attention', '-m', model, 'a', 'b'], /one text only .*put the text in quotes/],
    [['attention', '-m', model, 'a', '--format', 'gif'], /--format must be one of html, svg, png, json/],
    [['attention', '-m', model, 'a', '--layer', '1'], /--layer and --head go together/],
    [['attention', '-m', model, 'a', '--layer', '1', '--head', '0', '--format', 'json'], /for --format svg or png/],
    [['attention', '-m', model, 'a', '--precision', 'uint16', '--format', 'svg'], /--precision is for --format html/],
    [['attention', 'a'], /--model ID\|DIR is required/],
  ];
  for (const [args, message] of cases) {
    const r = await bertkit(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, message);
  }
  const layer = await bertkit(['attention', '-m', model, 'a', '--layer', '5', '--head', '0', '-o', join(tmp, 'l.svg')]);
  t.is(layer.code, 1);
  t.regex(layer.stderr, /layer must be an integer in \[0, 1\]/);
});
