"""One scratch directory per session for the tiny checkpoints and shards the LLM tests share."""

from __future__ import annotations

import pytest

from tests.training.llm import models


@pytest.fixture(scope="session", autouse=True)
def llm_scratch(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not models._SCRATCH:
        models._SCRATCH.append(tmp_path_factory.mktemp("llm"))
