#!/usr/bin/env node
// The published JavaScript, bundled by esbuild after tsc (which writes the typings,
// dist/**/*.d.ts, unchanged, and the per-file modules the benchmarks use):
// - dist/chunks/bertkit.js: src-ts/index.ts, the whole library;
// - dist/chunks/eager.js: src-ts/index-eager.ts, the errors, config and constants;
// - dist/cli/main.js: the `bertkit` executable; shared code and lazily imported parts in dist/chunks/.
// Then dist/index.js, the package entry, written here from the library's exports: those in eager.js
// re-exported from it, every other function and class a stand-in that loads bertkit.js on first
// use (src-ts/util/lazy-exports.ts). So `import('bertkit')` compiles ~50 KB, not ~600 KB
// (bench/import.mjs), and the exports keep their types and their synchronous calls.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
rmSync(join(dist, 'chunks'), { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { 'chunks/bertkit': 'src-ts/index.ts', 'chunks/eager': 'src-ts/index-eager.ts', 'cli/main': 'src-ts/cli/main.ts' },
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

// The entry. Importing the bundles here loads no native code (the addon loads on first use).
const library = await import(pathToFileURL(join(dist, 'chunks', 'bertkit.js')).href);
const eager = await import(pathToFileURL(join(dist, 'chunks', 'eager.js')).href);
const now = [];
const later = [];
for (const [name, value] of Object.entries(library)) {
  if (Object.hasOwn(eager, name)) {
    if (eager[name] !== value) throw new Error(`bundle: ${name} is a different object in eager.js and bertkit.js`);
    now.push(name);
  } else if (typeof value !== 'function') {
    throw new Error(`bundle: ${name} is a ${typeof value}, not a function or class: export it from src-ts/index-eager.ts`);
  } else {
    later.push(`export ${/^class\b/.test(Function.prototype.toString.call(value)) ? `const ${name} = lazyClass(load, '${name}')` : `function ${name}(...args) { return load().${name}(...args); }`};`);
  }
}
writeFileSync(
  join(dist, 'index.js'),
  `// The package entry, written by scripts/bundle.mjs: errors, config and constants now; the rest of
// the library (chunks/bertkit.js) on the first use of one of its functions or classes.
import { createRequire } from 'node:module';
import { lazyClass, onceLoader } from './chunks/eager.js';
export { ${now.join(', ')} } from './chunks/eager.js';
const load = onceLoader(() => createRequire(import.meta.url)('./chunks/bertkit.js'));
${later.join('\n')}
`,
);
