"""Data preparation throughput (MB/s of raw text) with 1 process and with N, side by side.

    .venv/bin/python bench/prepare_throughput.py --mb 40 --workers 2

The corpus is generated English-like JSON lines (with some repeats), written once and prepared by
each worker count into its own output; the outputs are checked to be identical.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

from training.data import read_manifest
from training.prepare import Settings, prepare

WORDS = ["model", "train", "data", "shard", "token", "clean", "text", "batch", "layer", "cloud", "stack",
         "node", "pool", "cluster", "serve", "endpoint", "image", "digest", "promote", "rollout", "alarm",
         "budget", "policy", "preview"]


def corpus(directory: Path, megabytes: float, files: int = 16) -> None:
    rng = random.Random(0)
    target = int(megabytes * 1e6 / files)
    for index in range(files):
        lines, size = [], 0
        while size < target:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 200)))
            line = json.dumps({"text": text if rng.random() > 0.02 else "a repeated document"})
            lines.append(line)
            size += len(line) + 1
        (directory / f"part-{index:03d}.jsonl").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        corpus(raw, args.mb)
        results = {}
        for workers in (1, args.workers):
            report = prepare(str(raw), str(Path(tmp) / f"out-{workers}"), Settings(), workers=workers)
            results[workers] = report
            print(f"workers={workers}: {report['raw_mb_per_second']} MB/s ({report['seconds']} s, "
                  f"{report['tokens']} tokens)")
        assert read_manifest(str(Path(tmp) / "out-1")) == read_manifest(str(Path(tmp) / f"out-{args.workers}"))
        one, many = results[1]["raw_mb_per_second"], results[args.workers]["raw_mb_per_second"]
        print(f"speed-up with {args.workers} workers: {float(many) / float(one):.2f}x; outputs identical")


if __name__ == "__main__":
    main()
