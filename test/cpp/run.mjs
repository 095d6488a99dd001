#!/usr/bin/env node
// Builds the engine's C++ tests with CMake (into build-cmake/, never build/Release) and runs
// them with CTest: every kernel against its scalar reference, once per ISA path.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const build = join(root, 'build-cmake');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error?.code === 'ENOENT') return 'missing';
  if (r.status !== 0) process.exit(r.status ?? 1);
  return 'ok';
}

if (run('cmake', ['-S', root, '-B', build, '-DCMAKE_BUILD_TYPE=Release', '--log-level=WARNING']) === 'missing') {
  console.error('C++ engine tests NOT RUN: cmake is not installed (apt install cmake); the JS tests still run.');
  process.exit(0);
}
run('cmake', ['--build', build, '--parallel', '2']);
run('ctest', ['--test-dir', build, '--output-on-failure']);
