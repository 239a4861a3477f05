"""Running one stage's entrypoint as a child process: its logs in files, its JSON report read back."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hoist.processes import ProcessFailed, child_env, running, tail


def run_module(logs: Path, name: str, what: str, argv: list[str], **env: str) -> dict[str, Any]:
    """``python -m ARGV`` to completion; its last stdout line is its JSON report."""
    stdout, stderr = logs / f"{name}.stdout", logs / f"{name}.log"
    with running([sys.executable, "-m", *argv], env=child_env(**env), stdout=stdout, stderr=stderr) as process:
        process.wait()
    if process.returncode != 0:
        raise ProcessFailed(f"{what} failed (exit {process.returncode}): {tail(stderr)} — log: {stderr}")
    return _report(stdout, what)


def _report(stdout: Path, what: str) -> dict[str, Any]:
    """The JSON object on the last line a stage printed."""
    lines = stdout.read_text().strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        raise ProcessFailed(f"{what} printed no JSON report on its last line — output: {stdout}")
    return report


def last_step(metrics: Path) -> int:
    """The newest step rank 0 has logged."""
    try:
        lines = metrics.read_text().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line still being written
        if event.get("event") == "step":
            return int(event["step"])
    return 0


def run_training(logs: Path, name: str, launcher_args: list[str], metrics: Path,
                 on_step: Callable[[int], None]) -> dict[str, Any]:
    """The training image's entrypoint (``python -m training.launch``), following its steps; returns
    rank 0's result line."""
    stdout, stderr = logs / f"{name}.stdout", logs / f"{name}.log"
    argv = [sys.executable, "-m", "training.launch", *launcher_args]
    with running(argv, env=child_env(OMP_NUM_THREADS="1"), stdout=stdout, stderr=stderr) as process:
        while process.poll() is None:
            on_step(last_step(metrics))
            time.sleep(0.25)
    if process.returncode != 0:
        raise ProcessFailed(f"{name} failed (exit {process.returncode}): {tail(stderr)} — full log: {stderr}")
    on_step(last_step(metrics))
    return _report(stdout, name)
