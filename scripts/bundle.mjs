#!/usr/bin/env node
// The published JavaScript: src-ts/index.ts (the library) and src-ts/cli/main.ts (the `bertkit`
// executable) bundled by esbuild into dist/index.js and dist/cli/main.js, with the code they share
// and what loads lazily (training) in dist/chunks/. One file to read and compile instead of ~60
// ES modules makes `import('bertkit')` several times cheaper (bench/import.mjs). Run after tsc,
// which writes the typings (dist/**/*.d.ts, unchanged) and the per-file modules the benchmarks use.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist', 'chunks'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src-ts/index.ts', 'src-ts/cli/main.ts'],
  outbase: 'src-ts',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Dependencies stay packages (node-gyp-build finds the addon from its own place).
  packages: 'external',
  legalComments: 'none',
  logLevel: 'warning',
});
