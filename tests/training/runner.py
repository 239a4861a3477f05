"""Run the training launcher as the images do, in a subprocess, and read what it leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--set", "n_layer=1", "--set", "n_embd=32", "--set", "n_head=2", "--set", "batch_size=16",
        "--set", "eval_problems=20", "--set", "progress=false"]


def launch(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m training.launch ARGS`` with a clean torchrun environment."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("PET_", "MASTER_", "NNODES", "NODE_RANK", "RANK", "WORLD_SIZE", "LOCAL_RANK"))}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "training.launch", *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, check=False)


def result_of(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith('{"start_step"')]
    assert lines, run.stdout[-2000:]
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def events(output_dir: Path, name: str) -> list[dict[str, Any]]:
    lines = (output_dir / "metrics.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == name]


def load_checkpoint(directory: Path, scratch: Path) -> dict[str, Any]:
    """A DCP checkpoint as one plain dict of tensors (converted with DCP's own tool)."""
    target = scratch / f"{directory.parent.parent.name}-{directory.name}.pt"
    dcp_to_torch_save(directory, target)
    state: dict[str, Any] = torch.load(target, weights_only=False)
    return state


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict | list | tuple):
        out: dict[str, Any] = {}
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        for key, value in items:
            out |= flatten(value, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): tree}
