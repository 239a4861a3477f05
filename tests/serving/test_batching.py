"""Dynamic batching groups requests without changing any answer."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serving.server import reference_model, serve

pytestmark = pytest.mark.slow


def test_batched_answers_equal_unbatched(tmp_path: Path) -> None:
    model = reference_model(tmp_path)
    bodies = [json.dumps({"inputs": [f"{i}+{3 * i % 1000}", f"{999 - i}+{i}"]}).encode() for i in range(64)]

    def answers(url: str, concurrency: int) -> tuple[list[list[str]], list[int]]:
        with ThreadPoolExecutor(concurrency) as pool:
            replies = list(pool.map(lambda b: httpx.post(f"{url}/invocations", content=b, timeout=60,
                                                         headers={"content-type": "application/json"}), bodies))
        assert all(r.status_code == 200 for r in replies)
        return [r.json()["outputs"] for r in replies], [int(r.headers["x-hoist-batch-size"]) for r in replies]

    with serve(model, HOIST_BATCHING="false") as (url, _):
        alone, alone_sizes = answers(url, 1)
    with serve(model, HOIST_MAX_BATCH_SIZE="16", HOIST_MAX_BATCH_DELAY_MS="20") as (url, _):
        together, sizes = answers(url, 32)
    assert set(alone_sizes) == {1}
    assert max(sizes) > 1, "concurrent requests should have been batched"
    assert together == alone
