"""The classic lane: the reference model prepared, trained, optimised for CPU, and served by the
classic server from an ``/opt/ml/model`` layout, as SageMaker would run the serving image.

1. prepare a generated raw corpus of addition facts into token shards (``python -m training.prepare``);
2. train the reference model with torchrun workers (``python -m training.launch``), with checkpoints
   and the exported ``model.tar.gz`` in the local models "bucket" (the reference model learns from
   the task's own generator; the prepared shards are what a language-model run reads);
3. optimise it for CPU (``python -m training.optimize``: int8 weights), refused if accuracy drops;
4. for the original and the optimised artifact: extract it into an ``/opt/ml/model`` layout, start
   ``python -m serving serve``, wait for ``/ping``, and send held-out problems from concurrent clients.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import statistics
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from hoist.local.layout import Layout, LocalSettings, Summary
from hoist.local.stages import run_module, run_training
from hoist.local.tracker import Tracker
from hoist.processes import ProcessFailed, extract, serving
from training.addition import AdditionTask
from training.config import as_arguments, resolve


def generated_corpus(directory: Path, seed: int, documents: int = 4000) -> None:
    """Raw addition facts as JSON lines, with the faults a real corpus has: repeated documents, runs of
    blanks, stray control characters and an empty record."""
    rng = random.Random(seed)  # noqa: S311 (sample data, not secrets)
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(documents):
        a, b = rng.randrange(1000), rng.randrange(1000)
        text = f"{a} + {b} = {a + b}" if index % 7 else f"{a}  +\t{b}\u0007 =  {a + b}"
        lines.append(json.dumps({"text": text}))
        if index % 20 == 0:
            lines.append(json.dumps({"text": text}))  # a repeated document
    lines.append(json.dumps({"text": ""}))
    for part in range(4):
        (directory / f"part-{part}.jsonl").write_text("\n".join(lines[part::4]) + "\n")


def prepare_stage(layout: Layout, seed: int, workers: int) -> dict[str, Any]:
    generated_corpus(layout.raw, seed)
    return run_module(layout.logs, "prepare", "data preparation", [
        "training.prepare", "--input", str(layout.raw), "--output", str(layout.datasets / "addition"),
        "--workers", str(workers), "--shard-tokens", "65536"])


def train_stage(settings: LocalSettings, layout: Layout, on_step: Callable[[int], None]) -> dict[str, Any]:
    """Train through the training image's entrypoint; returns rank 0's result line."""
    sets = [f"seed={settings.seed}", f"output_dir={layout.training_output}",
            f"checkpoint_uri={layout.checkpoints}", f"export_uri={layout.models}", "progress=false",
            *([f"steps={settings.steps}"] if settings.steps else []), *settings.overrides]
    return run_training(layout.logs, "training", ["--nproc", str(settings.nproc), *as_arguments(settings.recipe, sets)],
                        layout.training_output / "metrics.jsonl", on_step)


def optimize_stage(layout: Layout, artifact: Path, problems: int, seed: int) -> dict[str, Any]:
    return run_module(layout.logs, "optimize", "optimisation", [
        "training.optimize", "--model", str(artifact), "--output", str(layout.models / "optimized"),
        "--target", "cpu", "--problems", str(problems), "--seed", str(seed)])


def heldout_problems(count: int, digits: int, seed: int) -> list[tuple[int, int]]:
    """The held-out split of the reference task: never drawn for training."""
    pairs: list[tuple[int, int]] = AdditionTask(digits=digits, seed=seed).problems(count, "heldout").tolist()
    return pairs


def invoke_stage(url: str, problems: list[tuple[int, int]], clients: int,
                 on_answer: Callable[[], None]) -> dict[str, Any]:
    """One request per problem from ``clients`` concurrent clients; exact match and latency."""
    def ask(client: httpx.Client, a: int, b: int) -> tuple[bool, float]:
        started = time.perf_counter()
        response = client.post(f"{url}/invocations", json={"inputs": [f"{a}+{b}"]}, timeout=60)
        latency = time.perf_counter() - started
        if response.status_code != 200:
            raise ProcessFailed(f"/invocations answered {response.status_code}: {response.text[:200]}")
        on_answer()
        return response.json()["outputs"][0] == str(a + b), latency

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with httpx.Client(limits=limits) as client, ThreadPoolExecutor(max_workers=clients) as pool:
        answers = list(pool.map(lambda pair: ask(client, *pair), problems))
    return {"problems": len(problems), "exact_match": sum(ok for ok, _ in answers) / len(problems),
            **latency_percentiles([latency for _, latency in answers]), "clients": clients}


def latency_percentiles(seconds: list[float]) -> dict[str, float]:
    latencies_ms = sorted(s * 1000 for s in seconds)
    percentiles = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return {"p50_ms": round(percentiles[49], 2), "p99_ms": round(percentiles[98], 2)}


def _extract_config(artifact: Path) -> str:
    with tarfile.open(artifact) as archive:
        member = archive.extractfile("config.json")
        if member is None:
            raise ProcessFailed(f"{artifact} has no config.json")
        return member.read().decode()


def run(settings: LocalSettings, layout: Layout, summary: Summary, tracker: Tracker) -> None:
    """Every stage of the classic lane, recorded in ``summary``."""
    with tracker.stage("prepare", f"{settings.nproc} processes") as done:
        summary.prepare = prepare_stage(layout, settings.seed, settings.nproc)
        cleaning = summary.prepare["cleaning"]
        done(f"{cleaning['documents_kept']} of {cleaning['documents_read']} documents kept "
             f"({cleaning['dropped_duplicates']} duplicates), {summary.prepare['tokens']} tokens in "
             f"{summary.prepare['shards']} shards")

    steps = resolve(settings.recipe, [*settings.overrides, *([f"steps={settings.steps}"] if settings.steps else [])])
    with tracker.stage("train", f"{settings.nproc} workers", total=steps.steps) as done:
        summary.training = train_stage(settings, layout, tracker.advance_to)
        done(f"loss {summary.training['final_loss']:.4f}, "
             f"exact match {summary.training['exact_match']:.1%} in training's own eval")

    artifact = Path(summary.training["artifact"])
    with tracker.stage("optimize", "int8 weights for CPU") as done:
        summary.optimize = optimize_stage(layout, artifact, settings.problems, settings.seed)
        done(f"{summary.optimize['method']}: weights x{summary.optimize['size_ratio']}, "
             f"accuracy drop {summary.optimize['accuracy_drop_points']} points")

    config = json.loads(_extract_config(artifact))
    problems = heldout_problems(settings.problems, config["task"]["digits"], settings.seed)
    optimized = Path(summary.optimize["artifact"])
    for name, model, model_dir in (("original", artifact, layout.model_dir),
                                   ("optimized", optimized, layout.optimized_model_dir)):
        with contextlib.ExitStack() as server:
            with tracker.stage(f"serve {name}", "starting") as done:
                extract(model, model_dir)
                url = server.enter_context(serving(model_dir, layout.logs))
                done(f"ready at {url}")
            with tracker.stage(f"invoke {name}", f"{len(problems)} problems", total=len(problems)) as done:
                result = invoke_stage(url, problems, settings.clients, functools.partial(tracker.advance, 1))
                done(f"exact match {result['exact_match']:.1%} on {len(problems)} held-out, "
                     f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
        summary.serving[name] = result

    summary.artifacts.update({
        "raw corpus": str(layout.raw), "shards": str(layout.datasets / "addition"),
        "checkpoints": str(layout.checkpoints), "metrics": str(layout.training_output / "metrics.jsonl"),
        "loss curve": str(layout.training_output / "loss_curve.png"), "model": str(artifact),
        "optimized model": str(optimized), "serving layout": str(layout.model_dir)})
