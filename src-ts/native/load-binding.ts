/**
 * Finds and loads the CPU addon: a prebuild for this platform (prebuilds/), else the one built
 * from source at install (build/Release). When nothing loads, one error lists what was tried and
 * how to fix it on this machine.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
