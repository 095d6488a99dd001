#!/usr/bin/env node
// Builds the engine's C++ tests with CMake (into build-cmake/, never build/Release) and runs
// them with CTest: every kernel against its scalar reference, once per ISA path.
//
// CUDA: where nvcc is present, the CUDA backend is built too — its C++ tests (test_cuda: the
// probe must answer without crashing; kernels and parity skip without a device) and the CUDA
// addon build-cmake/bertkit_cuda.node that test/cuda-backend.test.ts loads — so CI compiles the
// CUDA code once. Tests compile for one virtual architecture (PTX only: no ptxas, the quickest
// build; a GPU's driver compiles it at load); BERTKIT_TEST_CUDA_ARCHITECTURES overrides it (e.g.
// 90-real on an H100), BERTKIT_TEST_CUDA=0 leaves CUDA out.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const build = join(root, 'build-cmake');
const require = createRequire(import.meta.url);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error?.code === 'ENOENT') return 'missing';
  if (r.status !== 0) process.exit(r.status ?? 1);
  return 'ok';
}

function hasNvcc() {
  if (process.env.CUDACXX && existsSync(process.env.CUDACXX)) return true;
  if (existsSync('/usr/local/cuda/bin/nvcc')) return true;
  const r = spawnSync('nvcc', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

const cudaArgs = ['-DBERTKIT_CUDA=OFF'];
if (process.env.BERTKIT_TEST_CUDA !== '0' && hasNvcc()) {
  const archs = process.env.BERTKIT_TEST_CUDA_ARCHITECTURES || '80-virtual';
  const inc = [require('node-api-headers').include_dir, dirname(require.resolve('node-addon-api/napi.h'))];
  cudaArgs.splice(0, 1, '-DBERTKIT_CUDA=ON', `-DBERTKIT_CUDA_ARCHITECTURES=${archs}`, `-DBERTKIT_NODE_API_INC=${inc.join(';')}`);
  console.log(`C++ tests: with the CUDA backend (architectures ${archs}) and build-cmake/bertkit_cuda.node`);
} else {
  console.log('C++ tests: without CUDA (no nvcc, or BERTKIT_TEST_CUDA=0); the CUDA addon tests will say so');
}

function configure(extra) {
  const r = spawnSync('cmake', ['-S', root, '-B', build, '-DCMAKE_BUILD_TYPE=Release', '--log-level=WARNING', ...extra], { cwd: root, stdio: 'inherit' });
  if (r.error?.code === 'ENOENT') return 'missing';
  return r.status === 0 ? 'ok' : 'failed';
}

let configured = configure(cudaArgs);
if (configured === 'missing') {
  console.error('C++ engine tests NOT RUN: cmake is not installed (apt install cmake); the JS tests still run.');
  process.exit(0);
}
if (configured === 'failed' && cudaArgs[0] === '-DBERTKIT_CUDA=ON') {
  // Keep the CPU engine's tests running; test/cuda-backend.test.ts then fails in CI (no addon).
  console.error('C++ tests: configuring the CUDA backend FAILED (above); continuing without CUDA');
  configured = configure(['-DBERTKIT_CUDA=OFF']);
}
if (configured !== 'ok') process.exit(1);
run('cmake', ['--build', build, '--parallel', '2']);
run('ctest', ['--test-dir', build, '--output-on-failure']);
