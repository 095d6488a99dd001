/** The package as users get it: the built entry points, ESM and require(), and its typings. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
