/** CLI plumbing in-process: the progress bar's line, input reading and batching, table output. */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { inBatches, readInputs, tableWriter, type Input } from '../src-ts/cli/io.js';
import { ProgressBar, formatBytes } from '../src-ts/cli/progress.js';
import { UsageError } from '../src-ts/cli/usage.js';

const tmp = mkdtempSync(join(tmpdir(), 'bertkit-cli-io-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

function fakeTerminal(isTTY: boolean) {
  const writes: string[] = [];
  return { isTTY, columns: 60, writes, write: (s: string) => writes.push(s) };
}

test('the progress bar draws on a terminal, throttled, and clears its line', (t) => {
  let now = 0;
  const term = fakeTerminal(true);
  const bar = new ProgressBar(term, 'downloading x', { unit: 'bytes', now: () => now });
  now = 2000;
  bar.update(5_000_000, 20_000_000);
  bar.update(6_000_000, 20_000_000); // within 100 ms: not drawn
  t.is(term.writes.length, 1);
  const line = term.writes[0]!;
  t.true(line.startsWith('\rdownloading x ['));
  t.regex(line, / 25% 5\.0 MB\/20\.0 MB 2\.5 MB\/s\x1b\[K$/);
  t.true(line.length - '\r\x1b[K'.length <= 59, 'fits the terminal');
  bar.finish();
  t.is(term.writes.at(-1), '\r\x1b[K');
  t.regex(new ProgressBar(term, 'embed', { now: () => 0 }).render(1234, undefined, 2000), /^embed 1,234 inputs 617\/s$/);
  t.is(formatBytes(999), '999 B');
  t.is(formatBytes(1_234_567_890), '1.2 GB');
});

test('no progress bar when stderr is not a terminal, or when disabled', (t) => {
  const pipe = fakeTerminal(false);
  new ProgressBar(pipe, 'x').update(1, 2, true);
  t.deepEqual(pipe.writes, []);
  const term = fakeTerminal(true);
  const quiet = new ProgressBar(term, 'x', { enabled: false });
  quiet.update(1, 2, true);
  quiet.finish();
  t.deepEqual(term.writes, []);
});

async function collect(src: Parameters<typeof readInputs>[0]) {
  const out = [];
  for await (const x of readInputs(src)) out.push(x);
  return out;
}

test('inputs: arguments, then files in order (text or JSON Lines by extension), stdin when nothing else', async (t) => {
  writeFileSync(join(tmp, 'a.txt'), 'one\n  \ntwo');
  writeFileSync(join(tmp, 'b.jsonl'), '{"text":"three"}\n\n"four"\n');
  const stdin = Readable.from(['five\nsix\n']);
  const got = await collect({ args: ['zero'], files: [join(tmp, 'a.txt'), join(tmp, 'b.jsonl')], format: undefined, stdin });
  t.deepEqual(
    got.map((x) => x.value),
    ['zero', 'one', 'two', { text: 'three' }, 'four'],
  );
  t.deepEqual(
    got.map((x) => x.where),
    ['argument 1', `${join(tmp, 'a.txt')}:1`, `${join(tmp, 'a.txt')}:3`, `${join(tmp, 'b.jsonl')}:1`, `${join(tmp, 'b.jsonl')}:3`],
  );
  const fromStdin = await collect({ args: [], files: [], format: undefined, stdin: Readable.from(['five\nsi', 'x\n']) });
  t.deepEqual(
    fromStdin.map((x) => x.value),
    ['five', 'six'],
  );
  const forced = await collect({ args: [], files: [join(tmp, 'b.jsonl')], format: 'text', stdin });
  t.deepEqual(forced[0]!.value, '{"text":"three"}');
  await t.throwsAsync(collect({ args: [], files: [join(tmp, 'a.txt')], format: 'jsonl', stdin }), { instanceOf: UsageError, message: /a\.txt:1: not JSON/ });
});

test('stdin is read as it comes: the first batch is out before the input ends', async (t) => {
  const stdin = new PassThrough();
  const batches = inBatches(readInputs({ args: [], files: [], format: 'text', stdin }), 2);
  stdin.write('a\nb\nc\n');
  const values = (r: IteratorResult<Input[], void>) => (r.value as Input[]).map((x) => x.value);
  t.deepEqual(
    values(await batches.next()),
    ['a', 'b'],
  );
  stdin.end('d\n');
  t.deepEqual(
    values(await batches.next()),
    ['c', 'd'],
  );
  t.true((await batches.next()).done);
});

test('tables: aligned columns, long cells cut with an ellipsis, numbers to the right', async (t) => {
  const sink = new PassThrough();
  let text = '';
  sink.on('data', (d: Buffer) => (text += d.toString()));
  const w = tableWriter(sink, [{ header: 'label', max: 8 }, { header: 'score', align: 'right' }], (r) => [(r as string[])[0]!, (r as string[])[1]!]);
  await w.write(['positive', '0.9']);
  await w.write(['a very long label', '0.0123']);
  await w.end();
  t.is(text, ['label      score', '--------  ------', 'positive     0.9', 'a very …  0.0123', ''].join('\n'));
});
