#!/usr/bin/env bash
# GPU check of the gpu_single_node recipe: eager vs torch.compile, bf16, a few hundred steps.
# Usage (on a GPU machine): bash bench/gpu_training.sh OUT_DIR
set -euo pipefail
out=${1:-runs/gpu}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"
for compile in false true; do
  python3 -m training --recipe gpu_single_node --set steps=300 --set compile=$compile \
    --set output_dir="$out/compile-$compile" | tee "$out/result-compile-$compile.json"
done
