#!/usr/bin/env bash
# One GPU check: the gpu_single_node recipe (eager vs torch.compile, bf16) and the serving benchmark
# (batched vs unbatched) on the GPU. Usage: bash bench/gpu_check.sh OUT_DIR
set -euo pipefail
out=${1:-runs/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"
for compile in false true; do
  python3 -m training --recipe gpu_single_node --set steps=300 --set compile=$compile --set progress=false \
    --set checkpoint_every=300 --set output_dir="$out/compile-$compile" | tee "$out/result-compile-$compile.json"
done
python3 bench/serving_bench.py --seconds 8 --rounds 3 --servers hoist-batched,hoist-unbatched --models reference,mlp \
  --clients 1,8,32 | tee "$out/serving.txt"
