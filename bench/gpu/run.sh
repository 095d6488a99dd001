#!/usr/bin/env bash
# The GPU check in one go, on a machine with an NVIDIA GPU, nvcc, CMake and Python with PyTorch
# and transformers, without network and without Node.js (a Node binary is carried, xz'd): build
# (test_cuda, bench_gpu and the CUDA addon), the C++ tests, BERT-base/large timings with
# cuBLASLt and with bertkit's own kernels, float32 mode, the Node path next to the engine, the
# batcher, and Hugging Face transformers (fp16 + SDPA, and float32 with TF32 off) on the same
# inputs, one table. Sized for one call of at most 10 minutes (about 8 on an H100/H200); every
# step has its own time limit and the whole stays under RUN_BUDGET seconds.
#
#   bench/gpu/run.sh OUT_DIR
#
# Writes into OUT_DIR: gpu.txt, build.log, tests.log, bertkit*.json (+ inputs*/), hf*.json,
# node.json, node.md, results.json, results.md (the table with card, date and commit, for
# bench/RESULTS.md), and each step's log. See bench/gpu/README.md (how to carry Node and the rest).
# Environment (all optional):
#   NODE_XZ                     the xz-compressed Node binary (default .node/node.xz; else `node` on PATH; else the Node steps are skipped)
#   RUN_STEPS                   default build,tests,bench,node,hf (a subset to rerun a part; build is needed once per build folder)
#   RUN_BUDGET                  seconds for the whole script (default 570)
#   BERTKIT_CUDA_ARCHITECTURES  default: this GPU's own (e.g. 90-real), the quickest build
#   BERTKIT_FIXTURES            the fixtures folder (default: test/fixtures of this checkout)
#   BERTKIT_GPU_BUILD           build folder (default: build-gpu/ in the repository, git-ignored)
#   BENCH_MODELS (base,large)  BENCH_BATCHES (1,8,32,128)  BENCH_SEQS (128,512)  BENCH_ITERS (20)
#   PYTHON                      the Python with torch and transformers (default: python3)
#   BERTKIT_GPU_DRY_RUN=1       no GPU: the same steps on the CPU with a tiny model (checks this script)
set -uo pipefail
OUT=${1:?usage: bench/gpu/run.sh OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
BUILD=${BERTKIT_GPU_BUILD:-$ROOT/build-gpu}
PY=${PYTHON:-python3}
STEPS=",${RUN_STEPS:-build,tests,bench,node,hf},"
BUDGET=${RUN_BUDGET:-570}
SECONDS=0
log() { echo "== [$(printf '%3d' "$SECONDS")s] $*"; }
want() { [[ "$STEPS" == *",$1,"* ]]; }
# A step's time limit: its own cap, or what is left of the budget (keeping 15 s for the report).
limit() { local left=$((BUDGET - SECONDS - 15)); [ "$left" -lt "$1" ] && echo $((left > 5 ? left : 5)) || echo "$1"; }
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
NODE_EXTRA=()
if [ "$DRY" = 1 ]; then
  log "DRY RUN: CPU engine and CPU PyTorch, tiny model; not a benchmark"
  : "${BENCH_MODELS:=tiny}" "${BENCH_BATCHES:=1,8}" "${BENCH_SEQS:=16,32}" "${BENCH_ITERS:=3}"
  BENCH_EXTRA=(--device cpu)
  HF_EXTRA=(--device cpu --dtype float32)
  NODE_EXTRA=(--device cpu --shapes 8x16 --clients 16 --rounds 1)
  : "${BERTKIT_CUDA_ARCHITECTURES:=80-virtual}"
fi
ITERS=${BENCH_ITERS:-20}
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

# Node: the carried binary (xz'd), else one on PATH. The CUDA addon is built below, next to the tests.
NODE=""
NODE_XZ=${NODE_XZ:-$ROOT/.node/node.xz}
if [ -f "$NODE_XZ" ]; then
  mkdir -p "$BUILD/node"
  if { command -v xz >/dev/null && xz -dc "$NODE_XZ" >"$BUILD/node/node"; } ||
     "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$NODE_XZ" "$BUILD/node/node"; then
    chmod +x "$BUILD/node/node" && NODE="$BUILD/node/node"
  fi
elif command -v node >/dev/null; then
  NODE=$(command -v node)
fi
NAPI_INC=""
if [ -f "$ROOT/node_modules/node-api-headers/include/node_api.h" ] && [ -f "$ROOT/node_modules/node-addon-api/napi.h" ]; then
  NAPI_INC="$ROOT/node_modules/node-api-headers/include;$ROOT/node_modules/node-addon-api"
fi
# cuBLASLt: the model finds libcublasLt.so.13/.12 by soname and under CUDA_HOME, CUDA_PATH and
# /usr/local/cuda; here also next to this nvcc and in PyTorch's wheel, so the check uses it.
if [ -z "${BERTKIT_CUBLASLT:-}" ]; then
  NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  NVCC_ROOT=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
  TORCH_LT=$("$PY" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib", "libcublasLt.so.13"))' 2>/dev/null || true)
  for f in "$NVCC_ROOT"/lib64/libcublasLt.so.13 "$NVCC_ROOT"/targets/*/lib/libcublasLt.so.13 "$TORCH_LT" \
           "$NVCC_ROOT"/lib64/libcublasLt.so.12 "$NVCC_ROOT"/targets/*/lib/libcublasLt.so.12; do
    if [ -n "$f" ] && [ -f "$f" ]; then export BERTKIT_CUBLASLT="$f"; break; fi
  done
fi
log "cuBLASLt: ${BERTKIT_CUBLASLT:-none found next to nvcc or in PyTorch, the model searches by soname}"
if [ -n "$NODE" ]; then log "node $("$NODE" --version 2>&1) ($NODE)"; else log "no Node binary (NODE_XZ, .node/node.xz or PATH): the Node steps are skipped"; fi
[ -n "$NAPI_INC" ] || log "no node_modules/node-api-headers + node-addon-api: the CUDA addon is not built, the Node steps are skipped"

if want build; then
  TARGETS=(test_cuda bench_gpu)
  [ -n "$NAPI_INC" ] && TARGETS+=(bertkit_cuda_addon)
  log "build (CUDA architectures $ARCH: ${TARGETS[*]}) into $BUILD"
  if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBERTKIT_CUDA=ON "-DBERTKIT_CUDA_ARCHITECTURES=$ARCH" \
           ${FIX:+"-DBERTKIT_FIXTURES_DIR=$FIX"} ${NAPI_INC:+"-DBERTKIT_NODE_API_INC=$NAPI_INC"} --log-level=WARNING &&
         timeout "$(limit 330)" cmake --build "$BUILD" --parallel "$(nproc)" --target "${TARGETS[@]}"; } >"$OUT/build.log" 2>&1; then
    tail -40 "$OUT/build.log"
    log "BUILD FAILED (full log: $OUT/build.log)"
    exit 1
  fi
  log "built"
fi

TESTS=0
if want tests; then
  log "tests: probe, cuBLASLt (loader, choice, products), kernels, fixtures, BERT shapes (cuBLASLt, then own kernels)"
  (
    cd "$BUILD" || exit 1
    st=0
    ./test_cuda probe || st=1
    timeout "$(limit 60)" ./test_cuda cublaslt || st=1
    timeout "$(limit 120)" ./test_cuda kernels || st=1
    if [ -n "$FIX" ]; then timeout "$(limit 60)" ./test_cuda fixtures "$FIX" || st=1; else echo "SKIP fixtures: none found (set BERTKIT_FIXTURES)"; fi
    timeout "$(limit 150)" ./test_cuda model || st=1
    echo "-- the same BERT shapes on bertkit's own GEMM kernels (BERTKIT_CUBLASLT=0)"
    BERTKIT_CUBLASLT=0 timeout "$(limit 120)" ./test_cuda model || st=1
    exit $st
  ) 2>&1 | tee "$OUT/tests.log"
  TESTS=${PIPESTATUS[0]}
  log "tests exit status $TESTS"
fi

BENCH=1
if want bench; then
  log "bertkit timings (fp16; GEMMs as the model chooses: cuBLASLt where it loads)"
  timeout "$(limit 150)" "$BUILD/bench_gpu" --out "$OUT/bertkit.json" --inputs "$OUT/inputs" \
    --models "${BENCH_MODELS:-base,large}" --batches "${BENCH_BATCHES:-1,8,32,128}" --seqs "${BENCH_SEQS:-128,512}" \
    --iters "$ITERS" "${BENCH_EXTRA[@]}" 2>&1 | tee "$OUT/bench.log"
  BENCH=${PIPESTATUS[0]}
  [ "$BENCH" -eq 0 ] || log "bench_gpu exit status $BENCH"
  if [ "$DRY" != 1 ]; then
    log "bertkit timings on its own kernels (BERTKIT_CUBLASLT=0), BERT-base"
    BERTKIT_CUBLASLT=0 timeout "$(limit 60)" "$BUILD/bench_gpu" --out "$OUT/bertkit-own.json" --inputs "$OUT/inputs-own" \
      --models base --batches "${BENCH_BATCHES:-1,8,32,128}" --seqs "${BENCH_SEQS:-128,512}" --iters "$ITERS" --no-parity \
      --output-cases none 2>&1 | tee "$OUT/bench-own.log"
    log "bertkit float32 mode, BERT-base 32x128 and 128x128"
    timeout "$(limit 60)" "$BUILD/bench_gpu" --out "$OUT/bertkit-fp32.json" --inputs "$OUT/inputs-fp32" --precision float32 \
      --models base --batches 32,128 --seqs 128 --iters 10 --output-cases none 2>&1 | tee "$OUT/bench-fp32.log"
  fi
fi

if want node && [ -n "$NODE" ] && [ -f "$BUILD/bertkit_cuda.node" ]; then
  if [ -f "$ROOT/dist/index.js" ]; then
    log "the Node path next to the engine (fp16 128x128, 32x512) and the batcher (256 clients x 128 tokens)"
    BERTKIT_CUDA_ADDON="$BUILD/bertkit_cuda.node" timeout "$(limit 120)" "$NODE" "$ROOT/bench/gpu/node-bench.mjs" \
      --engine "$OUT/bertkit.json" --out "$OUT/node.json" --md "$OUT/node.md" --iters "$ITERS" "${NODE_EXTRA[@]}" 2>&1 | tee "$OUT/node.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || log "node-bench failed (see $OUT/node.log)"
  else
    log "no dist/ (npm run build:ts, and carry it): the Node steps are skipped"
  fi
fi

if want hf; then
  log "transformers fp16 + SDPA (same inputs)"
  timeout "$(limit 150)" "$PY" "$ROOT/bench/gpu/hf_bench.py" --inputs "$OUT/inputs" --out "$OUT/hf.json" --iters "$ITERS" "${HF_EXTRA[@]}" 2>&1 | tee "$OUT/hf.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || log "hf_bench.py failed (see $OUT/hf.log); the table shows bertkit alone"
  if [ "$DRY" != 1 ] && [ -d "$OUT/inputs-fp32" ]; then
    log "transformers float32, TF32 off (the float32 contender)"
    timeout "$(limit 60)" "$PY" "$ROOT/bench/gpu/hf_bench.py" --inputs "$OUT/inputs-fp32" --out "$OUT/hf-fp32.json" --iters 10 \
      --dtype float32 --tf32 off --cases 32x128,128x128 2>&1 | tee "$OUT/hf-fp32.log"
  fi
fi

log "report"
REPORT=1
if [ -f "$OUT/bertkit.json" ] && [ "$BENCH" -eq 0 ]; then
  ALT=()
  [ -f "$OUT/bertkit-own.json" ] && ALT=(--alt bertkit-own.json --alt-label own)
  "$PY" "$ROOT/bench/gpu/report.py" "$OUT" --tests-status "$TESTS" "${ALT[@]}"
  REPORT=$?
fi
log "done in ${SECONDS}s; results in $OUT (results.md for bench/RESULTS.md)"
# A dry run checks the plumbing: its bars (a tiny model on the CPU) mean nothing.
[ "$DRY" = 1 ] && [ "$REPORT" -ne 0 ] && [ -f "$OUT/results.md" ] && REPORT=0
[ "$TESTS" -eq 0 ] && [ "$REPORT" -eq 0 ]
