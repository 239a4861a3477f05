"""The LLM lane: a Hugging Face checkpoint fine-tuned on chat data and exported as an LLM artifact.

1. **base**: the checkpoint given with ``--base``, or a tiny random Llama built here
   (``python -m training.llm.tiny``: no model hub);
2. **prepare**: two-digit addition as chat JSON lines (every pair except the held-out ones) encoded
   with the base model's tokenizer and chat template, the loss on the answers
   (``python -m training.prepare --base-model``);
3. **fine-tune** with torchrun workers (``python -m training.launch --recipe cpu_llm``) and export the
   uncompressed artifact with its manifest into the local models "bucket";
4. **serve** the artifact with the LLM engine (vLLM's CPU build, started through the LLM serving
   image's own entrypoint) and **invoke** it with the held-out problems from concurrent clients,
   through the OpenAI client and through ``/invocations``, plain and streamed;
5. **optimise** it with W8A8 (int8 weights and activations, the scheme vLLM's CPU backend runs), scored
   against the original through the engine (exact match, perplexity on the held-out chats) and kept
   only if it passes the gate;
6. **compare**: the same problems answered by ``transformers`` from the same artifact.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import time
from pathlib import Path

from hoist import engine
from hoist import optimize as optimization
from hoist.local import llm_calls
from hoist.local.layout import Layout, LocalSettings, Summary
from hoist.local.stages import run_module, run_training
from hoist.local.tracker import Tracker
from training.config import as_arguments, resolve

DIGITS = 2
"""Operands of the chat task: two digits is what the tiny model learns on 2 cores in a few minutes
(held-out exact match near 100 % after 800 steps); three took ten times longer in trials."""
RECIPE = "cpu_llm"
SERVED_MODEL = "addition"
ENGINE_SETTINGS = {"SM_VLLM_SERVED_MODEL_NAME": SERVED_MODEL, "SM_VLLM_DTYPE": "float32"}
"""The tiny model trains and exports in fp32; serving it in fp32 answers exactly as transformers does."""


def heldout_problems(count: int, seed: int) -> list[tuple[int, int]]:
    """The held-out pairs: drawn by seed and never written into the training chats."""
    rng = random.Random(seed + 1_000_003)  # noqa: S311 (sample data, not secrets)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < min(count, 10 ** (2 * DIGITS) // 10):
        pairs.add((rng.randrange(10 ** DIGITS), rng.randrange(10 ** DIGITS)))
    return sorted(pairs)


def question(a: int, b: int) -> str:
    return f"{a}+{b}"


def chat_corpus(directory: Path, heldout: list[tuple[int, int]], seed: int) -> int:
    """Every pair except the held-out ones, once each, as chat JSON lines; returns how many."""
    excluded = set(heldout)
    pairs = [(a, b) for a in range(10 ** DIGITS) for b in range(10 ** DIGITS) if (a, b) not in excluded]
    random.Random(seed).shuffle(pairs)  # noqa: S311
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"messages": [{"role": "user", "content": question(a, b)},
                                      {"role": "assistant", "content": str(a + b)}]}) for a, b in pairs]
    for part in range(4):
        (directory / f"part-{part}.jsonl").write_text("\n".join(lines[part::4]) + "\n")
    return len(lines)


def _paths(layout: Layout) -> dict[str, Path]:
    return {"base": layout.llm / "base", "raw": layout.llm / "raw", "shards": layout.datasets / "addition-chat",
            "heldout-raw": layout.llm / "heldout-raw", "heldout": layout.datasets / "addition-chat-heldout",
            "training": layout.llm / "training", "checkpoints": layout.checkpoints / "llm",
            "model": layout.models / "llm", "quantized": layout.models / "llm-w8a8",
            "questions": layout.llm / "heldout.jsonl"}


def _write_chats(path: Path, pairs: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant",
                                                                                      "content": a}]}) + "\n"
                            for q, a in pairs))


def run(settings: LocalSettings, layout: Layout, summary: Summary, tracker: Tracker) -> None:
    """Every stage of the LLM lane, recorded in ``summary.llm``."""
    paths = _paths(layout)
    with tracker.stage("llm base", "tiny Llama" if settings.base is None else str(settings.base)) as done:
        if settings.base is None:
            run_module(layout.logs, "llm-base", "building the tiny base model",
                       ["training.llm.tiny", "--family", "llama", "--output", str(paths["base"]),
                        "--seed", str(settings.seed)])
            base = paths["base"]
        else:
            base = settings.base
        summary.llm["base"] = str(base)
        done(f"{base}")

    problems = heldout_problems(settings.problems, settings.seed)
    pairs = [(question(a, b), str(a + b)) for a, b in problems]
    with tracker.stage("llm prepare", "chat data, the model's tokenizer") as done:
        chats = chat_corpus(paths["raw"], problems, settings.seed)
        summary.llm["prepare"] = run_module(layout.logs, "llm-prepare", "chat data preparation", [
            "training.prepare", "--input", str(paths["raw"]), "--output", str(paths["shards"]),
            "--base-model", str(base), "--workers", str(settings.nproc)])
        # The held-out problems as chats too: the optimisation gate measures perplexity on them.
        _write_chats(paths["heldout-raw"] / "heldout.jsonl", pairs)
        run_module(layout.logs, "llm-prepare-heldout", "held-out chat preparation", [
            "training.prepare", "--input", str(paths["heldout-raw"]), "--output", str(paths["heldout"]),
            "--base-model", str(base), "--workers", "1"])
        done(f"{chats} chats, {summary.llm['prepare']['tokens']} tokens, loss on the answers")

    sets = [f"base_model={base}", f"data={paths['shards']}", f"seed={settings.seed}",
            f"output_dir={paths['training']}", f"checkpoint_uri={paths['checkpoints']}",
            f"export_uri={paths['model']}", "progress=false",
            *([f"steps={settings.llm_steps}"] if settings.llm_steps else [])]
    steps = resolve(RECIPE, sets).steps
    with tracker.stage("llm fine-tune", f"{settings.nproc} workers", total=steps) as done:
        summary.llm["training"] = run_training(layout.logs, "llm-training",
                                               ["--nproc", str(settings.nproc), *as_arguments(RECIPE, sets)],
                                               paths["training"] / "metrics.jsonl", tracker.advance_to)
        result = summary.llm["training"]
        done(f"loss {result['final_loss']:.4f}, {result['tokens_per_second']:,.0f} tokens/s, "
             f"{result['trainable_parameters']:,} parameters trained")

    artifact = Path(summary.llm["training"]["artifact"])
    gate = optimization.Gate(pairs, str(paths["heldout"]), max_accuracy_drop=1.0, max_perplexity_rise=10.0)
    with tracker.stage("llm engine", "vLLM's CPU build in .venv-vllm") as done:
        installed = engine.VENV.exists()
        engine.ensure_venv(layout.logs / "llm-engine-install.log")
        done("installed" if installed else f"installed now into {engine.VENV} (first use)")
    with contextlib.ExitStack() as server:
        with tracker.stage("llm serve", "vLLM (CPU build)") as done:
            started = time.monotonic()
            url = server.enter_context(engine.serving(artifact, layout.logs, ENGINE_SETTINGS))
            summary.llm["engine_ready_seconds"] = round(time.monotonic() - started, 1)
            done(f"vLLM ready at {url}")
        with tracker.stage("llm invoke", f"{len(pairs)} problems", total=len(pairs)) as done:
            summary.llm["serving"] = llm_calls.invoke_stage(url, SERVED_MODEL, pairs, settings.clients,
                                                           functools.partial(tracker.advance, 1))
            served = summary.llm["serving"]
            done(f"exact match {served['exact_match']:.1%} on {len(pairs)} held-out (OpenAI and /invocations, "
                 f"plain and streamed), p50 {served['p50_ms']} ms")
        with tracker.stage("llm optimize", "W8A8 (int8 weights and activations), gated") as done:
            before = optimization.score_served(url, SERVED_MODEL, artifact, gate)
            server.close()  # the quantised model gets the cores to itself
            summary.llm["optimize"] = optimization.optimize(
                str(artifact), str(paths["quantized"]), "w8a8", gate, layout.logs, str(paths["shards"]), before)
            result = summary.llm["optimize"]
            done(f"w8a8: weights x{result['size_ratio']}, exact match {result['after']['exact_match']:.1%}, "
                 f"perplexity {result['before']['perplexity']} -> {result['after']['perplexity']}")

    with tracker.stage("llm compare", "the same problems in transformers") as done:
        paths["questions"].write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in pairs))
        summary.llm["transformers"] = run_module(layout.logs, "llm-evaluate", "evaluation", [
            "training.llm.evaluate", "--model", str(artifact), "--problems", str(paths["questions"])])
        done(f"exact match {summary.llm['transformers']['exact_match']:.1%} in transformers")
    summary.artifacts.update({"llm base": str(base), "llm shards": str(paths["shards"]), "llm artifact": str(artifact),
                              "llm quantized": str(paths["quantized"]),
                              "llm metrics": str(paths["training"] / "metrics.jsonl")})
