"""hoist's LLM fine-tuning path vs a bare FSDP2 loop: same tiny Llama, same batches, 2 CPU workers,
run alternately.

    .venv/bin/python bench/llm_finetune_overhead.py [--repeats 3] [--steps 120]

Both use FSDP2 (fully_shard per decoder layer) in fp32 and time from the end of step 1 to the end of
the last step (ours: one metrics window over the run, a checkpoint only at the end; the export
afterwards is not timed). Reports each run's tokens/s, the medians and the overhead.
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
sys.path.insert(0, str(ROOT))

from training.llm import tiny  # noqa: E402
from training.prepare import Settings, prepare  # noqa: E402

BATCH, BLOCK = 32, 64
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _chats(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"messages": [{"role": "user", "content": f"{a}+{b}"},
                                      {"role": "assistant", "content": str(a + b)}]})
             for a in range(100) for b in range(100)]
    (directory / "chats.jsonl").write_text("\n".join(lines) + "\n")


def ours(base: Path, shards: Path, steps: int, out: Path) -> float:
    sets = [f"base_model={base}", f"data={shards}", "parallelism=fsdp", f"steps={steps}", f"batch_size={BATCH}",
            f"block_size={BLOCK}", f"log_every={steps}", f"checkpoint_every={steps}", "progress=false",
            f"output_dir={out}"]
    args = [sys.executable, "-m", "training.launch", "--nproc", "2", "--max-restarts", "0", "--recipe", "cpu_llm"]
    for item in sets:
        args += ["--set", item]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True, env=ENV)
    line = next(x for x in run.stdout.splitlines() if x.startswith('{"start_step"'))
    return float(json.loads(line)["tokens_per_second"])


def bare(base: Path, shards: Path, steps: int) -> float:
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            str(ROOT / "bench" / "bare_fsdp_llm.py"), str(base), str(shards), str(steps), str(BATCH), str(BLOCK)]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True, env=ENV)
    return float(json.loads(run.stdout.strip().splitlines()[-1])["tokens_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = tiny.build("llama", Path(tmp) / "base")
        _chats(Path(tmp) / "raw")
        shards = Path(tmp) / "shards"
        prepare(str(Path(tmp) / "raw"), str(shards), Settings(base_model=str(base)))
        ours_runs, bare_runs = [], []
        for i in range(args.repeats):  # alternate, so drift in machine load hits both equally
            bare_runs.append(bare(base, shards, args.steps))
            ours_runs.append(ours(base, shards, args.steps, Path(tmp) / f"run-{i}"))
    ours_median, bare_median = statistics.median(ours_runs), statistics.median(bare_runs)
    print(json.dumps({"ours_tokens_per_second": ours_runs, "bare_fsdp2_tokens_per_second": bare_runs,
                      "ours_median": ours_median, "bare_median": bare_median,
                      "overhead_percent": round(100 * (1 - ours_median / bare_median), 2)}, indent=2))


if __name__ == "__main__":
    main()
