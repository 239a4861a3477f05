"""Calling the local LLM engine as users do: the OpenAI client on ``/v1``, and SageMaker's route
``/invocations``, each plain and streamed. Held-out problems go round-robin over the four ways from
concurrent clients; exact match, latency and (streamed) time to first token are reported per way."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from openai import OpenAI

from hoist.processes import ProcessFailed
from hoist.release.invoke import sse_data, text_pieces

WAYS = ("openai", "openai-stream", "invocations", "invocations-stream")
MAX_TOKENS = 8


def _messages(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def ask(url: str, model: str, way: str, question: str, client: OpenAI, http: httpx.Client) -> tuple[str, float, float]:
    """The answer, the latency and the time to the first piece (seconds), asked one way."""
    started = time.perf_counter()
    first = 0.0
    if way == "openai":
        reply = client.chat.completions.create(model=model, messages=_messages(question),  # type: ignore[arg-type]
                                               max_tokens=MAX_TOKENS, temperature=0)
        answer = reply.choices[0].message.content or ""
    elif way == "openai-stream":
        pieces = []
        stream: Any = client.chat.completions.create(model=model, messages=_messages(question),  # type: ignore[arg-type]
                                                     max_tokens=MAX_TOKENS, temperature=0, stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter() - started
                pieces.append(chunk.choices[0].delta.content)
        answer = "".join(pieces)
    else:
        body = {"messages": _messages(question), "max_tokens": MAX_TOKENS, "temperature": 0,
                "stream": way == "invocations-stream"}
        if way == "invocations":
            response = http.post(f"{url}/invocations", json=body, timeout=120)
            if response.status_code != 200:
                raise ProcessFailed(f"/invocations answered {response.status_code}: {response.text[:200]}")
            answer = response.json()["choices"][0]["message"]["content"] or ""
        else:
            pieces = []
            with http.stream("POST", f"{url}/invocations", json=body, timeout=120) as response:
                if response.status_code != 200:
                    raise ProcessFailed(f"/invocations answered {response.status_code}")
                for piece in text_pieces(sse_data(response.iter_bytes())):
                    first = first or time.perf_counter() - started
                    pieces.append(piece)
            answer = "".join(pieces)
    elapsed = time.perf_counter() - started
    return answer.strip(), elapsed, first or elapsed


def _percentile(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return round(1000 * statistics.quantiles(ordered, n=100, method="inclusive")[q - 1], 2) if len(ordered) > 1 \
        else round(1000 * ordered[0], 2)


def invoke_stage(url: str, model: str, problems: list[tuple[str, str]], clients: int,
                 on_answer: Callable[[], None]) -> dict[str, Any]:
    client = OpenAI(base_url=f"{url}/v1", api_key="local", max_retries=0, timeout=120)
    ways = list(itertools.islice(itertools.cycle(WAYS), len(problems)))
    with httpx.Client(limits=httpx.Limits(max_connections=clients)) as http, \
            ThreadPoolExecutor(max_workers=clients) as pool:
        def one(item: tuple[str, tuple[str, str]]) -> tuple[str, bool, float, float]:
            way, (question, expected) = item
            answer, latency, first = ask(url, model, way, question, client, http)
            on_answer()
            return way, answer == expected, latency, first

        results = list(pool.map(one, zip(ways, problems, strict=True)))
    by_way = {way: [r for r in results if r[0] == way] for way in WAYS}
    return {
        "problems": len(problems), "clients": clients,
        "exact_match": sum(ok for _, ok, _, _ in results) / len(results),
        "p50_ms": _percentile([r[2] for r in results], 50), "p99_ms": _percentile([r[2] for r in results], 99),
        "ways": {way: {"problems": len(rows), "exact_match": sum(ok for _, ok, _, _ in rows) / max(1, len(rows)),
                       "p50_ms": _percentile([r[2] for r in rows], 50),
                       "time_to_first_token_p50_ms": _percentile([r[3] for r in rows], 50)}
                 for way, rows in by_way.items() if rows},
    }
