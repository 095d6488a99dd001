/**
 * `bertkit doctor`: what this install can use and why not — the CPU addon (prebuild or source
 * build), the CPU's instruction set and which kernels it runs, the CUDA addon (found where, or
 * not), the NVIDIA driver and devices — each line that is not "ok" with its fix. It loads nothing
 * but the addons and never fails on a missing piece: the exit code is 1 only when the CPU addon,
 * which everything needs, does not load.
 */
import { BackendUnavailableError } from '../../errors.js';
import { VERSION } from '../../index.js';
import { CUDA_PACKAGE_PLATFORMS, PREBUILD_BASELINE, PREBUILT_PLATFORMS, cpuAddonInfo, cudaPackageName, loadBinding } from '../../native/load-binding.js';
import { cudaStatus, resolveDevice } from '../../native/select-backend.js';
import type { Command } from '../app.js';
import { oneOf } from '../usage.js';

export interface DoctorCheck {
  /** What was checked: 'cpu addon', 'cpu', 'bfloat16', 'int8', 'cuda addon', 'cuda driver', 'cuda device'. */
  name: string;
  ok: boolean;
  detail: string;
  /** How to get it, when not ok (or how to do better). */
  fix?: string;
}

export interface DoctorReport {
  version: string;
  platform: string;
  node: string;
  napi: string;
  glibc?: string;
  checks: DoctorCheck[];
  /** Where `device: 'auto'` runs models here, and why not on the GPU. */
  auto: { device: 'cpu' | 'cuda' | 'none'; reason?: string };
}

function cudaVersion(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

function glibcVersion(): string | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

export function doctorReport(): DoctorReport {
  const platform = `${process.platform}-${process.arch}`;
  const checks: DoctorCheck[] = [];
  let cpuOk = false;
  try {
    const info = cpuAddonInfo();
    cpuOk = true;
    checks.push({ name: 'cpu addon', ok: true, detail: `${info.origin}: ${info.path}` });
  } catch (err) {
    const reasons = (err as { reasons?: string[] }).reasons ?? [(err as Error).message];
    checks.push({ name: 'cpu addon', ok: false, detail: `${(err as Error).message.split('\n')[0]}: ${reasons[0]}`, fix: reasons.slice(1).join('; ') || undefined });
  }
  if (cpuOk) {
    const cpu = loadBinding().cpuInfo();
    const features = new Set(cpu.features.split(/\s+/));
    checks.push({
      name: 'cpu',
      ok: true,
      detail: `${cpu.isa} kernels, ${cpu.cores} cores (features: ${cpu.features || 'none detected'})`,
      ...(process.env.BERTKIT_ISA
        ? { fix: `BERTKIT_ISA=${process.env.BERTKIT_ISA} caps the kernels: unset it for the best this CPU has` }
        : cpu.isa === 'generic' && process.arch === 'x64'
          ? { fix: 'this CPU has no AVX2/FMA: the portable kernels run, several times slower' }
          : {}),
    });
    const avx512 = cpu.isa === 'avx512';
    const x86 = process.arch === 'x64' || process.arch === 'ia32';
    const bf16Why = x86 ? "dtype 'bfloat16' needs AVX-512 BF16 (Cooper Lake, Sapphire Rapids, Zen 4 or newer); here it computes in float32" : `dtype 'bfloat16' has no ${process.arch} kernel yet; here it computes in float32`;
    const int8Why = x86 ? "dtype 'int8' needs AVX-512 VNNI (Cascade Lake, Ice Lake, Zen 4 or newer); here it computes in float32" : `dtype 'int8' has no ${process.arch} kernel yet; here it computes in float32`;
    checks.push(
      avx512 && features.has('avx512bf16')
        ? { name: 'bfloat16', ok: true, detail: "dtype 'bfloat16' runs on AVX-512 BF16 instructions" }
        : { name: 'bfloat16', ok: false, detail: bf16Why, fix: "use dtype 'float32' (the default) on this CPU" },
      avx512 && features.has('avx512vnni')
        ? { name: 'int8', ok: true, detail: "dtype 'int8' runs on AVX-512 VNNI instructions" }
        : { name: 'int8', ok: false, detail: int8Why, fix: "use dtype 'float32' (the default) on this CPU" },
    );
  }

  const cuda = cudaStatus();
  const howToInstall = CUDA_PACKAGE_PLATFORMS.includes(platform)
    ? `npm install ${cudaPackageName()}@${VERSION} (prebuilt, needs only the NVIDIA driver R580+), or npm run build:cuda with the CUDA toolkit`
    : `no prebuilt CUDA addon for ${platform}: npm run build:cuda with the CUDA toolkit (nvcc)`;
  if (!cuda.addonPath || (!cuda.probe && !cuda.available)) {
    checks.push({ name: 'cuda addon', ok: false, detail: cuda.addonPath ? `${cuda.addonOrigin}: ${cuda.addonPath}: ${cuda.reasons[0]}` : 'not installed', fix: cuda.addonPath ? cuda.reasons.slice(1).join('; ') || howToInstall : howToInstall });
  } else {
    checks.push({ name: 'cuda addon', ok: true, detail: `${cuda.addonOrigin === 'package' ? cudaPackageName() : cuda.addonOrigin}: ${cuda.addonPath}` });
    const probe = cuda.probe!;
    const driverReason = cuda.reasons.find((r) => /driver/i.test(r));
    checks.push(
      probe.driverVersion > 0 && !driverReason
        ? { name: 'cuda driver', ok: true, detail: `NVIDIA driver for CUDA ${cudaVersion(probe.driverVersion)} (the addon's runtime: CUDA ${cudaVersion(probe.runtimeVersion)})` }
        : { name: 'cuda driver', ok: false, detail: driverReason ?? 'no NVIDIA driver', fix: `install or update the NVIDIA driver (R580 or newer for CUDA ${cudaVersion(probe.runtimeVersion)})` },
    );
    if (probe.driverVersion > 0) {
      const devices = probe.devices.map((d) => `${d.ordinal}: ${d.name} (sm_${d.computeCapability.replace('.', '')}, ${(d.memoryBytes / 2 ** 30).toFixed(1)} GiB)${d.supported ? '' : ` unsupported: ${d.unsupportedReason}`}`);
      checks.push(
        cuda.available
          ? { name: 'cuda device', ok: true, detail: `device ${probe.device} is used; ${devices.join('; ')}` }
          : { name: 'cuda device', ok: false, detail: devices.length ? devices.join('; ') : 'no CUDA device is visible', fix: cuda.reasons.join('; ') || 'an NVIDIA GPU of compute capability 8.0 or newer is needed' },
      );
    }
  }

  let auto: DoctorReport['auto'];
  let want: string;
  try {
    want = resolveDevice(undefined);
  } catch (err) {
    want = `invalid (${(err as Error).message})`;
  }
  if (cuda.available && want !== 'cpu') auto = { device: 'cuda' };
  else if (cpuOk) auto = { device: 'cpu', ...(want === 'cpu' ? { reason: 'BERTKIT_DEVICE=cpu' } : { reason: `CUDA not used: ${cuda.reasons.join('; ')}` }) };
  else auto = { device: 'none', reason: 'the CPU addon does not load' };

  return {
    version: VERSION,
    platform,
    node: process.version,
    napi: process.versions.napi ?? '?',
    ...(glibcVersion() ? { glibc: glibcVersion() } : {}),
    checks,
    auto,
  };
}

export function formatDoctor(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = [
    `bertkit ${r.version} on ${r.platform}, Node.js ${r.node} (Node-API ${r.napi})${r.glibc ? `, glibc ${r.glibc}` : ''}`,
    `prebuilt CPU addons: ${PREBUILT_PLATFORMS.join(', ')} (${PREBUILD_BASELINE}); prebuilt CUDA addon: ${CUDA_PACKAGE_PLATFORMS.join(', ')}`,
    '',
  ];
  for (const c of r.checks) {
    lines.push(`${c.ok ? 'ok' : 'no'}  ${c.name.padEnd(width)}  ${c.detail}`);
    if (c.fix) lines.push(`    ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  lines.push('', r.auto.device === 'none' ? `models cannot run here: ${r.auto.reason}` : `device 'auto' runs models on: ${r.auto.device}${r.auto.reason ? ` (${r.auto.reason})` : ''}`, '');
  return lines.join('\n');
}

export const doctor: Command = {
  name: 'doctor',
  summary: 'what this install can use (CPU addon and kernels, CUDA addon, driver, GPU) and how to fix what is missing',
  usage: [
    'bertkit doctor [--format text|json]',
    '',
    'Checks the CPU addon (prebuilt or built from source), the CPU instruction set and kernels, the',
    'CUDA addon (BERTKIT_CUDA_ADDON, a build-cuda/ source build, or the @bertkit/cuda-* package),',
    'the NVIDIA driver and the GPUs, and prints each with the fix when it is missing. Exit code 1',
    'when the CPU addon does not load (nothing can run), else 0.',
  ],
  options: {
    format: { type: 'string', short: 'f', value: 'FMT', description: 'text (default) or json' },
  },
  async run(ctx) {
    const format = oneOf(ctx.str('format'), 'format', ['text', 'json'] as const, 'text');
    const report = doctorReport();
    ctx.io.stdout.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
    if (report.auto.device === 'none') throw new BackendUnavailableError('models cannot run here: the CPU addon does not load (see above)');
  },
};
