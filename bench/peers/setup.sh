#!/usr/bin/env bash
# Sets up the benchmark peers apart from the package's own install, and the BERT-base model they
# all run: bench/peers/setup.sh MODEL_DIR
#  - npm packages: onnxruntime-node and @huggingface/transformers (ONNXRUNTIME_NODE_INSTALL=skip:
#    its install script would download CUDA files from outside npm; the CPU binaries are in the
#    npm package);
#  - MODEL_DIR: seeded random BERT-base weights in Hugging Face layout plus the ONNX export with
#    identical weights (../shared/tools/refbert/make-bert-base.sh), and a copy of the ONNX
#    external-data file under the name transformers.js looks for (onnx/model.onnx_data).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
MODEL="${1:?usage: bench/peers/setup.sh MODEL_DIR}"
(cd "$HERE" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund)
"$HERE/../../../shared/tools/refbert/make-bert-base.sh" "$MODEL"
# transformers.js passes the external data to onnxruntime as onnx/model.onnx_data, while the
# export names it model.onnx.data inside the graph: rewrite the graph's reference once.
if [ ! -f "$MODEL/onnx/model.onnx_data" ]; then
  PY=python3
  for p in python3 /usr/bin/python3; do "$p" -c 'import onnx' 2>/dev/null && PY="$p" && break; done
  "$PY" - "$MODEL/onnx" <<'PY'
import os, sys, onnx
d = sys.argv[1]
m = onnx.load(os.path.join(d, "model.onnx"), load_external_data=True)
onnx.save_model(m, os.path.join(d, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                location="model.onnx_data", size_threshold=1024)
os.remove(os.path.join(d, "model.onnx.data"))
PY
fi
echo "peers ready; model in $MODEL"
