"""The LLM engine's contract, through the OpenAI routes and vLLM's SageMaker routes: streaming equals
not streaming for greedy decoding, bad bodies are 4xx JSON and the engine keeps serving, and its
greedy tokens are transformers' for the same artifact."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from hoist.engine import LOCAL_SETTINGS
from hoist.release.invoke import sse_data, text_pieces
from hoist.sizing import ModelShape, kv_bytes_per_token
from tests.serving.llm.conftest import SERVED

pytestmark = [pytest.mark.engine, pytest.mark.slow]
CHAT = {"messages": [{"role": "user", "content": "12+30"}], "max_tokens": 12, "temperature": 0}
PROMPTS = ["order 123", "the model", "hello world 9"]


def _post(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=120)


def _streamed(url: str, path: str, body: dict[str, Any]) -> str:
    with httpx.stream("POST", f"{url}{path}", json={**body, "stream": True}, timeout=120) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        return "".join(text_pieces(sse_data(response.iter_bytes())))


def test_health_models_and_metrics(engine_url: str) -> None:
    assert httpx.get(f"{engine_url}/ping", timeout=10).status_code == 200
    assert [m["id"] for m in httpx.get(f"{engine_url}/v1/models", timeout=10).json()["data"]] == [SERVED]
    _post(engine_url, "/v1/chat/completions", {**CHAT, "model": SERVED})
    metrics = httpx.get(f"{engine_url}/metrics", timeout=10).text
    for name in ("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds", "vllm:kv_cache_usage_perc"):
        assert f"{name}_bucket" in metrics or f"{name}{{" in metrics, name


def test_invocations_dispatch_by_body_shape(engine_url: str) -> None:
    chat = _post(engine_url, "/invocations", CHAT)
    assert chat.status_code == 200 and chat.json()["object"] == "chat.completion"
    completion = _post(engine_url, "/invocations", {"prompt": "order 12", "max_tokens": 4, "temperature": 0})
    assert completion.status_code == 200 and completion.json()["object"] == "text_completion"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/invocations"])
def test_streaming_equals_not_streaming(engine_url: str, path: str) -> None:
    body = {**CHAT, "model": SERVED} if path.startswith("/v1") else CHAT
    whole = _post(engine_url, path, body).json()["choices"][0]["message"]["content"]
    assert whole and _streamed(engine_url, path, body) == whole


@pytest.mark.parametrize("body", [
    {"inputs": "1+1", "parameters": {"max_new_tokens": 4}},
    {"messages": "not a list"},
    {"prompt": "x", "max_tokens": -3},
])
def test_bad_bodies_are_4xx_json_and_the_engine_keeps_serving(engine_url: str, body: dict[str, Any]) -> None:
    response = _post(engine_url, "/invocations", body)
    assert 400 <= response.status_code < 500, response.text
    assert isinstance(response.json(), dict)
    assert _post(engine_url, "/invocations", CHAT).status_code == 200


def test_greedy_tokens_are_transformers_tokens(engine_url: str, tiny_model: Path) -> None:
    model: Any = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model, local_files_only=True)
    for prompt in PROMPTS:
        served = _post(engine_url, "/v1/completions", {"model": SERVED, "prompt": prompt, "max_tokens": 16,
                                                        "temperature": 0, "ignore_eos": True,
                                                        "return_token_ids": True}).json()["choices"][0]
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        expected = model.generate(ids, max_new_tokens=16, do_sample=False, min_new_tokens=16)[0, ids.shape[1]:]
        assert served["token_ids"] == expected.tolist(), json.dumps(served)[:300]


def test_the_engines_kv_cache_holds_what_sizing_says(engine_url: str, tiny_model: Path) -> None:
    """hoist's KV-cache figure per token, checked against the blocks the engine itself allocated in its fixed
    cache (``vllm:cache_config_info``): the cache holds ``cache bytes // (block × bytes a token)`` blocks."""
    info = next(line for line in httpx.get(f"{engine_url}/metrics", timeout=10).text.splitlines()
                if line.startswith("vllm:cache_config_info{"))
    labels = dict(re.findall(r'(\w+)="([^"]*)"', info))
    blocks, block_size = int(labels["num_gpu_blocks"]), int(labels["block_size"])
    shape = ModelShape.from_config(json.loads((tiny_model / "config.json").read_text()))
    per_token = kv_bytes_per_token(shape, "float32")  # the engine tier serves the tiny model in fp32
    cache_bytes = int(LOCAL_SETTINGS["SM_VLLM_KV_CACHE_MEMORY_BYTES"])
    assert blocks == cache_bytes // (block_size * per_token), (blocks, block_size, per_token)
