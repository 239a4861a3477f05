"""Async vs synchronous checkpoints: how long training is blocked by saves, side by side.

    .venv/bin/python bench/checkpoint_async.py [--repeats 2]

One process trains a ~25M-parameter model (a ~300 MB checkpoint with AdamW state) for 40 steps,
saving every 5; the trainer reports the time its loop spent inside checkpoint calls. Async blocks
only while the state is staged to CPU memory (and while waiting for the previous save, if it is
still being written).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETS = ["n_layer=8", "n_embd=512", "n_head=8", "batch_size=32", "steps=40", "checkpoint_every=5",
        "keep_checkpoints=2", "progress=false", "eval_problems=1", "log_every=40"]


def run(use_async: bool, out: Path) -> dict[str, float]:
    args = [sys.executable, "-m", "training"]
    for item in [*SETS, f"async_checkpoint={str(use_async).lower()}", f"output_dir={out}"]:
        args += ["--set", item]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True)
    line = next(x for x in result.stdout.splitlines() if x.startswith('{"start_step"'))
    data = json.loads(line)
    return {"blocked": data["checkpoint_blocked_seconds"], "total": data["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    sync_runs, async_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            sync_runs.append(run(False, Path(tmp) / f"sync-{i}"))
            async_runs.append(run(True, Path(tmp) / f"async-{i}"))
    sync_blocked = statistics.median(r["blocked"] for r in sync_runs)
    async_blocked = statistics.median(r["blocked"] for r in async_runs)
    print(json.dumps({"sync": sync_runs, "async": async_runs, "sync_blocked_median_s": sync_blocked,
                      "async_blocked_median_s": async_blocked,
                      "blocked_ratio": round(async_blocked / sync_blocked, 3)}, indent=2))


if __name__ == "__main__":
    main()
