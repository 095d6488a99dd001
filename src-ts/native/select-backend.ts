/**
 * Which engine runs a model. `device: 'auto'` (the default, or BERTKIT_DEVICE) takes CUDA when
 * its addon is built and a device answers, else the CPU — and says why in `fallbackReason`;
 * `'cuda'` that cannot be honoured throws BackendUnavailableError with the reasons.
 */
import { BackendUnavailableError, InvalidInputError } from '../errors.js';
import { loadBinding } from './load-binding.js';
import type { NativeBinding } from './types.js';

export type Device = 'auto' | 'cpu' | 'cuda';

export interface BackendChoice {
  binding: NativeBinding;
  device: 'cpu';
  fallbackReason?: string;
}

const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda'];

export function resolveDevice(device: unknown): Device {
  const d = device ?? process.env.BERTKIT_DEVICE ?? 'auto';
  if (typeof d !== 'string' || !(DEVICES as readonly string[]).includes(d)) {
    throw new InvalidInputError(`device must be one of ${DEVICES.join(', ')}, got ${JSON.stringify(d)}`);
  }
  return d as Device;
}

/** Reasons the CUDA engine cannot be used in this process (empty when it can). */
function cudaUnavailableReasons(): string[] {
  // The CUDA addon (cmake-js, `npm run build:cuda`) is not part of this build yet.
  return ['this bertkit build has no CUDA addon (build it with `npm run build:cuda` on a machine with nvcc)'];
}

export function selectBackend(device: unknown): BackendChoice {
  const want = resolveDevice(device);
  if (want === 'cuda') {
    throw new BackendUnavailableError("device 'cuda' was requested but cannot be used", cudaUnavailableReasons());
  }
  const binding = loadBinding();
  if (want === 'auto') {
    return { binding, device: 'cpu', fallbackReason: `CUDA not used: ${cudaUnavailableReasons().join('; ')}` };
  }
  return { binding, device: 'cpu' };
}
