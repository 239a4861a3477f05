"""A corpus larger than the memory training uses: shards are memory-mapped and verified in a stream,
never read whole (the corpus here is several times the peak resident memory allowed)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.training.runner import ROOT

CORPUS_BYTES = 3 << 30
PEAK_LIMIT = 1 << 30
"""The training process may hold at most a third of the corpus; torch alone takes ~0.3 GB."""

pytestmark = pytest.mark.slow


def _write_big_shards(directory: Path, shards: int = 2) -> None:
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    entries = []
    for index in range(shards):
        name = f"shard-{index:05d}.bin"
        digest = hashlib.sha256()
        with (directory / name).open("wb") as handle:
            for _ in range(CORPUS_BYTES // shards // (64 << 20)):
                chunk = rng.integers(0, 256, size=32 << 20, dtype=np.uint16).tobytes()
                handle.write(chunk)
                digest.update(chunk)
        tokens = (directory / name).stat().st_size // 2
        entries.append({"path": name, "tokens": tokens, "sha256": digest.hexdigest()})
    manifest = {"format_version": 1, "tokenizer": {"type": "byte", "vocab_size": 256}, "dtype": "uint16",
                "shards": entries}
    (directory / "manifest.json").write_text(json.dumps(manifest))


def test_training_on_a_corpus_three_times_its_memory(tmp_path: Path) -> None:
    data = tmp_path / "big"
    _write_big_shards(data)
    size = sum(p.stat().st_size for p in data.glob("shard-*"))
    assert size >= 3 * PEAK_LIMIT
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    settings = [f"data={data}", "steps=5", "block_size=64", "batch_size=8", "n_layer=1", "n_embd=32", "n_head=2",
                "progress=false", f"output_dir={tmp_path / 'out'}"]
    run = subprocess.run([sys.executable, "-m", "tests.training.peak_rss", "training", "--recipe", "cpu_debug",
                          *[arg for setting in settings for arg in ("--set", setting)]],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["final_loss"] > 0 and result["start_step"] == 0
    peak = int(re.findall(r"peak_rss_bytes=(\d+)", run.stderr)[-1])
    assert peak < PEAK_LIMIT, f"training held {peak / 2**30:.2f} GiB for a {size / 2**30:.1f} GiB corpus"
