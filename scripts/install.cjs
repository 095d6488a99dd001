#!/usr/bin/env node
// npm's "install" step for bertkit. The package carries prebuilt N-API addons (prebuilds/, see
// scripts/prebuild.mjs); when the one for this platform loads, there is nothing to do. Otherwise
// (another platform, another libc, a damaged file, or --build-from-source) it says why in one
// line and builds the addon from source with node-gyp; when the tools for that are missing it
// names them and the fix instead of failing deep inside node-gyp.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { delimiter, join } = require('node:path');

const root = join(__dirname, '..');
const platform = `${process.platform}-${process.arch}`;
const fromSource = process.env.npm_config_build_from_source === 'true' || process.env.npm_config_build_from_source === 'bertkit';

function say(line) {
  process.stderr.write(`bertkit: ${line}\n`);
}

/** Loads the addon node-gyp-build finds, in a child process (a bad file must not take this one down). */
function prebuildLoads() {
  const code = `const p = require('node-gyp-build').resolve(process.argv[1]); require(p); console.log(p)`;
  const r = spawnSync(process.execPath, ['-e', code, root], { cwd: root, encoding: 'utf8' });
  if (r.status === 0) return { ok: true, path: r.stdout.trim() };
  if (r.signal) return { ok: false, why: `loading it crashed Node.js (${r.signal}): it is damaged, or built for a newer Node-API than this Node.js ${process.version} offers` };
  const lines = (r.stderr || '').split('\n').map((l) => l.trim()).filter(Boolean);
  const msg = lines.find((l) => /^Error:|No native build/.test(l)) || lines[0] || `exit ${r.status}`;
  return { ok: false, why: msg.replace(/^Error: /, '') };
}

function onPath(names) {
  const dirs = (process.env.PATH || '').split(delimiter).filter(Boolean);
  return names.find((n) => dirs.some((d) => existsSync(join(d, n))));
}

if (!fromSource) {
  const found = prebuildLoads();
  if (found.ok) process.exit(0);
  const reason = /No native build was found/.test(found.why) ? `no prebuilt addon for ${platform} here (the published package carries them for linux-x64 and linux-arm64 with glibc 2.32 and GCC 12's libstdc++)` : `the prebuilt addon does not load here (${found.why})`;
  say(`${reason}: building it from source with node-gyp (a C++17 compiler, make and python3 are needed)`);
} else {
  say('--build-from-source: building the addon with node-gyp');
}

const missing = [];
if (!process.env.CXX && !onPath(['c++', 'g++', 'clang++'])) missing.push('a C++17 compiler (g++ or clang++)');
if (process.platform !== 'win32' && !onPath(['make', 'gmake'])) missing.push('make');
if (!process.env.PYTHON && !process.env.npm_config_python && !onPath(['python3', 'python'])) missing.push('python3');
if (missing.length) {
  say(`cannot build from source: ${missing.join(', ')} not found on PATH. Install them (Debian/Ubuntu: apt install g++ make python3; Fedora: dnf install gcc-c++ make python3), then run \`npm rebuild bertkit\`.`);
  process.exit(1);
}

// npm passes its own node-gyp; a global one is the fallback.
const gyp = process.env.npm_config_node_gyp;
const r = gyp && existsSync(gyp)
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) {
  say(`building the addon from source failed (above)${r.error ? `: ${r.error.message}` : ''}. Check the compiler (C++17), make and python3, then \`npm rebuild bertkit\`.`);
  process.exit(r.status || 1);
}
