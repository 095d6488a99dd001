/**
 * Finds and loads the addons. The CPU addon: a prebuild for this platform (prebuilds/), else the
 * one built from source at install (build/Release); when nothing loads, one error lists what was
 * tried and how to fix it on this machine. The CUDA addon (optional, `npm run build:cuda`):
 * BERTKIT_CUDA_ADDON when set, else build-cuda/; its absence is a reason, never an error here.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError } from '../errors.js';
import type { NativeBinding } from './types.js';

// src-ts/native/ and dist/native/ both sit two levels under the package root.
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

let cached: NativeBinding | undefined;
let failure: BackendUnavailableError | undefined;

export function loadBinding(): NativeBinding {
  if (cached) return cached;
  if (failure) throw failure;
  try {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    cached = nodeGypBuild(packageRoot) as NativeBinding;
    return cached;
  } catch (cause) {
    const reasons = [
      `no prebuilt addon for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules}, N-API ${process.versions.napi}) was found in ${join(packageRoot, 'prebuilds')}, and build/Release has no compiled one`,
      `loader said: ${(cause as Error).message.split('\n')[0]}`,
      'to build from source: install a C++17 compiler, make and python3, then run `npm rebuild bertkit`',
      'with npm 11+, dependencies\' install scripts are off until approved: `npm install-scripts approve bertkit`, then `npm rebuild bertkit`',
    ];
    failure = new BackendUnavailableError('the bertkit CPU addon could not be loaded', reasons, { cause });
    throw failure;
  }
}

/** The CUDA addon, or why there is none. */
export interface CudaAddon {
  binding?: NativeBinding;
  /** The file loaded (or that failed to load). */
  path?: string;
  /** Why there is no binding (empty when there is one). */
  reasons: string[];
}

/** Where the CUDA addon is looked for, in order: BERTKIT_CUDA_ADDON alone when set, else build-cuda/. */
export function cudaAddonPaths(): string[] {
  const env = process.env.BERTKIT_CUDA_ADDON;
  if (env) return [resolve(env)];
  // cmake-js writes build-cuda/Release/ (or build-cuda/ with some generators).
  return [join(packageRoot, 'build-cuda', 'Release', 'bertkit_cuda.node'), join(packageRoot, 'build-cuda', 'bertkit_cuda.node')];
}

const cudaCache = new Map<string, CudaAddon>();

/** Loads the CUDA addon once per path (a failed load is remembered too). Never throws. */
export function loadCudaBinding(): CudaAddon {
  const paths = cudaAddonPaths();
  const key = paths.join('\n');
  const hit = cudaCache.get(key);
  if (hit) return hit;
  let result: CudaAddon | undefined;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    try {
      const binding = require(path) as NativeBinding;
      result = binding.withCuda
        ? { binding, path, reasons: [] }
        : { path, reasons: [`${path} is not a CUDA build of the addon (withCuda is false)`] };
    } catch (cause) {
      result = { path, reasons: [`the CUDA addon ${path} could not be loaded: ${(cause as Error).message.split('\n')[0]}`] };
    }
    break;
  }
  if (!result) {
    result = process.env.BERTKIT_CUDA_ADDON
      ? { reasons: [`BERTKIT_CUDA_ADDON=${process.env.BERTKIT_CUDA_ADDON}: no such file`] }
      : { reasons: [`this bertkit has no CUDA addon (${paths[0]} is missing): build it with \`npm run build:cuda\` on a machine with the CUDA toolkit (nvcc)`] };
  }
  cudaCache.set(key, result);
  return result;
}
