#!/usr/bin/env node
// The published JavaScript: src-ts/index.ts (the library) and src-ts/cli/main.ts (the `bertkit`
// executable) bundled by esbuild into dist/index.js and dist/cli/main.js, with the code they share
// and what loads lazily (training) in dist/chunks/. One file to read and compile instead of ~60
// ES modules makes `import('bertkit')` several times cheaper (bench/import.mjs). Run after tsc,
// which writes the typings (dist/**/*.d.ts, unchanged) and the per-file modules the benchmarks use.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist', 'chunks'), { recursive: true, force: true });
const result = await build({
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
  // ASCII-only output is decoded and scanned as one-byte text (one non-ASCII character in a kept
  // comment made the whole chunk two-byte: ~3 ms of the import). esbuild escapes code; comments below.
  charset: 'ascii',
  metafile: true,
  logLevel: 'warning',
});
for (const file of Object.keys(result.metafile.outputs)) {
  const path = join(root, file);
  const text = readFileSync(path, 'utf8');
  if (/[^\0-\x7f]/.test(text)) writeFileSync(path, text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
