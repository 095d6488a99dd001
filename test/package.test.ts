/** The package as users get it: the built entry points, ESM and require(), and its typings. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './helpers/fixtures.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the built package has its entry point and typings', (t) => {
  t.true(existsSync(join(repoRoot, pkg.exports['.'].default)), 'dist/index.js (npm run build:ts)');
  t.true(existsSync(join(repoRoot, pkg.exports['.'].types)));
});

test('import("bertkit") and require("bertkit") both work (CommonJS through require(esm))', (t) => {
  const esm = node(['--input-type=module', '-e', "const b = await import('bertkit'); console.log(typeof b.loadModel, typeof b.BertError, b.cpuInfo().isa)"]);
  t.is(esm.status, 0, esm.stderr);
  t.regex(esm.stdout, /^function function (avx512|avx2|generic)/);
  const cjs = node(['--no-warnings', '-e', "const b = require('bertkit'); console.log(typeof b.loadModel, typeof b.createModel)"]);
  t.is(cjs.status, 0, cjs.stderr);
  t.is(cjs.stdout.trim(), 'function function');
});

test("a user's TypeScript project compiles against dist/ without @types/node, and a string in gives the single shape out", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bertkit-consumer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(repoRoot, join(dir, 'node_modules', 'bertkit'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  // No @types/node (types: [], and no node_modules/@types beside it), no DOM library, full checking of dist/*.d.ts.
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [], lib: ['ES2023'], skipLibCheck: false }, files: ['main.ts'] }),
  );
  writeFileSync(
    join(dir, 'main.ts'),
    [
      "import { loadModel, loadTokenizer, pipeline, createBatcher, type Answer, type EntityGroup, type FillMaskResult, type TokenEntity } from 'bertkit';",
      "const fill = await pipeline('fill-mask', 'dir');",
      "const one: FillMaskResult[] = await fill('a [MASK]');",
      "const two: FillMaskResult[][] = await fill('[MASK] and [MASK]');",
      '// @ts-expect-error one mask is not a list per mask',
      "const wrong: FillMaskResult[][] = await fill('a [MASK]');",
      "const qa = await pipeline('question-answering', 'dir');",
      "const answer: Answer = await qa({ question: 'q', context: 'c' });",
      "const answers: (Answer | Answer[])[] = await qa([{ question: 'q', context: 'c' }], { topK: 3 });",
      "const ner = await pipeline('ner', 'dir');",
      "const groups: EntityGroup[] = await ner('x', { aggregationStrategy: 'simple' });",
      "const tokens: TokenEntity[] = await ner('x');",
      "const model = await loadModel('dir');",
      'const batcher = createBatcher(model);',
      "const v: Float32Array = await batcher.embed('x', { timeoutMs: 1000 });",
      "const tok = await loadTokenizer('dir');",
      "const ids: number | undefined = tok.maskTokenId;",
      'await batcher.close();',
      'await model.dispose();',
      'void [one, two, wrong, answer, answers, groups, tokens, v, ids];',
      '',
    ].join('\n'),
  );
  const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, encoding: 'utf8' });
  t.is(r.status, 0, r.stdout + r.stderr);
});
