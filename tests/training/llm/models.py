"""Tiny checkpoints and chat data for the LLM tests, built here once per session (no model hub)."""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

from training.llm import tiny
from training.prepare import Settings, prepare

ROOT = Path(__file__).resolve().parents[3]
_SCRATCH: list[Path] = []


def scratch() -> Path:
    """A directory that lives for the test session (set by the conftest fixture)."""
    return _SCRATCH[0]


@cache
def checkpoint(family: str = "llama", seed: int = 0) -> Path:
    return tiny.build(family, scratch() / f"tiny-{family}-{seed}", seed=seed)


def addition_chats(count: int, seed: int = 0, heldout: set[tuple[int, int]] | None = None) -> list[dict[str, object]]:
    """Two-digit addition as single-turn chats; pairs in ``heldout`` are never drawn."""
    rng = random.Random(seed)
    chats: list[dict[str, object]] = []
    while len(chats) < count:
        a, b = rng.randrange(100), rng.randrange(100)
        if heldout and (a, b) in heldout:
            continue
        chats.append({"messages": [{"role": "user", "content": f"{a}+{b}"},
                                   {"role": "assistant", "content": str(a + b)}]})
    return chats


@cache
def shards(family: str = "llama", examples: int = 400, seed: int = 0) -> Path:
    """Addition chats prepared with ``family``'s tiny tokenizer (seed 0)."""
    raw = scratch() / f"chats-{examples}"
    raw.mkdir(exist_ok=True)
    (raw / "part-0.jsonl").write_text("".join(json.dumps(c) + "\n" for c in addition_chats(examples)))
    output = scratch() / f"shards-{family}-{examples}-{seed}"
    prepare(str(raw), str(output), Settings(base_model=str(checkpoint(family, seed))), workers=1)
    return output
