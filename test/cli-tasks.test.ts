/**
 * The task commands (embed, classify, ner, qa, fill-mask, rerank) on fixture models, run as users
 * run them (node dist/cli/main.js): each prints what the library's pipeline gives for the same
 * inputs, in input order, as JSON Lines or a table.
 */
import test from 'ava';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from '../src-ts/pipelines/index.js';
import { bertkit, jsonLines } from './helpers/cli.js';
import { readSafetensors, writeSafetensors } from './helpers/fake-hub.js';
import { fixture } from './helpers/fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'bertkit-cli-tasks-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

function close(t: import('ava').ExecutionContext, a: number, b: number, what: string, tol = 1e-6) {
  t.true(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
}

/** tiny-bert-model with a one-output classifier: a cross-encoder (in a temporary folder). */
function crossEncoder(): string {
  const dir = join(tmp, 'cross-encoder');
  cpSync(fixture('tiny-bert-model'), dir, { recursive: true });
  const tensors = readSafetensors(readFileSync(join(dir, 'model.safetensors')));
  const w = new Float32Array(64).map((_, i) => Math.sin(i * 1.7) * 0.3);
  tensors.set('classifier.weight', { dtype: 'F32', shape: [1, 64], bytes: Buffer.from(w.buffer) });
  tensors.set('classifier.bias', { dtype: 'F32', shape: [1], bytes: Buffer.from(Float32Array.of(0.1).buffer) });
  rmSync(join(dir, 'model.safetensors'), { force: true });
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, architectures: ['BertForSequenceClassification'], id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } }));
  return dir;
}

test('embed: the pipeline vectors, one line per input across batches; pooling options; a table', async (t) => {
  const model = fixture('pipelines', 'st-tiny-bert-model-mean');
  const texts = ['the cat sat', 'on the mat', 'a', 'hello world', 'five'];
  const r = await bertkit(['embed', '-m', model, '--batch-size', '2', ...texts]);
  t.is(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout) as { text: string; embedding: number[] }[];
  t.deepEqual(
    lines.map((l) => l.text),
    texts,
  );
  await using embedder = await pipeline('sentence-embeddings', model, { device: 'cpu' });
  const expected = await embedder(texts);
  lines.forEach((l, i) => {
    t.is(l.embedding.length, 64);
    t.true(l.embedding.every((x, j) => Math.fround(x) === expected[i]![j]), `text ${i}: the float32 values exactly`);
  });

  const cls = jsonLines((await bertkit(['embed', '-m', model, '--pooling', 'cls', '--no-normalize', 'the cat sat'])).stdout) as { embedding: number[] }[];
  const plain = await embedder('the cat sat', { pooling: 'cls', normalize: false });
  t.true(cls[0]!.embedding.every((x, j) => Math.fround(x) === plain[j]));

  const table = await bertkit(['embed', '-m', model, '-f', 'table', 'the cat sat']);
  t.regex(table.stdout, /^text\s+dim\s+embedding\n-+\s+-+\s+-+\nthe cat sat\s+64\s+\[-?\d\.\d{4}, -?\d\.\d{4}, -?\d\.\d{4}, -?\d\.\d{4}, …\]\n$/);
  const bad = await bertkit(['embed', '-m', model, '--dtype', 'fp8', 'x']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /UnsupportedModelError \(ERR_UNSUPPORTED_MODEL\): .*fp8.*supported: float32/);
  t.is((await bertkit(['embed', '-m', model, '--pooling', 'median', 'x'])).code, 2);
});

test('classify: texts and pairs from stdin JSON Lines; --top-k all; a table', async (t) => {
  const model = fixture('tiny-bert-seqcls');
  const input = '"a great movie"\n{"text": "premise here", "text_pair": "hypothesis"}\n["first", "second"]\n';
  const r = await bertkit(['classify', '-m', model, '--input-format', 'jsonl', '--top-k', 'all'], { input });
  t.is(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout) as { text: string; text_pair?: string; label: string; score: number; labels: { label: string; score: number }[] }[];
  await using classifier = await pipeline('text-classification', model, { device: 'cpu' });
  const expected = (await classifier(['a great movie', { text: 'premise here', textPair: 'hypothesis' }, { text: 'first', textPair: 'second' }], { topK: null })) as {
    label: string;
    score: number;
  }[][];
  t.is(lines.length, 3);
  t.is(lines[1]!.text_pair, 'hypothesis');
  lines.forEach((l, i) => {
    t.deepEqual(l.labels, expected[i]);
    t.is(l.label, expected[i]![0]!.label);
    t.is(l.score, expected[i]![0]!.score);
  });
  const best = jsonLines((await bertkit(['classify', '-m', model, 'a great movie'])).stdout)[0] as Record<string, unknown>;
  t.deepEqual(Object.keys(best), ['text', 'label', 'score']);
  const table = await bertkit(['classify', '-m', model, '-f', 'table', 'a great movie']);
  t.regex(table.stdout.split('\n')[2]!, new RegExp(`^a great movie\\s+${expected[0]![0]!.label}\\s+0\\.\\d{4}$`));
});

test('ner: entities grouped by default, one table row per entity', async (t) => {
  const model = fixture('tiny-bert-tokcls');
  const texts = ['hello world the cat', 'my name is sarah'];
  const r = await bertkit(['ner', '-m', model, ...texts]);
  t.is(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout) as { text: string; entities: unknown[] }[];
  await using tagger = await pipeline('token-classification', model, { device: 'cpu' });
  t.deepEqual(
    lines.map((l) => l.entities),
    await tagger(texts, { aggregationStrategy: 'simple' }),
  );
  const tokens = jsonLines((await bertkit(['ner', '-m', model, '--aggregation', 'none', texts[0]!])).stdout)[0] as { entities: unknown[] };
  t.deepEqual(tokens.entities, await tagger(texts[0]!));

  const table = await bertkit(['ner', '-m', model, '-f', 'table', ...texts]);
  const rows = table.stdout.trim().split('\n').slice(2);
  t.is(rows.length, lines[0]!.entities.length + lines[1]!.entities.length);
  t.regex(rows[0]!, /^1\s+\w+\s+\S+\s+\d+\s+\d+\s+0\.\d{4}$/);
});

test('qa: questions about one --context, or JSON Lines with their own context', async (t) => {
  const model = fixture('tiny-bert-qa');
  const context = 'the cat sat on the mat while the dog slept';
  await using answerer = await pipeline('question-answering', model, { device: 'cpu' });
  const r = await bertkit(['qa', '-m', model, '--context', context, 'who sat?', 'where?']);
  t.is(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout) as { question: string; answer: string; score: number; start: number; end: number }[];
  const expected = (await answerer([
    { question: 'who sat?', context },
    { question: 'where?', context },
  ])) as { answer: string; score: number; start: number; end: number }[];
  lines.forEach((l, i) => t.deepEqual({ answer: l.answer, score: l.score, start: l.start, end: l.end }, { ...expected[i]! }));

  const input = `${JSON.stringify({ question: 'who slept?', context })}\n`;
  const withContext = await bertkit(['qa', '-m', model, '--top-k', '3'], { input });
  t.is(withContext.code, 0, withContext.stderr);
  const line = jsonLines(withContext.stdout)[0] as { context: string; answers: unknown[] };
  t.is(line.context, context);
  t.deepEqual(line.answers, await answerer({ question: 'who slept?', context }, { topK: 3 }));

  const noContext = await bertkit(['qa', '-m', model, 'who?']);
  t.is(noContext.code, 2);
  t.regex(noContext.stderr, /needs a context/);
});

test('fill-mask: the top tokens per input; a table row per prediction', async (t) => {
  const model = fixture('tiny-bert-mlm');
  const r = await bertkit(['fill-mask', '-m', model, 'the [MASK] sat on the mat', 'a [MASK] and a [MASK]']);
  t.is(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout) as { predictions: unknown[] }[];
  await using filler = await pipeline('fill-mask', model, { device: 'cpu' });
  t.deepEqual(lines[0]!.predictions, await filler('the [MASK] sat on the mat'));
  t.deepEqual(lines[1]!.predictions, await filler('a [MASK] and a [MASK]'), 'a list per mask');
  const table = await bertkit(['fill-mask', '-m', model, '--top-k', '3', '-f', 'table', 'the [MASK] sat']);
  t.is(table.stdout.trim().split('\n').length, 2 + 3);
});

test('rerank: documents ranked for --query; JSON Lines queries ranked one by one', async (t) => {
  const model = crossEncoder();
  const docs = ['the cat sat on the mat', 'stock markets fell', 'a cat and a dog', 'weather today'];
  const r = await bertkit(['rerank', '-m', model, '--query', 'where is the cat', ...docs]);
  t.is(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout) as { rank: number; index: number; score: number; text: string }[];
  await using ranker = await pipeline('rerank', model, { device: 'cpu' });
  const expected = await ranker('where is the cat', docs);
  t.deepEqual(
    lines.map((l) => [l.index, l.score]),
    expected.map((e) => [e.corpusId, e.score]),
  );
  t.deepEqual(
    lines.map((l) => l.rank),
    [1, 2, 3, 4],
  );
  t.true(lines.every((l) => l.text === docs[l.index]));

  const input = `${JSON.stringify({ query: 'where is the cat', documents: docs })}\n${JSON.stringify({ query: 'markets', documents: docs.slice(0, 2) })}\n`;
  const j = await bertkit(['rerank', '-m', model, '--top-k', '2'], { input });
  t.is(j.code, 0, j.stderr);
  const [first, second] = jsonLines(j.stdout) as { query: string; results: { index: number; score: number }[] }[];
  t.deepEqual(
    first!.results.map((x) => x.index),
    expected.slice(0, 2).map((e) => e.corpusId),
  );
  t.is(second!.query, 'markets');
  t.is(second!.results.length, 2);
  close(t, first!.results[0]!.score, expected[0]!.score, 'score');
});

test('one over-long line does not end the stream: good lines print, the bad one is an error record with its line, exit 1; --truncate cuts it', async (t) => {
  const model = fixture('tiny-bert-seqcls');
  const long = 'she '.repeat(100).trim();
  const lines = ['good one', 'good two', long, ...Array.from({ length: 40 }, (_, i) => `good line ${i}`), long, 'last one'];
  const r = await bertkit(['classify', '-m', model, '-q', '--threads', '1'], { input: `${lines.join('\n')}\n` });
  t.is(r.code, 1, r.stderr);
  const out = jsonLines(r.stdout) as { text?: string; label?: string; input?: string; error?: { code: string; message: string } }[];
  t.is(out.length, lines.length, 'one record per input line, in order');
  t.deepEqual(out.filter((o) => o.error).map((o) => o.input), ['stdin:3', 'stdin:44']);
  t.is(out[2]!.error!.code, 'ERR_INVALID_INPUT');
  t.regex(out[2]!.error!.message, /has 102 tokens.*--truncate/);
  t.notRegex(out[2]!.error!.message, /input \d+ has/);
  t.is(out.at(-1)!.text, 'last one');
  t.truthy(out[3]!.label);
  t.regex(r.stderr, /stdin:44/);
  t.regex(r.stderr, /2 of 45 inputs failed/);
  const cut = await bertkit(['classify', '-m', model, '-q', '--threads', '1', '--truncate'], { input: `${lines.join('\n')}\n` });
  t.is(cut.code, 0, cut.stderr);
  t.true((jsonLines(cut.stdout) as { label?: string }[]).every((o) => typeof o.label === 'string'));
  const fill = await bertkit(['fill-mask', '-m', fixture('tiny-bert-mlm'), '-q', '--threads', '1', '--truncate'], { input: `the [MASK] ${long}\n` });
  t.is(fill.code, 0, fill.stderr);
});

test('a slow pipe streams: a partial batch is answered without waiting for --batch-size lines', async (t) => {
  const { spawn } = await import('node:child_process');
  const { cliPath, cleanEnv } = await import('./helpers/cli.js');
  const child = spawn(process.execPath, [cliPath, 'classify', '-m', fixture('tiny-bert-seqcls'), '-q', '--threads', '1'], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const firstTwo = new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.split('\n').length > 2) resolve();
    });
  });
  child.stdin.write('good one\ngood two\n');
  await firstTwo; // would wait forever (the test's timeout) if the batch of 32 were awaited
  child.stdin.end('good three\n');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0);
  t.is(jsonLines(out).length, 3);
});

test('rough edges: fill-mask --top-k all, one table row per label with --top-k, rerank -q is --query, unknown flags suggest the one meant', async (t) => {
  const all = await bertkit(['fill-mask', '-m', fixture('tiny-bert-mlm'), '-q', '--threads', '1', '--top-k', 'all', 'the [MASK] sat']);
  t.is(all.code, 0, all.stderr);
  const vocab = JSON.parse(readFileSync(join(fixture('tiny-bert-mlm'), 'config.json'), 'utf8')).vocab_size;
  t.is((jsonLines(all.stdout)[0] as { predictions: unknown[] }).predictions.length, vocab);
  const table = await bertkit(['classify', '-m', fixture('tiny-bert-seqcls'), '-q', '--threads', '1', '--top-k', '2', '-f', 'table', 'a great movie']);
  t.is(table.code, 0, table.stderr);
  t.is(table.stdout.trim().split('\n').length, 4, 'header, rule and two label rows');
  const help = await bertkit(['rerank', '--help']);
  t.regex(help.stdout, /-q, --query/);
  t.notRegex(help.stdout, /-q, --quiet/);
  const bad = await bertkit(['fill-mask', '-m', fixture('tiny-bert-mlm'), '--top_k', '2', 'x']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /unknown option --top_k; did you mean --top-k\?/);
  const camel = await bertkit(['classify', '-m', fixture('tiny-bert-seqcls'), '--topK', '2', 'x']);
  t.regex(camel.stderr, /did you mean --top-k\?/);
});
