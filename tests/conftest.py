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
from typing import Any

import pytest
import yaml

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


SINGLE_MODEL_DEV_ENDPOINT = {"model_key": "runs/reference/model.tar.gz", "instance_type": "ml.c5.xlarge",
                             "min_instances": 1, "max_instances": 2, "traffic_shifting": "all_at_once",
                             "step_wait_s": 60, "final_bake_s": 120, "allow_apply": True}
"""The dev stack's endpoint in the single-model form: dev's file serves two models as inference components,
so the tests of the single-model path put this back in a copy of it."""


def single_model_dev(document: dict[str, Any]) -> dict[str, Any]:
    """The dev stack file's ``document`` with its inference components replaced by SINGLE_MODEL_DEV_ENDPOINT."""
    config = document["config"]
    config.pop("hoist:inference_components", None)
    config["hoist:endpoint"] = dict(SINGLE_MODEL_DEV_ENDPOINT)
    return document


@pytest.fixture
def single_model_dev_stack(stacks_copy: Path) -> Path:
    """A copy of the stack files whose dev stack serves one model on a single-variant endpoint."""
    path = stacks_copy / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(single_model_dev(yaml.safe_load(path.read_text())), sort_keys=False))
    return stacks_copy


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
