"""Dynamic batching groups requests without changing any answer, fills batches under load, and never
makes a lone request wait for company."""

from __future__ import annotations

import json
import statistics
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serving.server import reference_model, serve

pytestmark = pytest.mark.slow
JSON = {"content-type": "application/json"}


def _echo_model(directory: Path, batch_seconds: float) -> Path:
    """A model that answers its input; one batch takes ``batch_seconds`` whatever its size."""
    code = directory / "code"
    code.mkdir(parents=True)
    (code / "inference.py").write_text(textwrap.dedent(f'''
        import time
        def model_fn(model_dir):
            return None
        def predict_fn(data, model):
            time.sleep({batch_seconds})
            return data
        def predict_batch_fn(batch, model):
            time.sleep({batch_seconds})
            return list(batch)
    '''))
    return directory


def _timed_post(client: httpx.Client, body: object) -> tuple[float, int]:
    started = time.perf_counter()
    answer = client.post("/invocations", json=body)
    assert answer.status_code == 200 and answer.json() == body
    return time.perf_counter() - started, int(answer.headers["x-hoist-batch-size"])


def test_batched_answers_equal_unbatched(tmp_path: Path) -> None:
    model = reference_model(tmp_path)
    bodies = [json.dumps({"inputs": [f"{i}+{3 * i % 1000}", f"{999 - i}+{i}"]}).encode() for i in range(64)]

    def answers(url: str, concurrency: int) -> tuple[list[list[str]], list[int]]:
        with ThreadPoolExecutor(concurrency) as pool:
            replies = list(pool.map(lambda b: httpx.post(f"{url}/invocations", content=b, timeout=60,
                                                         headers=JSON), bodies))
        assert all(r.status_code == 200 for r in replies)
        return [r.json()["outputs"] for r in replies], [int(r.headers["x-hoist-batch-size"]) for r in replies]

    with serve(model, HOIST_BATCHING="false") as (url, _):
        alone, alone_sizes = answers(url, 1)
    with serve(model, HOIST_MAX_BATCH_SIZE="16", HOIST_MAX_BATCH_DELAY_MS="20") as (url, _):
        together, sizes = answers(url, 32)
    assert set(alone_sizes) == {1}
    assert max(sizes) > 1, "concurrent requests should have been batched"
    assert together == alone


def test_a_lone_request_does_not_wait_for_the_batch_delay(tmp_path: Path) -> None:
    # A batch delay far above any scheduling noise: a request that waited for company would take 2 s.
    delay_s = 2.0
    with serve(_echo_model(tmp_path, 0.0), HOIST_MAX_BATCH_DELAY_MS=str(delay_s * 1000)) as (url, _), \
            httpx.Client(base_url=url, timeout=30) as client:
        alone = [_timed_post(client, {"n": n}) for n in range(10)]
        # A crowd, then a lone client again: at most the first request after the crowd waits.
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: _timed_post(client, {"n": n}), range(16)))
        after_crowd = [_timed_post(client, {"n": n}) for n in range(6)]
    assert {size for _, size in alone + after_crowd} == {1}
    assert max(seconds for seconds, _ in alone) < delay_s / 4, alone
    assert max(seconds for seconds, _ in after_crowd[1:]) < delay_s / 4, after_crowd


def test_a_steady_crowd_fills_its_batches(tmp_path: Path) -> None:
    clients, rounds = 8, 10
    # A delay far above how long a client on a busy machine takes to send its next request.
    with serve(_echo_model(tmp_path, 0.1), HOIST_MAX_BATCH_SIZE=str(clients),
               HOIST_MAX_BATCH_DELAY_MS="2000") as (url, _), httpx.Client(base_url=url, timeout=60) as client:
        start = threading.Barrier(clients)

        def one_client(c: int) -> list[int]:
            start.wait()
            return [_timed_post(client, {"client": c, "round": r})[1] for r in range(rounds)]
        with ThreadPoolExecutor(clients) as pool:
            sizes = [size for sizes in pool.map(one_client, range(clients)) for size in sizes]
    # Requests that arrive while a batch computes must not split the crowd into cohorts for good
    # (taking only what is queued, it stays split: no batch ever holds every client).
    full = sum(size == clients for size in sizes) / len(sizes)
    assert full >= 0.7, sorted(sizes)
    assert statistics.median(sizes) == clients


def test_bad_input_in_a_batch_fails_only_itself(tmp_path: Path) -> None:
    model = reference_model(tmp_path)
    good = [b'{"inputs": ["12+30"]}', b'{"inputs": ["999+1", "5+5"]}']
    bad = [b"{not json", b'{"inputs": "x+1"}']
    bodies = [good[0], bad[0], good[1], bad[1]] * 8
    with serve(model, HOIST_MAX_BATCH_SIZE="32", HOIST_MAX_BATCH_DELAY_MS="200") as (url, _):
        alone = {body: httpx.post(f"{url}/invocations", content=body, headers=JSON).json() for body in good}
        with ThreadPoolExecutor(32) as pool:
            replies = list(pool.map(lambda b: httpx.post(f"{url}/invocations", content=b, headers=JSON,
                                                         timeout=60), bodies))
    answered = [(body, reply) for body, reply in zip(bodies, replies, strict=True) if body in good]
    refused = [reply for body, reply in zip(bodies, replies, strict=True) if body in bad]
    assert all(reply.status_code == 200 and reply.json() == alone[body] for body, reply in answered)
    assert max(int(reply.headers["x-hoist-batch-size"]) for _, reply in answered) > 1, "should have been batched"
    assert all(reply.status_code == 400 and set(reply.json()) == {"status", "message"} for reply in refused)


def test_what_was_loaded_is_frozen_out_of_garbage_collection(tmp_path: Path) -> None:
    # A full collection walking torch and the model stalls every request for 100+ ms under load.
    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text(textwrap.dedent('''
        import gc
        import torch
        def model_fn(model_dir):
            return torch.nn.Linear(4, 4)
        def predict_fn(data, model):
            return {"frozen": gc.get_freeze_count()}
    '''))
    with serve(tmp_path) as (url, _):
        answer = httpx.post(f"{url}/invocations", json=[1.0, 2.0, 3.0, 4.0])
    assert answer.status_code == 200 and answer.json()["frozen"] > 10_000, answer.text
