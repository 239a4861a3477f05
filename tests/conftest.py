"""Shared fixtures: offline plans of every stack, computed once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hoist import engine
from hoist.plan import recording
from hoist.plan.recording import Plan
from infra import stack_files
from infra.stack_files import PROJECT_ROOT

STACKS = ("dev", "staging", "prod")
_cache: dict[tuple[str, bool], Plan] = {}


def planned(stack: str, preview: bool = False) -> Plan:
    """The plan of ``stack``; cached because every test only reads it."""
    key = (stack, preview)
    if key not in _cache:
        _cache[key] = recording.record(stack, preview=preview)
    return _cache[key]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@dataclass(frozen=True)
class Lifecycle:
    """One `hoist local` run, shared: its end-to-end test reads it, and later tests reuse its model."""

    workdir: Path
    result: subprocess.CompletedProcess[str]
    seconds: float
    problems: int

    @property
    def model(self) -> Path:
        return self.workdir / "bucket" / "models" / "model.tar.gz"


@pytest.fixture(scope="session")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> Lifecycle:
    workdir = tmp_path_factory.mktemp("lifecycle")
    problems = 200
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "COLUMNS": "120"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "hoist.cli", "local", "--workdir", str(workdir), "--seed", "0",
                             "--problems", str(problems)], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=1800, check=False)
    return Lifecycle(workdir, result, time.monotonic() - started, problems)


@pytest.fixture
def stacks_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the stack files that the code under test reads and may edit."""
    stacks = tmp_path / "stacks"
    shutil.copytree(stack_files.STACKS_DIR, stacks)
    monkeypatch.setattr(stack_files, "STACKS_DIR", stacks)
    return stacks


@pytest.fixture
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials that moto accepts and no real AWS endpoint would."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)


SERVED = "tiny"
"""The name the shared engine serves the tiny model under."""


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.llm import tiny  # torch and transformers: only for the sessions that need the model

    return tiny.build("llama", tmp_path_factory.mktemp("engine") / "tiny-llama")


@pytest.fixture(scope="session")
def engine_url(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The LLM engine tier: vLLM's CPU build through the LLM image's entrypoint, started once per session on the
    tiny model and shared by every engine test."""
    logs = tmp_path_factory.mktemp("engine-logs")
    # fp32, as the tiny model was saved: greedy tokens can then be compared with transformers exactly.
    with engine.serving(tiny_model, logs, {"SM_VLLM_SERVED_MODEL_NAME": SERVED, "SM_VLLM_DTYPE": "float32"}) as url:
        yield url
