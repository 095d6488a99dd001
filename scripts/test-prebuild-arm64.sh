#!/usr/bin/env bash
# The linux-arm64 prebuild, run: Debian 12's arm64 Node.js (18, Node-API 9) under qemu-user loads
# prebuilds/linux-arm64 from a copy of the package (dist/ and prebuilds/ only, so nothing else can
# be picked up), runs a fixture model's forward and `bertkit doctor`, and the forward is compared
# with the linux-x64 prebuild's on this machine. Not part of CI (it fetches Debian's arm64 Node.js
# packages once into .cache/arm64-node and takes a few minutes under emulation). After
# `node scripts/prebuild.mjs` (which builds both):
#   apt-get install qemu-user g++-aarch64-linux-gnu && bash scripts/test-prebuild-arm64.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ls prebuilds/linux-arm64/*.node prebuilds/linux-x64/*.node >/dev/null || { echo "build the prebuilds first: node scripts/prebuild.mjs"; exit 1; }
[ -d dist/chunks ] || { echo "build dist/ first: npm run build:ts"; exit 1; }
command -v qemu-aarch64 >/dev/null || { echo "qemu-aarch64 is missing: apt-get install qemu-user"; exit 1; }
[ -d /usr/aarch64-linux-gnu/lib ] || { echo "the aarch64 C/C++ runtime is missing: apt-get install g++-aarch64-linux-gnu"; exit 1; }

# An arm64 Node.js: Debian's packages unpacked (never installed) into a root for qemu's -L.
sysroot="$root/.cache/arm64-node"
if [ ! -x "$sysroot/usr/bin/node" ]; then
  debs=$(mktemp -d)
  added=no
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; added=yes; fi
  apt-get update -qq
  (cd "$debs" && apt-get download -qq nodejs:arm64 libnode108:arm64 libuv1:arm64 libbrotli1:arm64 libc-ares2:arm64 \
     libicu72:arm64 libnghttp2-14:arm64 libssl3:arm64 zlib1g:arm64 node-acorn node-cjs-module-lexer node-undici node-busboy)
  if [ "$added" = yes ]; then dpkg --remove-architecture arm64; apt-get update -qq; fi
  mkdir -p "$sysroot/lib"
  for d in "$debs"/*.deb; do dpkg -x "$d" "$sysroot"; done
  cp -a /usr/aarch64-linux-gnu/lib/*.so* "$sysroot/lib/"
  rm -rf "$debs"
fi
node64() {
  qemu-aarch64 -L "$sysroot" -E "LD_LIBRARY_PATH=$sysroot/usr/lib/aarch64-linux-gnu:$sysroot/lib/aarch64-linux-gnu:$sysroot/lib" "$sysroot/usr/bin/node" "$@"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg="$work/node_modules/bertkit"
mkdir -p "$pkg/dist/cli"
cp package.json "$pkg/"
cp -r dist/index.js dist/chunks "$pkg/dist/"
cp dist/cli/main.js "$pkg/dist/cli/"
cp -r prebuilds "$pkg/"
cp -r node_modules/node-gyp-build "$work/node_modules/"
fixtures="${BERTKIT_SHARED_DIR:+$BERTKIT_SHARED_DIR/fixtures}"
model="${fixtures:-$root/test/fixtures}/tiny-bert-model"

# The library bundle itself, not the package entry: Debian 12's arm64 Node.js is 18, which cannot
# require() ES modules as the entry does on first use (it needs ^20.19 or >= 22.12). The addon is
# what this checks.
cat > "$work/forward.mjs" <<'EOF'
const { loadModel, cpuInfo } = await import('./node_modules/bertkit/dist/chunks/bertkit.js');
const model = await loadModel(process.argv[2], { device: 'cpu', threads: 1 });
const out = await model.forward(model.tokenizer.encodeBatch(['the arm64 prebuild under qemu', 'NEON kernels'], { padding: 'longest' }));
console.log(JSON.stringify({ arch: process.arch, isa: cpuInfo().isa, dims: out.lastHiddenState.dims, data: Array.from(out.lastHiddenState.data) }));
await model.dispose();
EOF
cd "$work"
echo "== arm64 (qemu): $(node64 -p 'process.arch + " Node.js " + process.version')"
node64 forward.mjs "$model" > arm64.json
node forward.mjs "$model" > x64.json
node -e '
const [a, b] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
if (a.arch !== "arm64") throw new Error(`ran on ${a.arch}`);
if (JSON.stringify(a.dims) !== JSON.stringify(b.dims)) throw new Error(`dims ${a.dims} vs ${b.dims}`);
let d = 0; for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
// Different FMA contraction and vector widths (NEON vs AVX-512) reorder float32 sums: 1e-4 on
// values up to ~6 is a few float32 ulps per layer, well under any real difference.
if (!(d <= 1e-4)) throw new Error(`arm64 (${a.isa}) and x64 (${b.isa}) differ by ${d}`);
console.log(`arm64 ${a.isa} vs x64 ${b.isa}: last_hidden_state ${a.dims.join("x")}, max |diff| = ${d.toExponential(2)}`);' arm64.json x64.json
node64 "$pkg/dist/cli/main.js" doctor | sed -n '1,5p'
node64 "$pkg/dist/cli/main.js" doctor | grep -q '^ok  cpu addon   *prebuild: .*linux-arm64' || { echo "doctor on arm64 does not report the prebuild"; exit 1; }
echo "arm64 prebuild: ok"
