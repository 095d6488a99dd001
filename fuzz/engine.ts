/**
 * The built-in fuzzing engine, one target per process (run.ts starts it): mutation-based and
 * guided by V8's block coverage (an input whose batch reached new blocks joins the corpus).
 * It runs where Jazzer.js's libFuzzer addon cannot load; the targets are the same files.
 *
 * A watchdog thread sees each input before it runs (shared memory): an input still running after
 * the time limit is saved as a hang and the process is ended. An exception other than a BertError
 * (fuzz/check.ts) is saved as a finding and the run goes on.
 *
 *   node --import tsx fuzz/engine.ts '<json options>'   (prints one JSON result line)
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Rand, mutate, parseDictionary } from './mutate.js';

interface Options {
  target: string;
  file: string;
  dict: string | undefined;
  seconds: number;
  timeoutSeconds: number;
  seed: number;
  corpusDir: string;
  findingsDir: string;
}
interface TargetModule {
  fuzz(data: Buffer): void | Promise<void>;
  seeds?(): Buffer[];
  maxLen?: number;
}

const o = JSON.parse(process.argv[2]!) as Options;
const mod = (await import(pathToFileURL(o.file).href)) as TargetModule;
const maxLen = mod.maxLen ?? 1 << 16;
const dict = o.dict && existsSync(o.dict) ? parseDictionary(readFileSync(o.dict, 'utf8')) : [];
mkdirSync(o.corpusDir, { recursive: true });
mkdirSync(o.findingsDir, { recursive: true });

// Shared with the watchdog: [0] inputs started, [1] length of the current input, then its bytes.
const shared = new SharedArrayBuffer(8 + maxLen);
const counters = new Int32Array(shared, 0, 2);
const current = new Uint8Array(shared, 8);
new Worker(
  `const { workerData: w } = require('node:worker_threads');
   const fs = require('node:fs');
   const c = new Int32Array(w.shared, 0, 2);
   let seen = -1, since = Date.now();
   setInterval(() => {
     const n = Atomics.load(c, 0);
     if (n !== seen) { seen = n; since = Date.now(); return; }
     if (Date.now() - since < w.limitMs) return;
     const bytes = Buffer.from(new Uint8Array(w.shared, 8, Atomics.load(c, 1)));
     const name = w.dir + '/hang-' + require('node:crypto').createHash('sha1').update(bytes).digest('hex').slice(0, 16);
     fs.writeFileSync(name, bytes);
     fs.writeSync(1, JSON.stringify({ hang: name, limitMs: w.limitMs }) + '\\n');
     process.kill(process.pid, 'SIGKILL');
   }, 250).unref();`,
  { eval: true, workerData: { shared, limitMs: o.timeoutSeconds * 1000, dir: o.findingsDir } },
).unref();

const corpus: Buffer[] = [...(mod.seeds?.() ?? [])].map((b) => (b.length > maxLen ? b.subarray(0, maxLen) : b));
for (const f of readdirSync(o.corpusDir)) corpus.push(readFileSync(join(o.corpusDir, f)));
if (corpus.length === 0) corpus.push(Buffer.alloc(0));
const seedCount = corpus.length;

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
const ours = (url: string) => /\/(src-ts|dist|examples\/server)\//.test(url) && !url.includes('node_modules');
const blocks = new Set<string>();
const functions = new Map<string, boolean>();
/** New blocks since the last call (also fills the function totals). */
async function newCoverage(): Promise<number> {
  const { result } = await session.post('Profiler.takePreciseCoverage');
  let fresh = 0;
  for (const script of result) {
    if (!ours(script.url)) continue;
    for (const fn of script.functions) {
      const key = `${script.url}#${fn.functionName}@${fn.ranges[0]!.startOffset}`;
      const hit = fn.ranges[0]!.count > 0;
      if (hit || !functions.has(key)) functions.set(key, (functions.get(key) ?? false) || hit);
      for (const r of fn.ranges) {
        if (r.count === 0) continue;
        const k = `${script.url}:${r.startOffset}:${r.endOffset}`;
        if (!blocks.has(k)) {
          blocks.add(k);
          fresh++;
        }
      }
    }
  }
  return fresh;
}

const findings = new Map<string, string>(); // signature -> file
let execs = 0;
async function run(input: Buffer): Promise<void> {
  current.set(input.subarray(0, maxLen));
  Atomics.store(counters, 1, Math.min(input.length, maxLen));
  Atomics.add(counters, 0, 1);
  execs++;
  try {
    await mod.fuzz(input);
  } catch (err) {
    const e = err as Error;
    // One file per kind of failure: the message without numbers and quoted values.
    const sig = `${e?.name}: ${String(e?.message).split('\n')[0]!.replace(/\d+/g, 'N').replace(/"[^"]*"/g, '"…"').slice(0, 200)}`;
    if (!findings.has(sig) && findings.size < 50) {
      const name = join(o.findingsDir, `finding-${createHash('sha1').update(input).digest('hex').slice(0, 16)}`);
      writeFileSync(name, input);
      writeFileSync(`${name}.txt`, `${e?.stack ?? String(err)}\ncause: ${(e?.cause as Error)?.stack ?? ''}\n`);
      findings.set(sig, name);
    }
  }
}

const t0 = performance.now();
for (const seed of corpus) await run(seed);
await newCoverage();
const r = new Rand(o.seed);
const deadline = t0 + o.seconds * 1000;
const BATCH = 16;
while (performance.now() < deadline) {
  const batch: Buffer[] = [];
  for (let i = 0; i < BATCH; i++) {
    const input = mutate(corpus[r.below(corpus.length)]!, corpus, dict, r, maxLen);
    batch.push(input);
    await run(input);
  }
  if ((await newCoverage()) > 0 && corpus.length < 4000) {
    for (const input of batch) {
      if (input.length > 4096 && r.below(8) !== 0) continue; // keep the corpus mostly small
      corpus.push(input);
      writeFileSync(join(o.corpusDir, createHash('sha1').update(input).digest('hex').slice(0, 16)), input);
    }
  }
}
const seconds = (performance.now() - t0) / 1000;
const covered = [...functions.values()].filter(Boolean).length;
process.stdout.write(
  `${JSON.stringify({
    target: o.target,
    engine: 'builtin',
    seconds: Math.round(seconds * 10) / 10,
    execs,
    execsPerSecond: Math.round(execs / seconds),
    seeds: seedCount,
    corpus: corpus.length,
    blocks: blocks.size,
    functions: `${covered}/${functions.size}`,
    findings: [...findings.entries()].map(([signature, file]) => ({ signature, file })),
  })}\n`,
);
await session.post('Profiler.stopPreciseCoverage');
session.disconnect();
process.exit(0);
