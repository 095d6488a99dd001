#!/usr/bin/env node
// Builds packages/cuda-linux-x64/bertkit_cuda.node: the CUDA addon (CMakeLists.txt under cmake-js,
// as `npm run build:cuda`, into build-cuda-pkg/) for sm_80/86/89/90 + PTX 9.0 with the CUDA
// runtime linked statically, stripped, then checked: the architectures are all there, nothing
// but the system's C/C++ libraries is needed to load it (libcuda.so.1 is loaded at run time by
// the static runtime, so a machine without a driver still loads it and gets "no driver"), and
// its glibc needs are within the stated baseline.
//
//   npm run build -w @bertkit/cuda-linux-x64     (nvcc 13 on PATH or in /usr/local/cuda)
//   node scripts/build-cuda-package.mjs --check   (the checks alone, on an existing file)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'packages', 'cuda-linux-x64', 'bertkit_cuda.node');
const ARCHS = ['sm_80', 'sm_86', 'sm_89', 'sm_90'];
const ALLOWED_NEEDED = /^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so/;
const GLIBC_BASELINE = '2.34';
const GLIBCXX_BASELINE = '3.4.30'; // GCC 12's libstdc++
const versionKey = (v) => [0, 1, 2].reduce((k, i) => k * 1000 + Number(v.split('.')[i] ?? 0), 0);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
}
function output(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}
/**
 * The fatbin entries (kind and SM number) the file embeds, read from the fatbin headers
 * (magic 0xBA55ED50; entries: kind 1 = PTX, 2 = ELF, the SM at byte 28): the toolkit here has
 * no cuobjdump, and this is all that is checked.
 */
export function fatbinEntries(buf) {
  const magic = Buffer.from([0x50, 0xed, 0x55, 0xba]);
  const entries = new Set();
  for (let i = buf.indexOf(magic); i >= 0 && i + 16 <= buf.length; ) {
    const end = i + buf.readUInt16LE(i + 6) + Number(buf.readBigUInt64LE(i + 8));
    for (let e = i + buf.readUInt16LE(i + 6); e + 32 <= Math.min(end, buf.length); ) {
      const kind = buf.readUInt16LE(e);
      entries.add(`${kind === 1 ? 'ptx' : kind === 2 ? 'sm' : `kind${kind}`}_${buf.readUInt32LE(e + 28)}`);
      e += buf.readUInt32LE(e + 4) + Number(buf.readBigUInt64LE(e + 8));
    }
    i = buf.indexOf(magic, Math.max(end, i + 4));
  }
  return [...entries].sort();
}

export function checkCudaAddon(file) {
  if (!existsSync(file)) throw new Error(`${file} is missing: npm run build -w @bertkit/cuda-linux-x64`);
  const fat = fatbinEntries(readFileSync(file));
  const missing = ARCHS.filter((a) => !fat.includes(a));
  if (missing.length) throw new Error(`${file}: no machine code for ${missing.join(', ')} (has ${fat.join(' ')})`);
  if (!fat.includes('ptx_90')) throw new Error(`${file}: no PTX for compute_90 (has ${fat.join(' ')})`);
  const needed = [...output('readelf', ['-d', file]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const extra = needed.filter((n) => !ALLOWED_NEEDED.test(n));
  if (extra.length) throw new Error(`${file} needs ${extra.join(', ')} at load (the CUDA runtime must be static)`);
  const symbolVersions = output('readelf', ['-V', '-W', file]);
  const cxx = [...symbolVersions.matchAll(/GLIBCXX_(\d+(?:\.\d+)+)/g)].map((m) => m[1]).sort((a, b) => versionKey(a) - versionKey(b)).at(-1);
  if (cxx && versionKey(cxx) > versionKey(GLIBCXX_BASELINE)) throw new Error(`${file} needs GLIBCXX_${cxx}, newer than ${GLIBCXX_BASELINE}`);
  const glibc = [...symbolVersions.matchAll(/GLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]).sort((a, b) => versionKey(a) - versionKey(b)).at(-1);
  if (glibc && versionKey(glibc) > versionKey(GLIBC_BASELINE)) throw new Error(`${file} needs GLIBC_${glibc}, newer than ${GLIBC_BASELINE}`);
  return { fatbin: fat, needed, glibc, cxx };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { check: { type: 'boolean' } } });
  if (!values.check) {
    run(process.execPath, [join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js'), 'compile', '--out', 'build-cuda-pkg', '--parallel', '2']);
    copyFileSync(join(root, 'build-cuda-pkg', 'Release', 'bertkit_cuda.node'), target);
    run('strip', ['--strip-unneeded', target]);
  }
  const info = checkCudaAddon(target);
  console.log(`${target}: ${info.fatbin.join(' ')}; loads with ${info.needed.join(' ')} (glibc ${info.glibc}, libstdc++ ${info.cxx})`);
}
