"""Our training loop vs a bare DDP loop, same model, data and steps, 2 CPU workers, run side by side.

    .venv/bin/python bench/training_overhead.py [--repeats 3] [--steps 300]

Both are timed from the end of step 1 to the end of the last step (ours: one metrics window spanning
the run, with checkpointing only at the end). Reports the median throughput of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = {"n_layer": 2, "n_embd": 128, "n_head": 4, "batch_size": 64}


def ours(steps: int, out: Path) -> float:
    sets = [f"{k}={v}" for k, v in MODEL.items()] + [
        f"steps={steps}", f"log_every={steps}", f"checkpoint_every={steps}", "progress=false", "eval_problems=1",
        f"output_dir={out}"]
    args = [sys.executable, "-m", "training.launch", "--nproc", "2", "--max-restarts", "0"]
    for item in sets:
        args += ["--set", item]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True)
    line = next(x for x in run.stdout.splitlines() if x.startswith('{"start_step"'))
    return float(json.loads(line)["tokens_per_second"])


def bare(steps: int) -> float:
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            str(ROOT / "bench" / "bare_ddp.py"), str(steps), str(MODEL["n_layer"]), str(MODEL["n_embd"]),
            str(MODEL["n_head"]), str(MODEL["batch_size"])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    return float(json.loads(run.stdout.strip().splitlines()[-1])["tokens_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    ours_runs, bare_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):  # alternate, so drift in machine load hits both equally
            bare_runs.append(bare(args.steps))
            ours_runs.append(ours(args.steps, Path(tmp) / f"run-{i}"))
    ours_median, bare_median = statistics.median(ours_runs), statistics.median(bare_runs)
    print(json.dumps({"ours_tokens_per_second": ours_runs, "bare_ddp_tokens_per_second": bare_runs,
                      "ours_median": ours_median, "bare_median": bare_median,
                      "overhead_percent": round(100 * (1 - ours_median / bare_median), 2)}, indent=2))


if __name__ == "__main__":
    main()
