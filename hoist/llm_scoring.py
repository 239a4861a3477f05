"""Scoring an LLM as it is served: held-out exact match through the OpenAI chat route, and
perplexity from the engine's own log-probabilities of held-out examples (only the tokens the loss
mask counts, so chat prompts do not dilute it). Quantised activations are only real in the engine,
so a quantised model is judged here, not in ``transformers``."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from hoist.processes import ProcessFailed
from training.data import ExampleDataset


@dataclass(frozen=True)
class Score:
    exact_match: float
    problems: int
    p50_ms: float
    perplexity: float | None = None


def _chat(http: httpx.Client, url: str, model: str, question: str, max_tokens: int) -> tuple[str, float]:
    started = time.perf_counter()
    response = http.post(f"{url}/v1/chat/completions", timeout=120, json={
        "model": model, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
        "temperature": 0})
    if response.status_code != 200:
        raise ProcessFailed(f"the engine answered {response.status_code}: {response.text[:200]}")
    return str(response.json()["choices"][0]["message"]["content"] or "").strip(), time.perf_counter() - started


def answer(url: str, model: str, question: str, max_tokens: int = 8) -> str:
    """One greedy answer to a single-turn chat question."""
    with httpx.Client() as http:
        return _chat(http, url, model, question, max_tokens)[0]


def exact_match(url: str, model: str, problems: Sequence[tuple[str, str]], clients: int = 8,
                max_tokens: int = 8) -> Score:
    with httpx.Client(limits=httpx.Limits(max_connections=clients)) as http, \
            ThreadPoolExecutor(max_workers=clients) as pool:
        answers = list(pool.map(lambda p: _chat(http, url, model, p[0], max_tokens), problems))
    correct = sum(got == want for (got, _), (_, want) in zip(answers, problems, strict=True))
    return Score(exact_match=correct / len(problems), problems=len(problems),
                 p50_ms=round(1000 * statistics.median(latency for _, latency in answers), 2))


def perplexity(url: str, model: str, data: str, examples: int = 200) -> float:
    """exp of the mean negative log-probability of the counted tokens of the first ``examples``."""
    dataset = ExampleDataset(data, block_size=2048, seed=0)
    total, counted = 0.0, 0
    with httpx.Client() as http:
        for index in range(min(examples, dataset.examples)):
            ids, mask = dataset.example(index)
            response = http.post(f"{url}/v1/completions", timeout=120, json={
                "model": model, "prompt": ids.tolist(), "max_tokens": 1, "temperature": 0, "prompt_logprobs": 0})
            if response.status_code != 200:
                raise ProcessFailed(f"the engine answered {response.status_code}: {response.text[:200]}")
            logprobs = response.json()["choices"][0]["prompt_logprobs"]
            for position in range(1, len(ids)):
                if mask[position]:
                    total -= float(logprobs[position][str(int(ids[position]))]["logprob"])
                    counted += 1
    if not counted:
        raise ProcessFailed(f"{data}: no counted tokens to measure perplexity on")
    return math.exp(total / counted)
