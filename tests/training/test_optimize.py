"""`python -m training.optimize`: int8 for CPU and bf16 for GPU, scored through the artifact's own
handler, refused when accuracy drops too far, and served by the unchanged server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import Lifecycle
from tests.serving.server import serve

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "hoist.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def trained(lifecycle: Lifecycle) -> Path:
    """The reference model `hoist local` trained (2 workers, the lifecycle's recipe), shared with its test."""
    assert lifecycle.result.returncode == 0, lifecycle.result.stderr[-2000:]
    summary = json.loads((lifecycle.workdir / "summary.json").read_text())
    assert summary["training"]["exact_match"] >= 0.95
    return lifecycle.model


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_int8_is_smaller_keeps_accuracy_and_is_served_unchanged(trained: Path, tmp_path: Path) -> None:
    result = run("optimize", "--model", str(trained), "--output", str(tmp_path / "int8"), "--target", "cpu",
                 "--problems", "200")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["method"] == "int8-weight-per-channel" and len(report["layers"]) == 8
    assert report["size_ratio"] < 0.35
    assert report["accuracy_drop_points"] <= 1.0 and report["after"]["exact_match"] >= 0.95
    artifact = Path(report["artifact"])
    model_dir = tmp_path / "model"
    with tarfile.open(artifact) as tar:
        tar.extractall(model_dir, filter="data")
    written = json.loads((model_dir / "optimization.json").read_text())
    assert written["before"] == report["before"] and written["after"] == report["after"]
    with serve(model_dir) as (url, _):
        answer = httpx.post(f"{url}/invocations", json={"inputs": ["123+456", "999+1"]}, timeout=30)
    assert answer.status_code == 200 and answer.json() == {"outputs": ["579", "1000"]}


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_broken_setting_is_refused_and_writes_nothing(trained: Path, tmp_path: Path) -> None:
    result = run("optimize", "--model", str(trained), "--output", str(tmp_path / "two-bit"), "--target", "cpu",
                 "--bits", "2", "--problems", "200")
    assert result.returncode == 3
    assert result.stderr.strip().startswith("training.optimize: error: refused: exact match fell")
    assert not (tmp_path / "two-bit").exists()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_bf16_for_gpus_halves_the_weights(trained: Path, tmp_path: Path) -> None:
    result = run("optimize", "--model", str(trained), "--output", str(tmp_path / "bf16"), "--target", "gpu",
                 "--problems", "100")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["method"] == "bf16" and 0.45 < report["size_ratio"] < 0.55
    assert report["accuracy_drop_points"] <= 1.0


def test_bad_optimize_input_is_one_line(tmp_path: Path) -> None:
    result = run("optimize", "--model", str(tmp_path / "missing.tar.gz"), "--output", str(tmp_path), "--target",
                 "cpu")
    assert result.returncode == 2 and "no such artifact" in result.stderr and result.stderr.count("\n") == 1
