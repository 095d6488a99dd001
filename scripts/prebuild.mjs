#!/usr/bin/env node
// The prebuilt CPU addons the published package carries: prebuilds/linux-<arch>/bertkit.napi.node,
// built by prebuildify (--napi --strip) and found at run time by node-gyp-build. Each build runs in
// a scratch copy of the sources, so build/Release (this checkout's own addon) is never replaced by
// another architecture's. arm64 is cross-compiled with Debian's g++-aarch64-linux-gnu.
//
//   node scripts/prebuild.mjs [--arch x64] [--arch arm64]     (default: x64, and arm64 when the
//                                                               cross compiler is installed)
//   apt-get install g++-aarch64-linux-gnu                       (for arm64)
//
// Every file is checked after the build: the ELF machine is the one asked for, it exports the
// Node-API entry point, and the newest glibc and libstdc++ symbol versions it needs are at most
// GLIBC_BASELINE and GLIBCXX_BASELINE (the baseline the README states, PREBUILD_BASELINE in
// src-ts/native/load-binding.ts): glibc 2.32 and GCC 12's libstdc++, i.e. Debian 12, Ubuntu
// 22.04, Fedora 37, or newer. Build on an older distribution to lower it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const GLIBC_BASELINE = '2.32';
export const GLIBCXX_BASELINE = '3.4.30'; // GCC 12's libstdc++
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CROSS = {
  arm64: { prefix: 'aarch64-linux-gnu-', machine: 'AArch64' },
  x64: { prefix: '', machine: 'X86-64' },
};

function onPath(name) {
  return (process.env.PATH || '').split(delimiter).some((d) => existsSync(join(d, name)));
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

function output(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

const versionKey = (v) => [0, 1, 2].reduce((k, i) => k * 1000 + Number(v.split('.')[i] ?? 0), 0);

/** Checks one built file; returns the newest GLIBC_ version it needs. */
export function checkPrebuild(file, arch) {
  const { prefix, machine } = CROSS[arch];
  const readelf = onPath(`${prefix}readelf`) ? `${prefix}readelf` : 'readelf';
  const header = output(readelf, ['-h', file]);
  if (!header.includes(machine)) throw new Error(`${file}: not a ${machine} ELF file`);
  const dyn = output(readelf, ['--dyn-syms', '-W', file]);
  if (!/\bnapi_register_module_v1\b/.test(dyn)) throw new Error(`${file}: no napi_register_module_v1 (not an N-API addon)`);
  const symbolVersions = output(readelf, ['-V', '-W', file]);
  const cxx = [...symbolVersions.matchAll(/GLIBCXX_(\d+(?:\.\d+)+)/g)].map((m) => m[1]).sort((a, b) => versionKey(a) - versionKey(b)).at(-1) ?? '0';
  if (versionKey(cxx) > versionKey(GLIBCXX_BASELINE)) throw new Error(`${file} needs GLIBCXX_${cxx}, newer than the stated baseline ${GLIBCXX_BASELINE}`);
  const versions = [...symbolVersions.matchAll(/GLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]);
  const newest = versions.sort((a, b) => versionKey(a) - versionKey(b)).at(-1) ?? '0';
  if (versionKey(newest) > versionKey(GLIBC_BASELINE)) {
    throw new Error(`${file} needs GLIBC_${newest}, newer than the stated baseline ${GLIBC_BASELINE}: build it on an older distribution`);
  }
  return `${newest}, libstdc++ ${cxx}`;
}

/** npm's own node-gyp (npm sets npm_config_node_gyp for scripts; else the one beside npm). */
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  for (const d of (process.env.PATH || '').split(delimiter)) {
    if (!existsSync(join(d, 'npm'))) continue;
    const gyp = join(dirname(realpathSync(join(d, 'npm'))), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(gyp)) return gyp;
  }
  return undefined;
}

function prebuild(arch) {
  const { prefix } = CROSS[arch];
  if (prefix && !onPath(`${prefix}g++`)) throw new Error(`${prefix}g++ is not installed (apt-get install g++-aarch64-linux-gnu)`);
  const scratch = mkdtempSync(join(tmpdir(), `bertkit-prebuild-${arch}-`));
  try {
    for (const f of ['binding.gyp', 'package.json']) cpSync(join(root, f), join(scratch, f));
    symlinkSync(join(root, 'native'), join(scratch, 'native'));
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
    // libstdc++ stays dynamic: linked in statically it would pull glibc 2.36 symbols (arc4random,
    // _dl_find_object) and shut out Ubuntu 22.04, which the shared GCC 12 libstdc++ does not.
    const env = { ...process.env };
    const gyp = nodeGyp();
    if (gyp) {
      // prebuildify spawns `node-gyp` by name: put npm's on PATH.
      mkdirSync(join(scratch, '.bin'));
      symlinkSync(gyp, join(scratch, '.bin', 'node-gyp'));
      env.PATH = `${join(scratch, '.bin')}${delimiter}${env.PATH}`;
    }
    // This Node's own headers (Node-API is the same for every target): nothing to download.
    const nodedir = join(dirname(process.execPath), '..');
    if (!env.npm_config_nodedir && existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = nodedir;
    const args = [join(root, 'node_modules', 'prebuildify', 'bin.js'), '--napi', '--strip', '--tag-libc', `--arch=${arch}`, `--out=${root}`, scratch];
    if (prefix) {
      Object.assign(env, { CC: `${prefix}gcc`, CXX: `${prefix}g++`, LINK: `${prefix}g++`, AR: `${prefix}ar` });
      args.push(`--strip-bin=${prefix}strip`);
    }
    run(process.execPath, args, { env, cwd: scratch });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const dir = join(root, 'prebuilds', `linux-${arch}`);
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.node'))) {
    console.log(`prebuilds/linux-${arch}/${f}: ${CROSS[arch].machine}, N-API, needs glibc ${checkPrebuild(join(dir, f), arch)} (baseline ${GLIBC_BASELINE}, ${GLIBCXX_BASELINE})`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error('scripts/prebuild.mjs builds the linux prebuilds on a linux-x64 machine');
    process.exit(1);
  }
  const { values } = parseArgs({ options: { arch: { type: 'string', multiple: true } } });
  const arches = values.arch ?? ['x64', ...(onPath('aarch64-linux-gnu-g++') ? ['arm64'] : [])];
  for (const arch of arches) {
    if (!CROSS[arch]) throw new Error(`--arch must be x64 or arm64, got ${arch}`);
    prebuild(arch);
  }
  if (!arches.includes('arm64')) console.log('arm64 skipped: apt-get install g++-aarch64-linux-gnu to build it');
}
