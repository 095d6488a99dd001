#!/usr/bin/env node
// The engine's C++ tests under sanitizers (CMakePresets.json): `asan` builds them with
// -fsanitize=address,undefined into build-asan/, `tsan` with -fsanitize=thread into build-tsan/,
// then runs them with CTest. By default the CI subset: every kernel on every ISA path (ASan) and
// the training engine on the AVX-512 and AVX2 paths, which between them run every kernel and the
// thread pool; --all runs all six tests (the scalar training run is slow under a sanitizer).
//
//   node test/cpp/sanitize.mjs asan|tsan [--all]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const preset = process.argv[2];
if (preset !== 'asan' && preset !== 'tsan') {
  console.error('usage: node test/cpp/sanitize.mjs asan|tsan [--all]');
  process.exit(2);
}
const subset = { asan: '^(kernels_.*|train_avx512|train_avx2)$', tsan: '^(kernels_generic|kernels_avx512|train_avx512)$' }[preset];
const all = process.argv.includes('--all');

function run(cmd, args) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error?.code === 'ENOENT') {
    console.error(`sanitizer tests NOT RUN: ${cmd} is not installed`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
  return (Date.now() - t0) / 1000;
}

const configure = run('cmake', ['--preset', preset, '--log-level=WARNING']);
const build = run('cmake', ['--build', '--preset', preset, '--target', 'test_kernels', 'test_train']);
const tests = run('ctest', ['--preset', preset, ...(all ? [] : ['-R', subset])]);
console.log(`${preset}: configure ${configure.toFixed(0)} s, build ${build.toFixed(0)} s, tests ${tests.toFixed(0)} s`);
