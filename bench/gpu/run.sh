#!/usr/bin/env bash
# The GPU check in one go, on a machine with an NVIDIA GPU, nvcc, CMake and Python with PyTorch
# and transformers (no network, no Node.js needed): build, kernel tests, fixture and model
# parity, then BERT-base and BERT-large timings next to Hugging Face transformers fp16 + SDPA on
# the same GPU and the same inputs, one table. Sized to finish in under 8 minutes.
#
#   bench/gpu/run.sh OUT_DIR
#
# Writes into OUT_DIR: gpu.txt, build.log, tests.log, bertkit.json (+ inputs/), hf.json,
# results.json and results.md (the table with card, date and commit, for bench/RESULTS.md).
# Environment (all optional):
#   BERTKIT_CUDA_ARCHITECTURES  default: this GPU's own (e.g. 90-real), the quickest build
#   BERTKIT_FIXTURES            the fixtures folder (default: test/fixtures of this checkout)
#   BERTKIT_GPU_BUILD           build folder (default: build-gpu/ in the repository, git-ignored)
#   BENCH_MODELS (base,large)  BENCH_BATCHES (1,8,32,128)  BENCH_SEQS (128,384,512)  BENCH_ITERS (20)
#   PYTHON                      the Python with torch and transformers (default: python3)
#   BERTKIT_GPU_DRY_RUN=1       no GPU: the same steps on the CPU with a tiny model (checks this script)
set -uo pipefail
OUT=${1:?usage: bench/gpu/run.sh OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
BUILD=${BERTKIT_GPU_BUILD:-$ROOT/build-gpu}
PY=${PYTHON:-python3}
SECONDS=0
log() { echo "== [$(printf '%3d' "$SECONDS")s] $*"; }
export PYTHONUNBUFFERED=1

log "machine"
{
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm,clocks.sm,power.limit --format=csv 2>&1
  nvcc --version 2>&1 | tail -2
  cmake --version | head -1
  "$PY" -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' 2>&1
  git -C "$ROOT" log -1 --format='commit %h %s' 2>/dev/null
  date -u
} | tee "$OUT/gpu.txt"

DRY=${BERTKIT_GPU_DRY_RUN:-0}
BENCH_EXTRA=()
HF_EXTRA=()
if [ "$DRY" = 1 ]; then
  log "DRY RUN: CPU engine and CPU PyTorch, tiny model; not a benchmark"
  : "${BENCH_MODELS:=tiny}" "${BENCH_BATCHES:=1,8}" "${BENCH_SEQS:=16,32}" "${BENCH_ITERS:=3}"
  BENCH_EXTRA=(--device cpu)
  HF_EXTRA=(--device cpu --dtype float32)
  : "${BERTKIT_CUDA_ARCHITECTURES:=80-virtual}"
fi
ARCH=${BERTKIT_CUDA_ARCHITECTURES:-}
CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
if [ -z "$ARCH" ]; then
  if [[ "$CC" =~ ^[0-9]+$ ]]; then ARCH="${CC}-real"; else ARCH="80-real;86-real;89-real;90-real;90-virtual"; fi
fi
FIX=${BERTKIT_FIXTURES:-}
if [ -z "$FIX" ]; then
  for d in "$ROOT/test/fixtures" "$ROOT/../shared/fixtures" "$ROOT/.fixtures"; do
    if [ -f "$d/index.json" ]; then FIX=$(cd "$d" && pwd); break; fi
  done
fi

log "build (CUDA architectures $ARCH) into $BUILD"
if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBERTKIT_CUDA=ON "-DBERTKIT_CUDA_ARCHITECTURES=$ARCH" \
         ${FIX:+"-DBERTKIT_FIXTURES_DIR=$FIX"} --log-level=WARNING &&
       timeout 300 cmake --build "$BUILD" --parallel "$(nproc)" --target test_cuda bench_gpu; } >"$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"
  log "BUILD FAILED (full log: $OUT/build.log)"
  exit 1
fi
log "built"

log "tests: probe, kernels vs CPU references, fixtures vs CPU and goldens, BERT shapes vs CPU"
TESTS=0
(
  cd "$BUILD" &&
  ./test_cuda probe &&
  timeout 150 ./test_cuda kernels &&
  if [ -n "$FIX" ]; then timeout 60 ./test_cuda fixtures "$FIX"; else echo "SKIP fixtures: none found (set BERTKIT_FIXTURES)"; fi &&
  timeout 120 ./test_cuda model
) 2>&1 | tee "$OUT/tests.log"
TESTS=${PIPESTATUS[0]}
log "tests exit status $TESTS"

# Hopper: the wgmma GEMM is selected at run time only (BERTKIT_CUDA_WGMMA=1). Check it in its own
# process (a fault cannot spoil the runs above), and time it too when it passes.
WGMMA=skip
if [ "$DRY" != 1 ] && [ "${CC:-}" = 90 ] && [[ "$ARCH" == *90* ]]; then
  log "Hopper wgmma GEMM: self-check and kernel tests (BERTKIT_CUDA_WGMMA=1)"
  (cd "$BUILD" && BERTKIT_CUDA_WGMMA=1 timeout 150 ./test_cuda kernels) 2>&1 | tee "$OUT/tests-wgmma.log"
  if [ "${PIPESTATUS[0]}" -eq 0 ] && grep -q "v5-wgmma" "$OUT/tests-wgmma.log"; then WGMMA=pass; else WGMMA=fail; fi
  log "wgmma: $WGMMA"
fi

log "bertkit timings"
timeout 240 "$BUILD/bench_gpu" --out "$OUT/bertkit.json" --inputs "$OUT/inputs" \
  --models "${BENCH_MODELS:-base,large}" --batches "${BENCH_BATCHES:-1,8,32,128}" --seqs "${BENCH_SEQS:-128,384,512}" \
  --iters "${BENCH_ITERS:-20}" "${BENCH_EXTRA[@]}" 2>&1 | tee "$OUT/bench.log"
BENCH=${PIPESTATUS[0]}
[ "$BENCH" -eq 0 ] || log "bench_gpu exit status $BENCH"

if [ "$WGMMA" = pass ]; then
  log "bertkit timings with the wgmma GEMM"
  BERTKIT_CUDA_WGMMA=1 timeout 240 "$BUILD/bench_gpu" --out "$OUT/bertkit-wgmma.json" --inputs "$OUT/inputs" \
    --models "${BENCH_MODELS:-base,large}" --batches "${BENCH_BATCHES:-1,8,32,128}" --seqs "${BENCH_SEQS:-128,384,512}" \
    --iters "${BENCH_ITERS:-20}" 2>&1 | tee "$OUT/bench-wgmma.log"
fi

log "transformers timings (same inputs)"
timeout 240 "$PY" "$ROOT/bench/gpu/hf_bench.py" --inputs "$OUT/inputs" --out "$OUT/hf.json" --iters "${BENCH_ITERS:-20}" "${HF_EXTRA[@]}" 2>&1 | tee "$OUT/hf.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || log "hf_bench.py failed (see $OUT/hf.log); the table shows bertkit alone"

log "report"
REPORT=1
if [ -f "$OUT/bertkit.json" ] && [ "$BENCH" -eq 0 ]; then
  "$PY" "$ROOT/bench/gpu/report.py" "$OUT" --tests-status "$TESTS" --wgmma "$WGMMA"
  REPORT=$?
fi
log "done in ${SECONDS}s; results in $OUT (results.md for bench/RESULTS.md)"
[ "$TESTS" -eq 0 ] && [ "$REPORT" -eq 0 ]
