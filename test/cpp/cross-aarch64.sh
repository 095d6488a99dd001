#!/usr/bin/env bash
# The engine on aarch64 (NEON through the same vector code): cross-compiles the kernel tests and
# runs them under qemu-user. Not part of `npm test` (it needs Debian's g++-aarch64-linux-gnu and
# qemu-user-static); run it after touching native/cpu:
#   apt-get install g++-aarch64-linux-gnu qemu-user-static && bash test/cpp/cross-aarch64.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
srcs=(native/core/model.cc native/core/weight_reader.cc native/cpu/cpu_features.cc native/cpu/cpu_model.cc
      native/cpu/gemm.cc native/cpu/gemm_bf16.cc native/cpu/gemm_int8.cc native/cpu/kernels.cc
      native/cpu/thread_pool.cc native/cpu/ref/reference.cc test/cpp/test_kernels.cc)
aarch64-linux-gnu-g++ -O2 -std=c++17 -ffp-contract=fast -Wall -Wno-psabi -Werror -Inative -Inative/include \
  "${srcs[@]}" -o "$out/test_kernels" -lpthread
qemu-aarch64-static -L /usr/aarch64-linux-gnu "$out/test_kernels"
