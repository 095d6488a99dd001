/**
 * The fuzz targets (fuzz/targets) as tests: each one over its seeds and over the inputs that once
 * broke it (fuzz/regressions/<target>/, one file per finding, kept after the fix). A target that
 * throws anything but a BertError, or breaks its round-trip checks, fails here.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { repoRoot } from './helpers/fixtures.js';

interface Target {
  fuzz(data: Buffer): void | Promise<void>;
  seeds?(): Buffer[];
  close?(): Promise<void>;
}

const targetsDir = join(repoRoot, 'fuzz', 'targets');
const names = readdirSync(targetsDir)
  .filter((f) => f.endsWith('.fuzz.ts'))
  .map((f) => f.replace(/\.fuzz\.ts$/, ''));

test('there is a fuzz target for every untrusted input', (t) => {
  t.deepEqual(names.sort(), ['cli-jsonl', 'config', 'encode', 'safetensors', 'safetensors-index', 'server-body', 'tokenizer-json', 'tokenizer-vocab', 'torch-bin']);
});

for (const name of names) {
  test.serial(`fuzz target ${name}: its seeds and past findings`, async (t) => {
    const target = (await import(pathToFileURL(join(targetsDir, `${name}.fuzz.ts`)).href)) as Target;
    if (target.close) t.teardown(() => target.close!());
    const inputs: [string, Buffer][] = (target.seeds?.() ?? []).map((b, i) => [`seed ${i}`, b]);
    const regressions = join(repoRoot, 'fuzz', 'regressions', name);
    if (existsSync(regressions)) for (const f of readdirSync(regressions)) inputs.push([f, readFileSync(join(regressions, f))]);
    t.true(inputs.length > 0);
    for (const [label, input] of inputs) {
      await t.notThrowsAsync(async () => target.fuzz(input), label);
    }
  });
}

test('the invariant: a BertError is an answer, any other exception a finding', async (t) => {
  const { typed, Finding } = await import('../fuzz/check.js');
  const { InvalidInputError } = await import('../src-ts/errors.js');
  t.is(
    typed(() => {
      throw new InvalidInputError('bad');
    }),
    undefined,
  );
  t.throws(
    () =>
      typed(() => {
        throw new TypeError('x is undefined');
      }),
    { instanceOf: Finding, message: /not a BertError: TypeError/ },
  );
});

test('every fuzz dictionary parses to words', async (t) => {
  const { parseDictionary } = await import('../fuzz/mutate.js');
  const dir = join(repoRoot, 'fuzz', 'dict');
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), 'utf8');
    const lines = text.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    t.is(parseDictionary(text).length, lines.length, f);
  }
});
