#!/usr/bin/env node
// Import cost: how long `await import('bertkit')` takes in a fresh Node process, and how many of
// the package's modules it loads. Each run is a new process (a warm one would measure nothing);
// the figure is the median of the runs, taken inside the child around the import alone (Node's own
// start-up is not counted). The native addon is not loaded by the import itself.
//
//   npm run build:ts                          # dist/ as it would be published
//   node bench/import.mjs [--runs 31] [--entry dist/index.js] [--json]
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '31' }, entry: { type: 'string', default: 'dist/index.js' }, json: { type: 'boolean' } } });
const runs = Number(values.runs);
const entry = pathToFileURL(resolve(root, values.entry)).href;

const timer = `const t = performance.now(); await import(${JSON.stringify(entry)}); console.log(performance.now() - t);`;
// Counting modules needs a loader hook, which slows loading: it runs once, apart from the timing.
const counter = `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const seen = new Set();
port1.on('message', (u) => seen.add(u)); port1.unref();
register('data:text/javascript,' + encodeURIComponent(\`
let port; export function initialize(d) { port = d.port; }
export async function load(url, context, next) { if (url.startsWith('file:')) port.postMessage(url); return next(url, context); }\`), { data: { port: port2 }, transferList: [port2] });
await import(${JSON.stringify(entry)});
await new Promise((r) => setTimeout(r, 50));
const pkg = ${JSON.stringify(pathToFileURL(root).href)};
console.log([...seen].filter((u) => u.startsWith(pkg) && !u.includes('/node_modules/')).length, seen.size);`;

function node(code) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

const ms = [];
for (let i = 0; i < runs; i++) ms.push(Number(node(timer)));
ms.sort((a, b) => a - b);
const [own, all] = node(counter).split(' ').map(Number);
const result = {
  entry: values.entry,
  runs,
  medianMs: +ms[runs >> 1].toFixed(2),
  minMs: +ms[0].toFixed(2),
  maxMs: +ms[runs - 1].toFixed(2),
  packageModules: own,
  allModules: all,
  node: process.version,
  cpu: os.cpus()[0]?.model,
};
console.log(values.json ? JSON.stringify(result) : `${result.entry}: median ${result.medianMs} ms (min ${result.minMs}, max ${result.maxMs}, ${runs} processes); ${own} package modules, ${all} file modules in all`);
