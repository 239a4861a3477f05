"""The last check `hoist deploy` runs on an LLM artifact before it writes a promotion: the local engine
(vLLM's CPU build, started through the LLM image's own entrypoint as on SageMaker) serves the downloaded
artifact and answers a chat request through SageMaker's route, ``POST /invocations`` with a
``messages`` body, which vLLM's SageMaker router dispatches to chat completion. An artifact the engine
cannot load, or a model that answers no token, is refused in one line.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hoist import engine
from hoist.processes import ProcessFailed
from hoist.release.deploy import DeployError
from infra.config import LlmEngineConfig

CHAT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "temperature": 0}
"""A short greedy chat request: it proves the weights, the tokenizer and the chat template work together."""

Serving = Callable[[Path, Path, Mapping[str, str]], contextlib.AbstractContextManager[str]]


@dataclass(frozen=True, kw_only=True)
class ChatAnswer:
    text: str
    tokens: int
    latency_ms: float


def settings(llm: LlmEngineConfig) -> dict[str, str]:
    """The stack's engine settings that decide whether the weights load (dtype, quantisation); the rest
    (memory, lengths, batch) are the local engine's own."""
    env = llm.environment()
    return {key: env[key] for key in ("SM_VLLM_DTYPE", "SM_VLLM_QUANTIZATION") if key in env
            and env[key] != "auto"}


def _local_engine(model_dir: Path, logs: Path, env: Mapping[str, str]) -> contextlib.AbstractContextManager[str]:
    return engine.serving(model_dir, logs, env)


def check_chat(model_dir: Path, logs: Path, llm: LlmEngineConfig, *, serving: Serving | None = None) -> ChatAnswer:
    """Serve ``model_dir`` in the local engine (or ``serving``) and have it answer a chat request, or raise
    DeployError."""
    try:
        with (serving or _local_engine)(model_dir, logs, settings(llm)) as url:
            started = time.perf_counter()
            response = httpx.post(f"{url}/invocations", json=CHAT, timeout=300)
            latency = (time.perf_counter() - started) * 1000
    except ProcessFailed as exc:
        raise DeployError(f"the LLM engine does not serve the artifact: {exc}") from None
    except httpx.HTTPError as exc:
        raise DeployError(f"the LLM engine did not answer the chat request: {exc}") from None
    if response.status_code != 200:
        raise DeployError(f"the LLM engine refused the chat request through /invocations: {response.status_code} "
                          f"{' '.join(response.text.split())[:200]}")
    text, tokens = _answer(response)
    if tokens < 1:
        raise DeployError("the LLM engine answered the chat request with no token; check the artifact's "
                          "generation config and chat template")
    return ChatAnswer(text=text, tokens=tokens, latency_ms=latency)


def _answer(response: httpx.Response) -> tuple[str, int]:
    try:
        body: dict[str, Any] = response.json()
        return str(body["choices"][0]["message"]["content"] or ""), int(body["usage"]["completion_tokens"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise DeployError(f"the LLM engine's answer is not a chat completion: {response.text[:200]}") from None
