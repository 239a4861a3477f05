"""`hoist optimize` for LLM artifacts: quantise in the training environment, score the original and
the candidate through the serving engine, and publish the candidate only when it passes the gate.

The gate: held-out exact match on the task the model learned (``--questions``) may drop by at most
``--max-accuracy-drop`` points, and perplexity on held-out examples (``--heldout``) may rise by at
most ``--max-perplexity-rise`` percent. A refused candidate writes nothing and exits 3; one that
passes carries both sets of figures in its manifest.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hoist import engine, llm_scoring
from hoist.errors import Refused
from hoist.local.stages import run_module
from training.llm import artifact

SERVED = "model"
ENGINE_SETTINGS = {"SM_VLLM_SERVED_MODEL_NAME": SERVED}


@dataclass(frozen=True)
class Gate:
    questions: list[tuple[str, str]]
    heldout: str | None
    max_accuracy_drop: float
    max_perplexity_rise: float


def read_questions(path: Path) -> list[tuple[str, str]]:
    """JSON lines of ``{"question": ..., "answer": ...}``."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(str(row["question"]), str(row["answer"])) for row in rows]


def score_served(url: str, served: str, model_dir: Path, gate: Gate) -> dict[str, Any]:
    """Exact match, latency and perplexity of ``model_dir`` as the engine at ``url`` serves it."""
    result = asdict(llm_scoring.exact_match(url, served, gate.questions))
    if gate.heldout:
        result["perplexity"] = round(llm_scoring.perplexity(url, served, gate.heldout), 4)
    size = sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file() and p.suffix == ".safetensors")
    return {**result, "weights_bytes": size}


def score(model_dir: Path, logs: Path, gate: Gate) -> dict[str, Any]:
    """The same, with the engine started for it."""
    started = time.monotonic()
    with engine.serving(model_dir, logs, ENGINE_SETTINGS) as url:
        ready = time.monotonic() - started
        return {**score_served(url, SERVED, model_dir, gate), "engine_ready_seconds": round(ready, 1)}


def optimize(model: str, output: str, scheme: str, gate: Gate, logs: Path, calibration: str | None,
             before: dict[str, Any] | None = None) -> dict[str, Any]:
    """Quantise ``model`` with ``scheme``, score both through the engine, publish to ``output`` or refuse.
    ``before`` is the original's score where it is already being served."""
    with tempfile.TemporaryDirectory(prefix="hoist-optimize-") as tmp:
        source = Path(model) if Path(model).is_dir() else Path(tmp) / "source"
        if source != Path(model):
            artifact.fetch(model, source)
        candidate = Path(tmp) / "candidate"
        run_module(logs, f"quantize-{scheme}", f"quantising with {scheme}", [
            "training.llm.quantize", "--model", str(source), "--output", str(candidate), "--scheme", scheme,
            *(["--calibration", calibration] if calibration else [])])
        before = before or score(source, logs, gate)
        after = score(candidate, logs, gate)
        drop = round(100 * (before["exact_match"] - after["exact_match"]), 2)
        rise = round(100 * (after["perplexity"] / before["perplexity"] - 1), 2) if gate.heldout else None
        evaluation = {"scheme": scheme, "before": before, "after": after, "accuracy_drop_points": drop,
                      "perplexity_rise_percent": rise, "engine": engine.REQUIREMENTS.name}
        if drop > gate.max_accuracy_drop:
            raise Refused(f"{scheme}: held-out exact match fell {drop} points ({before['exact_match']:.1%} -> "
                          f"{after['exact_match']:.1%}), more than --max-accuracy-drop {gate.max_accuracy_drop}; "
                          "nothing was written")
        if rise is not None and rise > gate.max_perplexity_rise:
            raise Refused(f"{scheme}: held-out perplexity rose {rise}% ({before['perplexity']} -> "
                          f"{after['perplexity']}), more than --max-perplexity-rise {gate.max_perplexity_rise}%; "
                          "nothing was written")
        artifact.record_evaluation(candidate, evaluation)
        location = artifact.publish(candidate, output)
    ratio = round(after["weights_bytes"] / before["weights_bytes"], 3)
    return {**evaluation, "artifact": location, "size_ratio": ratio}
