/**
 * The installed package's native pieces, and what a user meets when one is wrong: the CPU addon
 * from a prebuild or a source build, a corrupt or wrong-architecture prebuild, no prebuild for the
 * platform (the install script's message and its source-build fallback), and the CUDA companion
 * package (@bertkit/cuda-linux-x64) found beside bertkit, mismatched, empty or damaged; then
 * `bertkit doctor` on each. Each case is a copy of the built package (dist/, package.json) in a
 * temporary node_modules, so it finds its addons exactly as an installed one does.
 * (.ci/pack-check does the same from a real `npm pack` and install, with no compiler on PATH.)
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { locateNapiVersion } from '../src-ts/native/napi-version.js';
import { fixture, repoRoot } from './helpers/fixtures.js';

const builtAddon = join(repoRoot, 'build', 'Release', 'bertkit.node');
const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version as string;
const platform = `${process.platform}-${process.arch}`;

const temps: string[] = [];
test.after.always(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

interface Layout {
  /** Contents of prebuilds/<platform>/bertkit.glibc.node (none when undefined). */
  prebuild?: Buffer;
  /** Link build/ to this checkout's source build. */
  sourceBuild?: boolean;
  /** The CUDA companion package beside bertkit. */
  cudaPackage?: { version: string; addon?: Buffer | string };
}

/** project/node_modules/bertkit (a copy of the built package) and what `layout` puts beside it. */
function install(layout: Layout): { project: string; pkg: string } {
  const project = mkdtempSync(join(tmpdir(), 'bertkit-install-'));
  temps.push(project);
  const pkg = join(project, 'node_modules', 'bertkit');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(repoRoot, 'package.json'), join(pkg, 'package.json'));
  for (const f of ['dist/index.js', 'dist/cli/main.js', 'dist/chunks', 'scripts/install.cjs']) cpSync(join(repoRoot, f), join(pkg, f), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules', 'node-gyp-build'), join(project, 'node_modules', 'node-gyp-build'));
  if (layout.prebuild) {
    mkdirSync(join(pkg, 'prebuilds', platform), { recursive: true });
    writeFileSync(join(pkg, 'prebuilds', platform, 'bertkit.glibc.node'), layout.prebuild);
  }
  if (layout.sourceBuild) symlinkSync(join(repoRoot, 'build'), join(pkg, 'build'));
  if (layout.cudaPackage) {
    const dir = join(project, 'node_modules', '@bertkit', `cuda-${platform}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `@bertkit/cuda-${platform}`, version: layout.cudaPackage.version }));
    const { addon } = layout.cudaPackage;
    if (typeof addon === 'string') cpSync(addon, join(dir, 'bertkit_cuda.node'));
    else if (addon) writeFileSync(join(dir, 'bertkit_cuda.node'), addon);
  }
  return { project, pkg };
}

/** The environment without this machine's CUDA and device settings. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.BERTKIT_CUDA_ADDON;
  delete e.BERTKIT_DEVICE;
  delete e.BERTKIT_PREBUILD;
  return { ...e, ...extra };
}

function node(cwd: string, args: string[], extraEnv: NodeJS.ProcessEnv = env()): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: extraEnv });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `code` (an async function body, with `b` = the installed bertkit) and returns its JSON. */
function inPackage(pkg: string, code: string): any {
  const script = `const b = await import(${JSON.stringify(join(pkg, 'dist', 'index.js'))});
try { console.log(JSON.stringify(await (async () => { ${code} })())); }
catch (e) { console.log(JSON.stringify({ error: { name: e.name, code: e.code, message: e.message } })); }`;
  const r = node(dirname(pkg), ['--input-type=module', '-e', script]);
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

function doctor(pkg: string, extraEnv?: NodeJS.ProcessEnv): { status: number | null; report: any; text: string; stderr: string } {
  const json = node(dirname(pkg), [join(pkg, 'dist', 'cli', 'main.js'), 'doctor', '--format', 'json'], extraEnv);
  const text = node(dirname(pkg), [join(pkg, 'dist', 'cli', 'main.js'), 'doctor'], extraEnv);
  return { status: json.status, report: JSON.parse(json.stdout), text: text.stdout, stderr: json.stderr };
}

const check = (report: any, name: string) => report.checks.find((c: any) => c.name === name);

test.before(() => {
  if (!existsSync(join(repoRoot, 'dist', 'chunks'))) throw new Error('dist/ is not built: npm run build:ts');
  if (!existsSync(builtAddon)) throw new Error(`${builtAddon} is missing: npm run build:native`);
});

test('a prebuild is found and loaded with no build/ folder; doctor says so', (t) => {
  const { pkg } = install({ prebuild: readFileSync(builtAddon) });
  t.deepEqual(inPackage(pkg, 'return typeof b.cpuInfo().isa'), 'string');
  const d = doctor(pkg);
  t.is(d.status, 0, d.stderr);
  t.like(check(d.report, 'cpu addon'), { ok: true, detail: `prebuild: ${join(pkg, 'prebuilds', platform, 'bertkit.glibc.node')}` });
  t.regex(d.text, /^ok {2}cpu addon +prebuild: /m);
});

test('a source build (build/Release) is used before the prebuild', (t) => {
  const { pkg } = install({ prebuild: Buffer.from('not an addon'), sourceBuild: true });
  const d = doctor(pkg);
  t.like(check(d.report, 'cpu addon'), { ok: true });
  t.regex(check(d.report, 'cpu addon').detail, /^source build: .*build\/Release\/bertkit.node$/);
});

test('a corrupt prebuild gives one BackendUnavailableError with the fix, and doctor exits 1', (t) => {
  const { pkg } = install({ prebuild: Buffer.alloc(4096, 0x5a) });
  const r = inPackage(pkg, 'return b.cpuInfo()');
  t.is(r.error?.name, 'BackendUnavailableError');
  t.is(r.error.code, 'ERR_BACKEND_UNAVAILABLE');
  t.regex(r.error.message, /could not be loaded/);
  t.regex(r.error.message, /corrupt or was built for another platform or architecture/);
  t.regex(r.error.message, /npm rebuild bertkit --build-from-source/);
  // loadModel says the same, through the same loader.
  const m = inPackage(pkg, `return await b.loadModel(${JSON.stringify(fixture('tiny-bert-model'))})`);
  t.like(m.error, { name: 'BackendUnavailableError', code: 'ERR_BACKEND_UNAVAILABLE' });
  const d = doctor(pkg);
  t.is(d.status, 1);
  t.like(check(d.report, 'cpu addon'), { ok: false });
  t.regex(d.text, /^no {2}cpu addon /m);
  t.regex(d.text, /fix: .*npm rebuild bertkit --build-from-source/);
  t.regex(d.stderr, /models cannot run here/);
});

test('a prebuild for another architecture gives the same typed error', (t) => {
  const elf = Buffer.from(readFileSync(builtAddon));
  // e_machine (ELF header offset 18): AArch64 on x86-64, x86-64 elsewhere.
  elf.writeUInt16LE(process.arch === 'x64' ? 183 : 62, 18);
  const { pkg } = install({ prebuild: elf });
  const r = inPackage(pkg, 'return b.cpuInfo()');
  t.is(r.error?.name, 'BackendUnavailableError', JSON.stringify(r));
  t.regex(r.error.message, /corrupt or was built for another platform or architecture/);
});

/** The built addon with its declared Node-API version set to `version` (what a newer build would declare). */
function withNapiVersion(file: string, version: number): Buffer {
  const at = locateNapiVersion(file);
  if (!at) throw new Error(`no Node-API version found in ${file}`);
  const buf = Buffer.from(readFileSync(file));
  if (at.machine === 62) buf.writeInt32LE(version, at.offset);
  else buf.writeUInt32LE((0x52800000 | (version << 5)) >>> 0, at.offset);
  return buf;
}

test('the Node-API version is read from the built addon without loading it', (t) => {
  t.is(locateNapiVersion(builtAddon)?.version, 8); // binding.gyp: NAPI_VERSION=8
  t.is(locateNapiVersion(join(repoRoot, 'package.json')), undefined);
  t.is(locateNapiVersion(join(repoRoot, 'no-such-file.node')), undefined);
});

test('a prebuild built for a newer Node-API: one typed error instead of the crash Node.js would have', (t) => {
  const newer = Number(process.versions.napi) + 1;
  const { pkg } = install({ prebuild: withNapiVersion(builtAddon, newer) });
  const r = inPackage(pkg, 'return b.cpuInfo()');
  t.is(r.error?.name, 'BackendUnavailableError', JSON.stringify(r));
  t.regex(r.error.message, new RegExp(`was built for Node-API ${newer}, and this Node.js .* offers Node-API ${process.versions.napi}`));
  t.regex(r.error.message, /update Node\.js/);
  const d = doctor(pkg);
  t.is(d.status, 1);
  t.regex(d.text, /^no {2}cpu addon /m);
  // The CUDA addon gets the same check.
  const cuda = install({ sourceBuild: true, cudaPackage: { version, addon: withNapiVersion(builtAddon, newer) } });
  const s = inPackage(cuda.pkg, 'return b.cudaStatus()');
  t.false(s.available);
  t.regex(s.reasons[0], new RegExp(`was built for Node-API ${newer}`));
});

test('no addon at all: the typed error names the platform and the way to build', (t) => {
  const { pkg } = install({});
  const r = inPackage(pkg, 'return b.cpuInfo()');
  t.is(r.error?.name, 'BackendUnavailableError');
  t.regex(r.error.message, new RegExp(`could not be found for ${platform}`));
  t.regex(r.error.message, /C\+\+17 compiler, make and python3/);
});

/** The install script on a PATH that has node and nothing else. */
function installScript(pkg: string, extra: Record<string, string> = {}) {
  const bin = mkdtempSync(join(tmpdir(), 'bertkit-bin-'));
  temps.push(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const e = env({ PATH: bin });
  delete e.CXX;
  delete e.PYTHON;
  delete e.npm_config_python;
  delete e.npm_config_build_from_source;
  return node(pkg, [join(pkg, 'scripts', 'install.cjs')], { ...e, ...extra });
}

test('install script: a prebuild that loads means no build and no output', (t) => {
  const { pkg } = install({ prebuild: readFileSync(builtAddon) });
  const r = installScript(pkg);
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr, '');
  t.false(existsSync(join(pkg, 'build')));
});

test('install script: no prebuild for the platform says so once, then names the missing build tools', (t) => {
  const { pkg } = install({});
  const r = installScript(pkg);
  t.is(r.status, 1);
  t.regex(r.stderr, new RegExp(`^bertkit: no prebuilt addon for ${platform}.*building it from source with node-gyp`, 'm'));
  t.regex(r.stderr, /^bertkit: cannot build from source: a C\+\+17 compiler \(g\+\+ or clang\+\+\), make, python3 not found on PATH\./m);
  t.is(r.stderr.trim().split('\n').length, 2, r.stderr);
});

test('install script: a prebuild that does not load says why before building', (t) => {
  const { pkg } = install({ prebuild: Buffer.alloc(64, 1) });
  const r = installScript(pkg);
  t.is(r.status, 1);
  t.regex(r.stderr, /^bertkit: the prebuilt addon does not load here \(.+\): building it from source/m);
});

test('install script: --build-from-source skips the prebuild', (t) => {
  const { pkg } = install({ prebuild: readFileSync(builtAddon) });
  const r = installScript(pkg, { npm_config_build_from_source: 'true' });
  t.is(r.status, 1);
  t.regex(r.stderr, /--build-from-source: building the addon with node-gyp/);
});

// The CUDA companion package. A real CUDA addon to put in it, where one is built here: the
// package's own, or the one `npm run test:cpp` builds where nvcc is installed.
const realCuda = [join(repoRoot, 'packages', `cuda-${platform}`, 'bertkit_cuda.node'), join(repoRoot, 'build-cmake', 'bertkit_cuda.node'), join(repoRoot, 'build-cuda', 'Release', 'bertkit_cuda.node')].find((p) => existsSync(p));

test('no CUDA package: doctor says how to install it, auto runs on the CPU', (t) => {
  const { pkg } = install({ sourceBuild: true });
  const d = doctor(pkg);
  t.is(d.status, 0, d.stderr);
  t.like(check(d.report, 'cuda addon'), { ok: false, detail: 'not installed' });
  if (platform === 'linux-x64') t.regex(check(d.report, 'cuda addon').fix, new RegExp(`npm install @bertkit/cuda-linux-x64@${version.replace(/\./g, '\\.')}`));
  t.is(d.report.auto.device, 'cpu');
  const s = inPackage(pkg, 'return b.cudaStatus()');
  t.false(s.available);
  t.regex(s.reasons[0], /no CUDA addon is installed/);
});

test('a CUDA package of another version is not loaded, and says which to install', (t) => {
  const { pkg } = install({ sourceBuild: true, cudaPackage: { version: '0.0.1', addon: Buffer.from('x') } });
  const s = inPackage(pkg, 'return b.cudaStatus()');
  t.false(s.available);
  t.is(s.addonOrigin, 'package');
  t.regex(s.reasons[0], new RegExp(`cuda-${platform} 0\\.0\\.1 .* does not match bertkit ${version.replace(/\./g, '\\.')}`));
});

test('a CUDA package without its addon, or with a corrupt one: a reason, the CPU still runs', (t) => {
  const empty = install({ sourceBuild: true, cudaPackage: { version } });
  const s1 = inPackage(empty.pkg, 'return b.cudaStatus()');
  t.regex(s1.reasons[0], /has no bertkit_cuda.node/);
  const bad = install({ sourceBuild: true, cudaPackage: { version, addon: Buffer.alloc(4096, 7) } });
  const s2 = inPackage(bad.pkg, 'return b.cudaStatus()');
  t.false(s2.available);
  t.regex(s2.reasons[0], /the CUDA addon .*bertkit_cuda.node could not be loaded/);
  const model = JSON.stringify(fixture('tiny-bert-model'));
  t.like(inPackage(bad.pkg, `return await b.loadModel(${model}, { device: 'cuda' })`).error, { name: 'BackendUnavailableError', code: 'ERR_BACKEND_UNAVAILABLE' });
  const auto = inPackage(bad.pkg, `const m = await b.loadModel(${model}); const r = { device: m.backend.device, why: m.backend.fallbackReason }; await m.dispose(); return r`);
  t.is(auto.device, 'cpu', JSON.stringify(auto));
  t.regex(auto.why, /could not be loaded/);
  const d = doctor(bad.pkg);
  t.is(d.status, 0);
  t.like(check(d.report, 'cuda addon'), { ok: false });
  t.is(d.report.auto.device, 'cpu');
});

(realCuda ? test : test.skip)('the CUDA package with a real addon and no driver or GPU: found, probed, the documented fallback', (t) => {
  const { pkg } = install({ sourceBuild: true, cudaPackage: { version, addon: realCuda! } });
  const s = inPackage(pkg, 'const s = b.cudaStatus(); delete s.binding; return s');
  t.is(s.addonOrigin, 'package');
  t.regex(s.addonPath, /node_modules\/@bertkit\/cuda-[a-z0-9-]+\/bertkit_cuda\.node$/);
  const d = doctor(pkg);
  t.is(d.status, 0, d.stderr);
  t.like(check(d.report, 'cuda addon'), { ok: true });
  if (s.available) {
    t.is(d.report.auto.device, 'cuda');
    return;
  }
  // No device here: auto falls back to the CPU with the probe's reasons; 'cuda' is a typed error.
  t.true(s.reasons.length > 0);
  t.is(d.report.auto.device, 'cpu');
  t.regex(d.text, /^no {2}cuda (driver|device) /m);
  t.regex(d.text, /fix: /);
  t.like(inPackage(pkg, `return await b.loadModel(${JSON.stringify(fixture('tiny-bert-model'))}, { device: 'cuda' })`).error, { name: 'BackendUnavailableError', code: 'ERR_BACKEND_UNAVAILABLE' });
});

test('doctor: kernels capped by BERTKIT_ISA, each missing one with its fix; a bad --format is a usage error', (t) => {
  const cli = join(repoRoot, 'dist', 'cli', 'main.js');
  const r = node(repoRoot, [cli, 'doctor', '--format', 'json'], env({ BERTKIT_ISA: 'generic' }));
  t.is(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.like(check(report, 'cpu'), { ok: true, fix: 'BERTKIT_ISA=generic caps the kernels: unset it for the best this CPU has' });
  t.regex(check(report, 'cpu').detail, /^generic kernels, \d+ cores/);
  for (const name of ['bfloat16', 'int8']) t.like(check(report, name), { ok: false, fix: "use dtype 'float32' (the default) on this CPU" });
  t.is(report.version, version);
  t.is(report.platform, platform);
  const bad = node(repoRoot, [cli, 'doctor', '--format', 'yaml']);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /--format must be one of text, json/);
});
