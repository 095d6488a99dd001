/**
 * Finds and loads the addons. The CPU addon: the one built from source (build/Release) when there
 * is one, else the prebuild for this platform that the package carries (prebuilds/, N-API, found
 * by node-gyp-build); when none loads, one error says what was found, why it failed and the fix.
 * The CUDA addon (optional): BERTKIT_CUDA_ADDON when set, else a source build (build-cuda/, `npm
 * run build:cuda`), else the companion package @bertkit/cuda-<platform>-<arch> when installed; its
 * absence is a reason, never an error here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError } from '../errors.js';
import { declaredNapiVersion } from './napi-version.js';
import type { NativeBinding } from './types.js';

/** Platforms whose prebuilt CPU addon ships in the package, and the oldest Linux they run on. */
export const PREBUILT_PLATFORMS: readonly string[] = ['linux-x64', 'linux-arm64'];
export const PREBUILD_BASELINE = 'glibc 2.32 and GCC 12\'s libstdc++: Debian 12, Ubuntu 22.04, Fedora 37 or newer';

/** The folder of bertkit's package.json, found upwards: the code runs from src-ts/ or a bundled dist/. */
function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if (JSON.parse(readFileSync(file, 'utf8')).name === 'bertkit') return dir;
      } catch {
        // an unreadable package.json further down: keep looking up
      }
    }
    if (dirname(dir) === dir) return join(from, '..', '..');
  }
}

export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(packageRoot, 'package.json'));

function packageVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
}

/** Where the CPU addon came from. */
export interface CpuAddonInfo {
  path: string;
  /** 'prebuild': shipped in prebuilds/; 'source build': compiled on this machine (build/). */
  origin: 'prebuild' | 'source build';
}

let cached: NativeBinding | undefined;
let cachedInfo: CpuAddonInfo | undefined;
let failure: BackendUnavailableError | undefined;

/** What a loader error most likely means, and the fix. */
export function explainLoadError(message: string): string {
  const lib = /(lib[\w+.-]+\.so[.\d]*): cannot open shared object file/.exec(message);
  if (lib) {
    return `a library the addon needs (${lib[1]}) is not installed here: install it (for libstdc++: the libstdc++6 package), or build the addon here with \`npm rebuild bertkit --build-from-source\``;
  }
  if (/wrong ELF class|ELFCLASS|cannot open shared object file: No such file|wrong machine|Exec format|invalid ELF header|file too short|not a valid Win32|mach-o/i.test(message)) {
    return 'the file is corrupt or was built for another platform or architecture: reinstall bertkit, or build it here with `npm rebuild bertkit --build-from-source`';
  }
  if (/GLIBC_|GLIBCXX_|CXXABI_/.test(message)) {
    return `the addon needs a newer C/C++ runtime than this system has (the prebuilds need ${PREBUILD_BASELINE}): build it here with \`npm rebuild bertkit --build-from-source\``;
  }
  if (/napi_|Node-API|N-API|NODE_MODULE_VERSION|module version/i.test(message)) {
    return `the addon was built for another Node-API version than this Node.js offers (${process.versions.napi}): update Node.js (>= 20.19), or rebuild with \`npm rebuild bertkit --build-from-source\``;
  }
  return 'reinstall bertkit, or build it here with `npm rebuild bertkit --build-from-source`';
}

/**
 * Why `file` must not be loaded: it declares a newer Node-API than this Node.js offers (loading
 * it would crash the process), or undefined.
 */
export function napiMismatch(file: string): string | undefined {
  const declared = declaredNapiVersion(file);
  const offered = Number(process.versions.napi);
  // 2147483647 is NAPI_VERSION_EXPERIMENTAL, which Node.js checks itself.
  if (declared === undefined || declared <= offered || declared === 2147483647) return undefined;
  return `${file} was built for Node-API ${declared}, and this Node.js ${process.version} offers Node-API ${offered} (loading it would crash)`;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}

/** The CPU addon's file (without loading it), or the reasons there is none. */
export function resolveCpuAddon(root = packageRoot): CpuAddonInfo | { reasons: string[] } {
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  try {
    const path = nodeGypBuild.resolve(root);
    return { path, origin: path.startsWith(join(root, 'prebuilds') + sep) ? 'prebuild' : 'source build' };
  } catch {
    const platform = `${process.platform}-${process.arch}`;
    return {
      reasons: [
        PREBUILT_PLATFORMS.includes(platform)
          ? `the prebuilt addon for ${platform} is missing from ${join(root, 'prebuilds', platform)}, and build/Release has no compiled one`
          : `bertkit ships prebuilt addons for ${PREBUILT_PLATFORMS.join(', ')} (${PREBUILD_BASELINE}), not for ${platform}, and build/Release has no compiled one`,
        'to build it here: install a C++17 compiler, make and python3, then run `npm rebuild bertkit`',
        "with npm 11+, dependencies' install scripts are off until approved: `npm install-scripts approve bertkit`, then `npm rebuild bertkit`",
      ],
    };
  }
}

/** Where the loaded CPU addon came from (loads it). */
export function cpuAddonInfo(): CpuAddonInfo {
  loadBinding();
  return cachedInfo!;
}

export function loadBinding(): NativeBinding {
  if (cached) return cached;
  if (failure) throw failure;
  const found = resolveCpuAddon();
  if ('reasons' in found) {
    failure = new BackendUnavailableError(`the bertkit CPU addon could not be found for ${process.platform}-${process.arch} (Node-API ${process.versions.napi})`, found.reasons);
    throw failure;
  }
  const mismatch = napiMismatch(found.path);
  if (mismatch) {
    failure = new BackendUnavailableError(`the bertkit CPU addon (${found.origin}) cannot be loaded by this Node.js`, [mismatch, explainLoadError('Node-API')]);
    throw failure;
  }
  let binding: NativeBinding;
  try {
    binding = require(found.path) as NativeBinding;
  } catch (cause) {
    failure = new BackendUnavailableError(`the bertkit CPU addon (${found.origin}) could not be loaded`, [
      firstLine(cause).startsWith(found.path) ? firstLine(cause) : `${found.path}: ${firstLine(cause)}`,
      explainLoadError((cause as Error)?.message ?? String(cause)),
    ], { cause });
    throw failure;
  }
  if (typeof binding?.cpuInfo !== 'function' || typeof binding.createModel !== 'function') {
    failure = new BackendUnavailableError('the bertkit CPU addon could not be loaded', [
      `${found.path} loaded but is not the bertkit addon`,
      'reinstall bertkit, or build it here with `npm rebuild bertkit --build-from-source`',
    ]);
    throw failure;
  }
  cached = binding;
  cachedInfo = found;
  return cached;
}

/** The CUDA addon, or why there is none. */
export interface CudaAddon {
  binding?: NativeBinding;
  /** The file loaded (or that failed to load). */
  path?: string;
  /** Where it came from: BERTKIT_CUDA_ADDON, a source build (build-cuda/), or the companion package. */
  origin?: 'BERTKIT_CUDA_ADDON' | 'source build' | 'package';
  /** Why there is no binding (empty when there is one). */
  reasons: string[];
}

/** The companion package that carries the prebuilt CUDA addon for this platform. */
export function cudaPackageName(platform: string = process.platform, arch: string = process.arch): string {
  return `@bertkit/cuda-${platform}-${arch}`;
}

/** The platforms a CUDA companion package is published for. */
export const CUDA_PACKAGE_PLATFORMS: readonly string[] = ['linux-x64'];

/**
 * The companion package as seen from `from` (a file or folder inside the package that looks): its
 * folder, version and addon file, or undefined when it is not installed.
 */
export function findCudaPackage(from: string = packageRoot): { dir: string; version: string; addon: string } | undefined {
  const req = createRequire(join(from, 'package.json'));
  let manifest: string;
  try {
    manifest = req.resolve(`${cudaPackageName()}/package.json`);
  } catch {
    return undefined;
  }
  const dir = dirname(manifest);
  let version = '?';
  try {
    version = JSON.parse(readFileSync(manifest, 'utf8')).version;
  } catch {
    // reported as a version mismatch
  }
  return { dir, version, addon: join(dir, 'bertkit_cuda.node') };
}

/** Where the CUDA addon is looked for, in order: BERTKIT_CUDA_ADDON alone when set, else build-cuda/, else the package. */
export function cudaAddonPaths(): string[] {
  const env = process.env.BERTKIT_CUDA_ADDON;
  if (env) return [resolve(env)];
  // cmake-js writes build-cuda/Release/ (or build-cuda/ with some generators).
  const paths = [join(packageRoot, 'build-cuda', 'Release', 'bertkit_cuda.node'), join(packageRoot, 'build-cuda', 'bertkit_cuda.node')];
  const pkg = findCudaPackage();
  if (pkg) paths.push(pkg.addon);
  return paths;
}

const cudaCache = new Map<string, CudaAddon>();

function howToGetCuda(): string {
  const platform = `${process.platform}-${process.arch}`;
  const build = 'or build it from source with `npm run build:cuda` on a machine with the CUDA toolkit (nvcc)';
  return CUDA_PACKAGE_PLATFORMS.includes(platform)
    ? `install the prebuilt CUDA addon with \`npm install ${cudaPackageName()}@${packageVersion()}\`, ${build}`
    : `there is no prebuilt CUDA addon for ${platform}: build it from source with \`npm run build:cuda\` on a machine with the CUDA toolkit (nvcc)`;
}

function loadCudaFile(path: string, origin: NonNullable<CudaAddon['origin']>): CudaAddon {
  const mismatch = napiMismatch(path);
  if (mismatch) return { path, origin, reasons: [mismatch, `update Node.js, or install the ${origin === 'package' ? cudaPackageName() : 'CUDA addon'} matching this bertkit`] };
  try {
    const binding = require(path) as NativeBinding;
    if (typeof binding?.cudaProbe !== 'function') return { path, origin, reasons: [`${path} loaded but is not a bertkit addon`] };
    return binding.withCuda
      ? { binding, path, origin, reasons: [] }
      : { path, origin, reasons: [`${path} is not a CUDA build of the addon (withCuda is false)`] };
  } catch (cause) {
    const message = (cause as Error)?.message ?? String(cause);
    return { path, origin, reasons: [`the CUDA addon ${path} could not be loaded: ${firstLine(cause)}`, explainLoadError(message).replace(/bertkit( --build-from-source)?`/, `${origin === 'package' ? cudaPackageName() : 'bertkit'}\``)] };
  }
}

/** Loads the CUDA addon once per path (a failed load is remembered too). Never throws. */
export function loadCudaBinding(): CudaAddon {
  const env = process.env.BERTKIT_CUDA_ADDON;
  const key = env ? `env:${resolve(env)}` : `root:${packageRoot}`;
  const hit = cudaCache.get(key);
  if (hit) return hit;
  let result: CudaAddon;
  if (env) {
    const path = resolve(env);
    result = existsSync(path) ? loadCudaFile(path, 'BERTKIT_CUDA_ADDON') : { reasons: [`BERTKIT_CUDA_ADDON=${env}: no such file`] };
  } else {
    const source = cudaAddonPaths().slice(0, 2).find((p) => existsSync(p));
    const pkg = source ? undefined : findCudaPackage();
    if (source) {
      result = loadCudaFile(source, 'source build');
    } else if (pkg && pkg.version !== packageVersion()) {
      result = { path: pkg.addon, origin: 'package', reasons: [`${cudaPackageName()} ${pkg.version} (${pkg.dir}) does not match bertkit ${packageVersion()}: \`npm install ${cudaPackageName()}@${packageVersion()}\``] };
    } else if (pkg && !existsSync(pkg.addon)) {
      result = { path: pkg.addon, origin: 'package', reasons: [`${cudaPackageName()} (${pkg.dir}) has no bertkit_cuda.node: reinstall it (in this repository: \`npm run build -w ${cudaPackageName()}\`)`] };
    } else if (pkg) {
      result = loadCudaFile(pkg.addon, 'package');
    } else {
      result = { reasons: [`no CUDA addon is installed (neither ${cudaPackageName()} nor a build-cuda/ source build): ${howToGetCuda()}`] };
    }
  }
  cudaCache.set(key, result);
  return result;
}
