#!/usr/bin/env node
// The Node addon itself under AddressSanitizer + UndefinedBehaviorSanitizer: a copy of the
// package in a temporary folder (so build/Release here is never touched), its addon built by
// node-gyp with the sanitizers, then the bad-input and worker-thread tests run with libasan
// preloaded into node (a sanitized shared object needs its runtime loaded first). No
// AddressSanitizer / UBSan report fails the run at once (halt_on_error).
// Leak checking is off: node itself frees little at exit.
//
//   node test/cpp/addon-asan.mjs [test files...]    (default: the list below)
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tests = process.argv.slice(2).length
  ? process.argv.slice(2)
  : // serving-workers' soak (workers loading models in a loop, RSS growth checked) is left out:
    // over ava's limit under ASan, whose quarantine of freed memory also defeats the RSS check.
    ['test/model-input.test.ts', 'test/model-load.test.ts', 'test/weights-safetensors.test.ts', 'test/model-workers.test.ts'];

const libasan = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout?.trim();
if (!libasan || libasan === 'libasan.so') {
  console.error('addon ASan tests NOT RUN: no libasan (apt install gcc)');
  process.exit(1);
}
const copy = mkdtempSync(join(tmpdir(), 'bertkit-asan-'));
const t0 = Date.now();
try {
  for (const entry of ['package.json', 'binding.gyp', 'tsconfig.json', 'tsconfig.base.json', 'native', 'src-ts', 'test', 'examples', 'dist']) {
    cpSync(join(root, entry), join(copy, entry), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  const flags = '-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1';
  // npm's own node-gyp (what `npm run build:native` runs), not a download.
  const gyp = spawnSync('npm', ['run', 'build:native', '--', '-j', '2'], {
    cwd: copy,
    stdio: 'inherit',
    env: { ...process.env, CXXFLAGS: flags, CFLAGS: flags, LDFLAGS: '-fsanitize=address,undefined' },
  });
  // No process.exit inside the try: the copy must still be removed.
  if (gyp.status !== 0) throw new Error(`the sanitized addon did not build (exit ${gyp.status})`);
  const built = Date.now();
  const env = {
    ...process.env,
    LD_PRELOAD: libasan,
    ASAN_OPTIONS: 'detect_leaks=0:halt_on_error=1:allow_user_segv_handler=1',
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
  };
  const ava = spawnSync(process.execPath, [join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), '--timeout=5m', ...tests], { cwd: copy, stdio: 'inherit', env });
  console.log(`addon under ASan+UBSan: build ${((built - t0) / 1000).toFixed(0)} s, tests ${((Date.now() - built) / 1000).toFixed(0)} s`);
  process.exitCode = ava.status ?? 1;
} finally {
  rmSync(copy, { recursive: true, force: true });
}
