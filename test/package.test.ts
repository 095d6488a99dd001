/** The package as users get it: the built entry points, ESM and require(), and its typings. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

test('import("bertkit") compiles the errors, config and constants only; the rest loads on first use, the same objects', async (t) => {
  // Which files the import reads (a loader hook sees import, not the require() of the first use).
  const child = node([
    '--input-type=module',
    '-e',
    `import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const seen = [];
port1.on('message', (u) => seen.push(u));
port1.unref();
register('data:text/javascript,' + encodeURIComponent('let port; export function initialize(d) { port = d.port; } export async function load(url, context, next) { if (url.startsWith("file:")) port.postMessage(url); return next(url, context); }'), { data: { port: port2 }, transferList: [port2] });
const b = await import('bertkit');
await new Promise((r) => setTimeout(r, 100));
const tok = await b.loadTokenizer('test/fixtures/tiny-bert-model');
const enc = tok.encode('hello world');
let thrown;
try { await b.loadModel('/nonexistent/folder'); } catch (e) { thrown = e; }
class MyTokenizer extends b.Tokenizer {}
console.log(JSON.stringify({
  atImport: seen,
  names: Object.keys(b),
  tokenizer: tok instanceof b.Tokenizer && enc instanceof b.Encoding && !(enc instanceof b.Tokenizer),
  tokens: enc.tokens,
  error: thrown instanceof b.InvalidInputError && thrown instanceof b.BertError && thrown.code,
  subclass: Object.getPrototypeOf(MyTokenizer.prototype) === b.Tokenizer.prototype,
  rng: new b.Rng(7) instanceof b.Rng,
  tasks: b.PIPELINE_TASKS,
}));`,
  ]);
  t.is(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout);
  const dist = pathToFileURL(join(repoRoot, 'dist')).href;
  const files = (r.atImport as string[]).filter((u) => u.startsWith(dist)).map((u) => fileURLToPath(u));
  t.true(files.includes(join(repoRoot, 'dist', 'chunks', 'eager.js')), files.join(', '));
  t.false(files.includes(join(repoRoot, 'dist', 'chunks', 'bertkit.js')));
  const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  t.true(bytes < 100_000, `the import reads ${bytes} bytes of JavaScript (${files.length} files)`);
  const library = await import('../src-ts/index.js');
  t.deepEqual([...r.names].sort(), Object.keys(library).sort(), 'the entry exports what src-ts/index.ts does');
  t.true(r.tokenizer);
  t.deepEqual(r.tokens, (await library.loadTokenizer(join(repoRoot, 'test', 'fixtures', 'tiny-bert-model'))).encode('hello world').tokens);
  t.is(r.error, 'ERR_INVALID_INPUT', 'an error from the library is an instance of the entry\'s error classes');
  t.true(r.subclass);
  t.true(r.rng);
  t.deepEqual(r.tasks, [...library.PIPELINE_TASKS]);
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
