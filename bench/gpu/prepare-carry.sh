#!/usr/bin/env bash
# On a machine WITH Node (this repository checked out, `npm ci` done): makes everything
# bench/gpu/run.sh needs on a GPU machine without Node that git does not carry, and prints the
# list of paths to carry with the working tree (about 40 MB). See bench/gpu/README.md.
#
#   bench/gpu/prepare-carry.sh [FIXTURES_DIR]     (default: test/fixtures, else ../shared/fixtures)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

[ -f dist/index.js ] || npm run build:ts
[ -f build/Release/bertkit.node ] || npm run build:native
# The Node binary, compressed (~24 MB for Node 20).
if [ ! -f .node/node.xz ]; then
  mkdir -p .node
  xz -T2 -6 <"$(command -v node)" >.node/node.xz.tmp && mv .node/node.xz.tmp .node/node.xz
fi
# The fixture models test_cuda compares (index.json and the model folders only, ~12 MB), unless
# the repository tracks them.
CARRY_FIX=()
if [ ! -f test/fixtures/index.json ]; then
  SRC=${1:-$ROOT/../shared/fixtures}
  if [ -f "$SRC/index.json" ]; then
    rm -rf .fixtures.tmp && mkdir -p .fixtures.tmp
    cp "$SRC/index.json" .fixtures.tmp/
    for d in "$SRC"/tiny-bert-*; do cp -r "$d" .fixtures.tmp/; done
    rm -rf .fixtures && mv .fixtures.tmp .fixtures
    CARRY_FIX=(.fixtures)
  else
    echo "no fixtures found at $SRC: test_cuda fixtures will be skipped there" >&2
  fi
fi

CARRY=(.node/node.xz dist node_modules/node-api-headers node_modules/node-addon-api node_modules/node-gyp-build
       build/Release/bertkit.node "${CARRY_FIX[@]}")
du -shc "${CARRY[@]}" | tail -1
printf 'carry: ['
sep=''
for p in "${CARRY[@]}"; do printf '%s"%s"' "$sep" "$p"; sep=', '; done
printf ']\n'
echo 'command: bash bench/gpu/run.sh "$OUT/gpu-run"'
