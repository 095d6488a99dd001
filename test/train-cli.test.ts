/** `bertkit finetune` and `bertkit pretrain` end to end (the built CLI in a child process). */
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadModel, loadTokenizer } from '../src-ts/index.js';
import { bertkit, jsonLines } from './helpers/cli.js';
import { fixture } from './helpers/fixtures.js';

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bertkit-train-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const WORDS = ['government', 'black', 'free', 'states', 'together', 'such', 'slow', 'quite', 'much', 'knew', 'through', 'this'];

test('finetune: classification from JSON Lines, evaluation lines on stdout, model + checkpoint + loss.svg', async (t) => {
  const dir = await tmp(t);
  const rows = (n: number, seed: number) =>
    Array.from({ length: n }, (_, i) => {
      const a = WORDS[(i * 7 + seed) % WORDS.length]!;
      const b = WORDS[(i * 5 + seed * 3) % WORDS.length]!;
      return JSON.stringify({ text: `${a} ${b} ${a}`, label: i % 2 ? 'yes' : 'no' });
    }).join('\n');
  await writeFile(join(dir, 'train.jsonl'), rows(24, 1));
  await writeFile(join(dir, 'dev.jsonl'), rows(8, 2));
  const out = join(dir, 'out');
  const r = await bertkit([
    'finetune', '-m', fixture('tiny-bert-seqcls'), '--task', 'text-classification', '--train', join(dir, 'train.jsonl'),
    '--eval', join(dir, 'dev.jsonl'), '--epochs', '2', '--batch-size', '8', '--lr', '1e-4', '--threads', '1', '-o', out, '-q',
  ]);
  t.is(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout) as { step: number; eval: Record<string, number> }[];
  t.is(lines.length, 2, 'one evaluation per epoch');
  t.is(lines[1]!.step, 6);
  t.true(typeof lines[0]!.eval.accuracy === 'number' && typeof lines[0]!.eval.eval_loss === 'number');
  const files = await readdir(out);
  for (const f of ['config.json', 'model.safetensors', 'loss.svg', 'log.jsonl', 'vocab.txt']) t.true(files.includes(f), f);
  t.true(files.some((f) => f.startsWith('checkpoint-')));
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  t.deepEqual(config.id2label, { 0: 'no', 1: 'yes' });
  const model = await loadModel(out, { threads: 1, device: 'cpu' });
  t.is(model.architecture, 'BertForSequenceClassification');
  await model.dispose();
});

test('pretrain: MLM + NSP from a corpus, a new small model with a tokenizer vocabulary', async (t) => {
  const dir = await tmp(t);
  const doc = (d: number) => Array.from({ length: 4 }, (_, s) => Array.from({ length: 6 }, (_, w) => WORDS[(d * 3 + s * 5 + w) % WORDS.length]).join(' ')).join('\n');
  await writeFile(join(dir, 'corpus.txt'), Array.from({ length: 12 }, (_, d) => doc(d)).join('\n\n'));
  const out = join(dir, 'out');
  const r = await bertkit([
    'pretrain', '--tokenizer', fixture('tiny-bert-mlm'), '--corpus', join(dir, 'corpus.txt'), '--layers', '1', '--hidden', '32', '--heads', '2',
    '--max-steps', '4', '--batch-size', '4', '--max-length', '32', '--eval-fraction', '0.2', '--threads', '1', '-o', out, '-q', '-f', 'jsonl',
  ]);
  t.is(r.code, 0, r.stderr);
  const last = jsonLines(r.stdout).at(-1) as { eval: Record<string, number> };
  t.true(Number.isFinite(last.eval.eval_loss!) && Number.isFinite(last.eval.mlm_accuracy!));
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  t.deepEqual(config.architectures, ['BertForPreTraining']);
  t.is(config.hidden_size, 32);
});

test('finetune / pretrain: usage errors exit with 2', async (t) => {
  const r = await bertkit(['finetune', '--task', 'nope', '-m', fixture('tiny-bert-seqcls')]);
  t.is(r.code, 2);
  t.regex(r.stderr, /--task must be one of/);
  const p = await bertkit(['pretrain', '--corpus', 'x.txt', '-o', 'y']);
  t.is(p.code, 2);
  t.regex(p.stderr, /--model or --tokenizer/);
});

test('finetune --max-steps: the last line has the epoch reached (as log.jsonl), not the --epochs asked for; a used --output needs --overwrite', async (t) => {
  const dir = await tmp(t);
  const rows = Array.from({ length: 52 }, (_, i) => JSON.stringify({ text: `${WORDS[i % WORDS.length]} ${WORDS[(i * 5) % WORDS.length]}`, label: i % 2 ? 'yes' : 'no' }));
  await writeFile(join(dir, 'train.jsonl'), rows.join('\n'));
  const out = join(dir, 'out');
  const args = ['finetune', '-m', fixture('tiny-bert-seqcls'), '--task', 'classify', '--train', join(dir, 'train.jsonl'), '--max-steps', '3', '--batch-size', '4', '--threads', '1', '-o', out, '-q', '-f', 'jsonl'];
  const r = await bertkit(args);
  t.is(r.code, 0, r.stderr);
  const last = jsonLines(r.stdout).at(-1) as { step: number; epoch: number };
  const logged = jsonLines(await readFile(join(out, 'log.jsonl'), 'utf8')).at(-1) as { epoch: number };
  t.is(last.step, 3);
  t.is(last.epoch, logged.epoch);
  t.true(last.epoch < 1, `epoch ${last.epoch}: 3 steps of 4 out of 52 examples`);
  // Training again into the same folder: refused, then allowed with --overwrite (old checkpoints go).
  await writeFile(join(out, 'marker'), '');
  const again = await bertkit(args);
  t.is(again.code, 2);
  t.regex(again.stderr, /checkpoint-3.*--overwrite/);
  const over = await bertkit([...args.filter((a) => a !== '--max-steps' && a !== '3'), '--max-steps', '2', '--overwrite']);
  t.is(over.code, 0, over.stderr);
  t.deepEqual((await readdir(out)).filter((f) => f.startsWith('checkpoint-')), ['checkpoint-2']);
});

test('pretrain --tokenizer with do_lower_case: false saves a model whose tokenizer keeps case', async (t) => {
  const dir = await tmp(t);
  const tokDir = join(dir, 'tok');
  await cp(fixture('tiny-bert-mlm'), tokDir, { recursive: true });
  await rm(join(tokDir, 'tokenizer.json'), { force: true });
  const cfg = JSON.parse(await readFile(join(tokDir, 'tokenizer_config.json'), 'utf8'));
  await writeFile(join(tokDir, 'tokenizer_config.json'), JSON.stringify({ ...cfg, do_lower_case: false }));
  await writeFile(join(tokDir, 'vocab.txt'), `${(await readFile(join(tokDir, 'vocab.txt'), 'utf8')).trimEnd()}\nHello\n`);
  const doc = (d: number) => Array.from({ length: 4 }, (_, s) => Array.from({ length: 6 }, (_, w) => WORDS[(d * 3 + s * 5 + w) % WORDS.length]).join(' ')).join('\n');
  await writeFile(join(dir, 'corpus.txt'), Array.from({ length: 6 }, (_, d) => doc(d)).join('\n\n'));
  const out = join(dir, 'out');
  const r = await bertkit([
    'pretrain', '--tokenizer', tokDir, '--corpus', join(dir, 'corpus.txt'), '--layers', '1', '--hidden', '32', '--heads', '2',
    '--max-steps', '1', '--batch-size', '4', '--max-length', '32', '--threads', '1', '-o', out, '-q', '-f', 'jsonl',
  ]);
  t.is(r.code, 0, r.stderr);
  const saved = await loadTokenizer(out);
  t.deepEqual(saved.encode('Hello').tokens, ['[CLS]', 'Hello', '[SEP]']);
  t.is(await readFile(join(out, 'tokenizer_config.json'), 'utf8'), await readFile(join(tokDir, 'tokenizer_config.json'), 'utf8'));
});
