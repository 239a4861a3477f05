"""The LLM engine tier: vLLM's CPU build started once per session on a tiny checkpoint built here,
through the LLM serving image's entrypoint, and shared by every engine test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hoist import engine
from training.llm import tiny

SERVED = "tiny"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.build("llama", tmp_path_factory.mktemp("engine") / "tiny-llama")


@pytest.fixture(scope="session")
def engine_url(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("engine-logs")
    # fp32, as the tiny model was saved: greedy tokens can then be compared with transformers exactly.
    with engine.serving(tiny_model, logs, {"SM_VLLM_SERVED_MODEL_NAME": SERVED, "SM_VLLM_DTYPE": "float32"}) as url:
        yield url
