/**
 * Which engine runs a model. `device: 'auto'` (the default, or BERTKIT_DEVICE) takes CUDA when
 * its addon is built and a device answers the probe, else the CPU — and says why in
 * `fallbackReason`; `'cuda'` that cannot be honoured throws BackendUnavailableError with the
 * reasons.
 */
import { BackendUnavailableError, InvalidInputError } from '../errors.js';
import { loadBinding, loadCudaBinding } from './load-binding.js';
import type { NativeBinding, NativeCudaProbe } from './types.js';

export type Device = 'auto' | 'cpu' | 'cuda';

export interface BackendChoice {
  binding: NativeBinding;
  device: 'cpu' | 'cuda';
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

/** Whether this process can run models on CUDA, and why not. */
export interface CudaStatus {
  available: boolean;
  /** Why not (empty when available). */
  reasons: string[];
  /** The CUDA addon's file, when one was found. */
  addonPath?: string;
  /** Where that file came from: BERTKIT_CUDA_ADDON, a source build (build-cuda/) or the companion package. */
  addonOrigin?: 'BERTKIT_CUDA_ADDON' | 'source build' | 'package';
  /** The addon's probe (driver, devices), when the addon loaded. */
  probe?: NativeCudaProbe;
  /** The CUDA addon, when available. */
  binding?: NativeBinding;
}

/** Loads the CUDA addon (if built) and probes for a device; never throws, never crashes. */
export function cudaStatus(): CudaStatus {
  const addon = loadCudaBinding();
  const where = { ...(addon.path ? { addonPath: addon.path } : {}), ...(addon.origin ? { addonOrigin: addon.origin } : {}) };
  if (!addon.binding) return { available: false, reasons: addon.reasons, ...where };
  let probe: NativeCudaProbe;
  try {
    probe = addon.binding.cudaProbe();
  } catch (cause) {
    return { available: false, reasons: [`the CUDA probe failed: ${(cause as Error).message}`], ...where };
  }
  if (!probe.available) {
    return { available: false, reasons: probe.reasons.length ? probe.reasons : ['no usable CUDA device'], ...where, probe };
  }
  return { available: true, reasons: [], ...where, probe, binding: addon.binding };
}

export function selectBackend(device: unknown): BackendChoice {
  const want = resolveDevice(device);
  if (want === 'cpu') return { binding: loadBinding(), device: 'cpu' };
  const cuda = cudaStatus();
  if (cuda.available && cuda.binding) return { binding: cuda.binding, device: 'cuda' };
  if (want === 'cuda') {
    throw new BackendUnavailableError("device 'cuda' was requested but cannot be used", cuda.reasons);
  }
  return { binding: loadBinding(), device: 'cpu', fallbackReason: `CUDA not used: ${cuda.reasons.join('; ')}` };
}
