/**
 * The bertkit CLI, run as users run it (node dist/cli/main.js in a child process): help and
 * usage errors, tokenize, download (against a fake Hub), offline use, and bench.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../src-ts/index.js';
import { bertkit, cleanEnv, jsonLines } from './helpers/cli.js';
import { repoFromFolder, startFakeHub } from './helpers/fake-hub.js';
import { fixture } from './helpers/fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'bertkit-cli-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const model = fixture('tiny-bert-model');

test('help lists every command; usage errors exit 2 with a pointer to --help', async (t) => {
  const help = await bertkit(['--help']);
  t.is(help.code, 0);
  for (const c of ['tokenize', 'download', 'bench']) t.regex(help.stdout, new RegExp(`^  ${c} `, 'm'));
  const sub = await bertkit(['tokenize', '--help']);
  t.is(sub.code, 0);
  t.regex(sub.stdout, /--max-length N/);
  t.regex(sub.stdout, /-m, --model ID\|DIR/);

  const none = await bertkit([]);
  t.is(none.code, 2);
  t.regex(none.stderr, /^Usage: bertkit <command>/m);
  const unknown = await bertkit(['frobnicate']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown command "frobnicate"/);
  const badOption = await bertkit(['tokenize', '--model', model, '--bogus', 'x']);
  t.is(badOption.code, 2);
  t.regex(badOption.stderr, /--bogus[\s\S]*see bertkit tokenize --help/);
  const noModel = await bertkit(['tokenize', 'x']);
  t.is(noModel.code, 2);
  t.regex(noModel.stderr, /--model ID\|DIR is required/);
  t.is((await bertkit(['--version'])).stdout.trim(), '0.1.0');
});

test('tokenize: arguments in, JSON Lines out, as the library tokenizes', async (t) => {
  const r = await bertkit(['tokenize', '--model', model, 'Hello, world!', 'unaffable runs']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '', 'no progress bar when stderr is not a terminal');
  const tok = await loadTokenizer(model);
  const lines = jsonLines(r.stdout) as { text: string; tokens: string[]; ids: number[]; offsets: [number, number][] }[];
  t.deepEqual(
    lines.map((l) => l.text),
    ['Hello, world!', 'unaffable runs'],
  );
  for (const l of lines) {
    const e = tok.encode(l.text);
    t.deepEqual(l.tokens, e.tokens);
    t.deepEqual(l.ids, Array.from(e.ids));
    t.deepEqual(l.offsets, e.offsets);
  }
});

test('tokenize: text lines from a file, JSON Lines pairs from stdin, options, a table', async (t) => {
  const file = join(tmp, 'lines.txt');
  writeFileSync(file, '\ufefffirst line\n\nsecond line\r\n');
  const fromFile = jsonLines((await bertkit(['tokenize', '-m', model, '-i', file, '--no-special-tokens'])).stdout) as { tokens: string[] }[];
  t.is(fromFile.length, 2, 'the blank line is not an input');
  t.deepEqual(fromFile[0]!.tokens, ['first', 'line']);

  const stdin = '{"text": "a question", "text_pair": "an answer"}\n["one", "two"]\n"just text"\n';
  const r = await bertkit(['tokenize', '-m', model, '--input-format', 'jsonl', '--max-length', '5'], { input: stdin });
  t.is(r.code, 0, r.stderr);
  const rows = jsonLines(r.stdout) as { text: string; text_pair?: string; ids: number[]; typeIds: number[] }[];
  t.is(rows.length, 3);
  t.is(rows[0]!.text_pair, 'an answer');
  t.true(rows.every((x) => x.ids.length <= 5));
  t.deepEqual(rows[1]!.typeIds.slice(-2), [1, 1]);

  const table = await bertkit(['tokenize', '-m', model, '--format', 'table', 'hello world']);
  const [header, rule, row] = table.stdout.split('\n');
  t.regex(header!, /^text\s+tokens\s+ids\s+n$/);
  t.regex(rule!, /^-+ +-+/);
  t.regex(row!, /^hello world\s+\[CLS\] .* \[SEP\]\s+101 .* 102\s+\d+$/);
});

test('bad inputs: a missing file and broken JSON Lines are usage errors, a bad model a typed error', async (t) => {
  const missing = await bertkit(['tokenize', '-m', model, '-i', join(tmp, 'nope.txt')]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /cannot read .*nope\.txt: ENOENT/);
  const broken = await bertkit(['tokenize', '-m', model, '--input-format', 'jsonl'], { input: '"ok"\n{not json\n' });
  t.is(broken.code, 2);
  t.regex(broken.stderr, /stdin:2: not JSON/);
  const wrongShape = await bertkit(['tokenize', '-m', model, '--input-format', 'jsonl'], { input: '{"txt": "x"}\n' });
  t.regex(wrongShape.stderr, /stdin:1: needs a string "text"/);
  const badModel = await bertkit(['tokenize', '-m', './no/such/model', 'x']);
  t.is(badModel.code, 1);
  t.regex(badModel.stderr, /InvalidInputError \(ERR_INVALID_INPUT\): .*no such folder/);
});

test('download from the Hub, then every command works offline', async (t) => {
  const hub = await startFakeHub([{ id: 'test-org/tiny-bert', files: repoFromFolder(model) }]);
  t.teardown(() => hub.close());
  const cache = join(tmp, 'hf-cache');
  const env = cleanEnv({ HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HOME: join(tmp, 'hf-home') });
  const r = await bertkit(['download', 'test-org/tiny-bert'], { env });
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  const [line] = jsonLines(r.stdout) as { model: string; revision: string; path: string }[];
  t.is(line!.model, 'test-org/tiny-bert');
  t.is(line!.path, join(cache, 'models--test-org--tiny-bert', 'snapshots', hub.commitOf('test-org/tiny-bert')));

  // Offline, with the Hub gone: the cache serves the model.
  await hub.close();
  const offline = { ...env, HF_HUB_OFFLINE: '1' };
  const tok = await bertkit(['tokenize', '-m', 'test-org/tiny-bert', 'world'], { env: offline });
  t.is(tok.code, 0, tok.stderr);
  t.deepEqual((jsonLines(tok.stdout)[0] as { tokens: string[] }).tokens, ['[CLS]', 'world', '[SEP]']);
  const b = await bertkit(['bench', '-m', 'test-org/tiny-bert', '--shapes', '2x8', '--repeats', '1', '--json'], { env: offline });
  t.is(b.code, 0, b.stderr);
  t.regex((JSON.parse(b.stdout) as { model: string }).model, /^test-org\/tiny-bert \(BertModel, 2 layers, hidden 64\)/);
  const missing = await bertkit(['tokenize', '-m', 'test-org/other', 'x'], { env: offline });
  t.is(missing.code, 1);
  t.regex(missing.stderr, /InvalidFileError .*not in the Hugging Face cache/);
});

test('bench: the built-in BERT-base-shaped model, offline and with no model folder', async (t) => {
  const r = await bertkit(['bench', '--shapes', '1x8', '--repeats', '1', '--json'], { env: cleanEnv({ HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' }) });
  t.is(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { model: string; threads: number; results: { shape: string; p50_ms: number; tokens_per_s: number }[] };
  t.is(summary.model, 'BERT-base shape (12 layers, hidden 768), random weights, fp32');
  t.is(summary.results.length, 1);
  t.is(summary.results[0]!.shape, '1x8');
  t.true(summary.results[0]!.p50_ms > 0 && summary.results[0]!.tokens_per_s > 0);
});

test('bench --model-type: the built-in model of another family (ALBERT: its shared layer at every depth)', async (t) => {
  const r = await bertkit(['bench', '--model-type', 'albert', '--layers', '2', '--hidden', '64', '--heads', '2', '--intermediate', '128', '--shapes', '1x8', '--repeats', '1', '--json']);
  t.is(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { model: string; results: { shape: string }[] };
  t.regex(summary.model, /^ALBERT-base shape \(2 layers, hidden 64\), random weights/);
  t.is(summary.results[0]!.shape, '1x8');
  const bad = await bertkit(['bench', '--model-type', 'gpt2']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--model-type takes one of bert, distilbert, roberta, xlm-roberta, camembert, albert, electra/);
});

test('bench: a model folder as a table; sequences cut to the model limit; option errors', async (t) => {
  const r = await bertkit(['bench', '--model', fixture('tiny-bert-seqcls'), '--batch-size', '2', '--seq-len', '1000', '--repeats', '2']);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[0]!, /tiny-bert-seqcls \(BertForSequenceClassification, 2 layers, hidden 64\), fp32; .* threads, kernels \w+; load \d+ ms/);
  t.regex(lines[1]!, /^shape +p50 ms +min ms +tokens\/s +seq\/s +GFLOP\/s$/);
  t.regex(lines[2]!, /^2x64 +[\d.]+ +[\d.]+ +\d+ +[\d.]+ +\d+$/);
  t.is(lines.length, 3);
  const bad = await bertkit(['bench', '--shapes', '8by128']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--shapes takes BATCHxSEQ/);
  // int8 runs where the CPU has VNNI; elsewhere the model says why it computes in float32.
  const int8 = await bertkit(['bench', '--model', model, '--dtype', 'int8', '--shapes', '1x8', '--repeats', '1', '--json']);
  t.is(int8.code, 0, int8.stderr);
  const s = JSON.parse(int8.stdout) as { dtype: string; model: string };
  t.true(s.dtype === 'int8' ? s.model.endsWith(', int8') : /fp32 \(int8 not used: .+\)$/.test(s.model), s.model);
  const dtype = await bertkit(['bench', '--model', model, '--dtype', 'fp8']);
  t.is(dtype.code, 1);
  t.regex(dtype.stderr, /UnsupportedModelError .*fp8/);
  t.is((await bertkit(['bench', '--layers', '2', '--model', model])).code, 2);
});
