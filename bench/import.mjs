#!/usr/bin/env node
// Import cost: how long `await import('bertkit')` takes in a fresh Node process, and how many of
// the package's modules it loads. Each run is a new process (a warm one would measure nothing);
// the figure is the median of the runs, timed inside the child around the import alone (Node's
// own start-up is not counted). The native addon is not loaded by the import itself. Then, apart,
// the first use of a class (the published entry compiles the rest of the library then, once).
//
// Contenders, alternating run by run: the published dist/index.js (the esbuild bundle and its
// lazy entry, scripts/bundle.mjs) and the same sources as tsc emits them, one ES module per file (built here
// into a temporary folder), which is what the package published before the bundle.
//
//   npm run build:ts
//   node bench/import.mjs [--runs 41] [--json]
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '41' }, json: { type: 'boolean' } } });
const runs = Number(values.runs);

// The unbundled contender: tsc's per-file output in a package folder of its own.
const tmp = mkdtempSync(join(os.tmpdir(), 'bertkit-import-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(tmp, 'dist'), '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false'], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(1);
cpSync(join(root, 'package.json'), join(tmp, 'package.json'));
symlinkSync(join(root, 'node_modules'), join(tmp, 'node_modules'));

const contenders = [
  { name: 'bundled (dist/index.js)', dir: root },
  { name: 'unbundled (tsc, one module per file)', dir: tmp },
];

// Wall time, and the process's CPU time over the same span (all threads: V8 compiles on helpers),
// which a loaded machine inflates far less than wall time.
// Then the first use of the library (the published entry loads it then, synchronously: src-ts/util/lazy-exports.ts).
const timer = (entry) => `const c = process.cpuUsage(); const t = performance.now(); const m = await import(${JSON.stringify(entry)});
const w = performance.now() - t; const u = process.cpuUsage(c); const f = performance.now(); void m.Tokenizer.prototype;
console.log(w, (u.user + u.system) / 1000, performance.now() - f);`;
// Counting modules needs a loader hook, which slows loading: it runs once, apart from the timing.
const counter = (entry, pkg) => `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const seen = new Set();
port1.on('message', (u) => seen.add(u)); port1.unref();
register('data:text/javascript,' + encodeURIComponent(\`
let port; export function initialize(d) { port = d.port; }
export async function load(url, context, next) { if (url.startsWith('file:')) port.postMessage(url); return next(url, context); }\`), { data: { port: port2 }, transferList: [port2] });
await import(${JSON.stringify(entry)});
await new Promise((r) => setTimeout(r, 100));
console.log([...seen].filter((u) => u.startsWith(${JSON.stringify(pkg)})).length);`;

function node(code) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

for (const c of contenders) {
  c.entry = pathToFileURL(join(c.dir, 'dist', 'index.js')).href;
  c.ms = [];
  c.cpu = [];
  c.first = [];
  c.modules = Number(node(counter(c.entry, pathToFileURL(join(c.dir, 'dist')).href)));
}
for (let i = 0; i < runs; i++) {
  for (const c of i % 2 ? [...contenders].reverse() : contenders) {
    const [wall, cpu, first] = node(timer(c.entry)).split(' ').map(Number);
    c.ms.push(wall);
    c.cpu.push(cpu);
    c.first.push(first);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const results = contenders.map((c) => ({ name: c.name, medianMs: +median(c.ms).toFixed(2), minMs: +Math.min(...c.ms).toFixed(2), cpuMedianMs: +median(c.cpu).toFixed(2), firstUseMedianMs: +median(c.first).toFixed(2), modules: c.modules }));
const report = { runs, ratio: +(results[1].medianMs / results[0].medianMs).toFixed(2), results, node: process.version, cpu: os.cpus()[0]?.model, load: os.loadavg()[0] };
if (values.json) console.log(JSON.stringify(report));
else {
  for (const r of results) console.log(`${r.name.padEnd(38)} wall median ${String(r.medianMs).padStart(7)} ms (min ${r.minMs}), CPU median ${r.cpuMedianMs} ms; then the first use ${r.firstUseMedianMs} ms; ${r.modules} modules at import`);
  console.log(`${runs} processes each, alternating; unbundled / bundled = ${report.ratio}x; ${report.node}, ${report.cpu}, load ${report.load.toFixed(1)}`);
}
