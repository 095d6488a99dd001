/**
 * Runs the fuzz targets (fuzz/targets/*.fuzz.ts), each in its own process for a given time, and
 * prints one line per target: executions, time, executions per second, coverage, findings.
 *
 *   npm run fuzz -- [--time S] [--targets a,b] [--engine auto|jazzer|builtin] [--json FILE]
 *   npm run fuzz:ci       (every target for 10 s: the whole step within 3 minutes)
 *
 * Engines: Jazzer.js (@jazzer.js/core: libFuzzer, coverage-guided by instrumentation) where its
 * native addon loads; otherwise, or with --engine builtin, fuzz/engine.ts (mutations guided by
 * V8 block coverage). Jazzer.js 4's Linux addon needs glibc >= 2.38 (Debian 12 has 2.36).
 * Exit status 1 when anything was found: findings are in fuzz/findings/<target>/, the corpus
 * grows in fuzz/corpus/<target>/ (both git-ignored), and each finding becomes a test in
 * test/fuzz-regressions.test.ts once fixed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const { values } = parseArgs({
  options: {
    time: { type: 'string', default: '60' },
    targets: { type: 'string' },
    engine: { type: 'string', default: 'auto' },
    json: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'per-input-timeout': { type: 'string', default: '10' },
  },
});
const seconds = Number(values.time);
const all = readdirSync(join(here, 'targets'))
  .filter((f) => f.endsWith('.fuzz.ts'))
  .map((f) => f.replace(/\.fuzz\.ts$/, ''))
  .sort();
const chosen = values.targets ? values.targets.split(',') : all;
for (const t of chosen) if (!all.includes(t)) throw new Error(`no fuzz target ${t} (targets: ${all.join(', ')})`);

function jazzerLoads(): boolean {
  const r = spawnSync(process.execPath, ['-e', "require('@jazzer.js/fuzzer')"], { cwd: root, stdio: 'ignore' });
  return r.status === 0;
}
const engine = values.engine === 'auto' ? (jazzerLoads() ? 'jazzer' : 'builtin') : values.engine!;
if (values.engine === 'auto' && engine === 'builtin') console.error('fuzz: the Jazzer.js addon does not load here (glibc < 2.38?); using the built-in engine');

interface Result {
  target: string;
  engine: string;
  seconds: number;
  execs: number;
  execsPerSecond: number;
  corpus?: number;
  blocks?: number;
  functions?: string;
  coverage?: string;
  findings: { signature: string; file: string }[];
  exit?: string;
}

function runProcess(args: string[], limitMs: number): Promise<{ stdout: string; stderr: string; status: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-200_000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, status, signal });
    });
  });
}

async function builtin(target: string, index: number): Promise<Result> {
  const opts = {
    target,
    file: join(here, 'targets', `${target}.fuzz.ts`),
    dict: join(here, 'dict', dictOf(target)),
    seconds,
    timeoutSeconds: Number(values['per-input-timeout']),
    seed: Number(values.seed) * 1000 + index,
    corpusDir: join(here, 'corpus', target),
    findingsDir: join(here, 'findings', target),
  };
  const r = await runProcess(['--import=tsx', join(here, 'engine.ts'), JSON.stringify(opts)], (seconds + 60) * 1000);
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const done = lines.find((l) => l.target) as Result | undefined;
  const hang = lines.find((l) => l.hang);
  if (done) return done;
  return {
    target,
    engine: 'builtin',
    seconds,
    execs: 0,
    execsPerSecond: 0,
    findings: hang ? [{ signature: `hang over ${opts.timeoutSeconds} s`, file: String(hang.hang) }] : [{ signature: `crash: ${r.signal ?? `exit ${r.status}`}`, file: r.stderr.slice(-2000) }],
  };
}

function dictOf(target: string): string {
  const file = readFileSync(join(here, 'targets', `${target}.fuzz.ts`), 'utf8');
  return /export const dict = '([^']+)'/.exec(file)?.[1] ?? `${target}.dict`;
}

async function jazzer(target: string): Promise<Result> {
  const corpus = join(here, 'corpus', target);
  mkdirSync(corpus, { recursive: true });
  mkdirSync(join(here, 'findings', target), { recursive: true });
  const args = [
    '--import=tsx',
    join(root, 'node_modules', '@jazzer.js', 'core', 'dist', 'cli.js'),
    join(here, 'targets', `${target}.fuzz.ts`),
    corpus,
    '--sync=false',
    '-i',
    'src-ts',
    '--',
    `-max_total_time=${seconds}`,
    `-timeout=${values['per-input-timeout']}`,
    `-dict=${join(here, 'dict', dictOf(target))}`,
    `-artifact_prefix=${join(here, 'findings', target)}/`,
    `-seed=${values.seed}`,
  ];
  const r = await runProcess(args, (seconds + 60) * 1000);
  // libFuzzer's summary: "#123 DONE cov: 456 ft: 789 corp: 12/3kb ..." and "Done 123 runs in 10 second(s)".
  const done = /Done (\d+) runs in (\d+) second/.exec(r.stderr);
  const cov = [...r.stderr.matchAll(/cov: (\d+) ft: (\d+) corp: (\d+)/g)].at(-1);
  const artifacts = [...r.stderr.matchAll(/Test unit written to (\S+)/g)].map((m) => m[1]!);
  const execs = Number(done?.[1] ?? 0);
  const secs = Number(done?.[2] ?? seconds);
  return {
    target,
    engine: 'jazzer',
    seconds: secs,
    execs,
    execsPerSecond: Math.round(execs / Math.max(1, secs)),
    ...(cov ? { coverage: `cov ${cov[1]} ft ${cov[2]}`, corpus: Number(cov[3]) } : {}),
    findings: artifacts.map((file) => ({ signature: 'libFuzzer artifact', file })),
    ...(r.status !== 0 && !artifacts.length ? { exit: `${r.signal ?? r.status}: ${r.stderr.slice(-500)}` } : {}),
  };
}

const results: Result[] = [];
console.log(`| target | engine | time (s) | executions | exec/s | corpus | coverage | findings |`);
console.log(`|---|---|---|---|---|---|---|---|`);
for (const [i, target] of chosen.entries()) {
  const r = engine === 'jazzer' ? await jazzer(target) : await builtin(target, i);
  results.push(r);
  const coverage = r.coverage ?? `${r.blocks} blocks, ${r.functions} functions`;
  console.log(`| ${target} | ${r.engine} | ${r.seconds} | ${r.execs} | ${r.execsPerSecond} | ${r.corpus ?? ''} | ${coverage} | ${r.findings.length ? r.findings.map((f) => `${f.signature} (${f.file})`).join('; ') : 'none'} |`);
}
if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
process.exitCode = results.some((r) => r.findings.length || r.exit) ? 1 : 0;
