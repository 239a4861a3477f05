"""`hoist local`: the whole lifecycle on one machine with no cloud, through the same entrypoints the
images run.

1. plan the dev stack offline (resources, policy pack, monthly cost);
2. prepare a generated raw corpus of addition facts into token shards (``python -m training.prepare``),
   into the local datasets "bucket";
3. train the reference model with torchrun workers through ``python -m training.launch``, with
   checkpoints and the exported ``model.tar.gz`` in the local models "bucket" (the reference model
   learns from the task's own generator; the prepared shards are what a language-model run reads);
4. optimise it for CPU (``python -m training.optimize``: int8 weights), refused if accuracy drops;
5. for the original and the optimised artifact: extract it into an ``/opt/ml/model`` layout, start
   ``python -m serving serve`` as SageMaker starts the serving image, wait for ``/ping``, and send
   held-out problems through ``/invocations`` from concurrent clients;
6. report each stage's time and result, both models' accuracy and latency side by side, and where
   every artifact is.

Every child runs in a session of its own and is stopped however the run ends (Ctrl-C included).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import statistics
import sys
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hoist.plan import cost, policies, recording
from hoist.processes import ProcessFailed, child_env, extract, running, serving, tail
from infra.stack_files import PROJECT_ROOT
from training.addition import AdditionTask
from training.config import as_arguments
from training.config import resolve as resolve_training


def default_workdir(kind: str) -> Path:
    """``runs/<kind>/<UTC time>`` in the checkout: where a local run writes everything by default."""
    return PROJECT_ROOT / "runs" / kind / dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")


@dataclass(frozen=True, kw_only=True)
class LocalSettings:
    workdir: Path
    """Everything the run writes: the local bucket, the /opt/ml layout, logs and the summary."""
    stack: str = "dev"
    recipe: str = "cpu_debug"
    steps: int | None = None
    """Optimizer steps (default: the recipe's)."""
    nproc: int = 2
    seed: int = 0
    problems: int = 200
    """Held-out problems sent through /invocations."""
    clients: int = 8
    """Concurrent clients, so the server's dynamic batching is exercised as in production."""
    overrides: tuple[str, ...] = ()
    """Extra ``key=value`` training settings."""


@dataclass(frozen=True)
class Layout:
    """Where each artifact lives, mirroring the stack's buckets and SageMaker's /opt/ml."""

    workdir: Path

    @property
    def bucket(self) -> Path:
        return self.workdir / "bucket"

    @property
    def checkpoints(self) -> Path:
        return self.bucket / "checkpoints"

    @property
    def models(self) -> Path:
        return self.bucket / "models"

    @property
    def training_output(self) -> Path:
        return self.workdir / "training"

    @property
    def model_dir(self) -> Path:
        return self.workdir / "opt" / "ml" / "model"

    @property
    def optimized_model_dir(self) -> Path:
        return self.workdir / "opt-optimized" / "ml" / "model"

    @property
    def raw(self) -> Path:
        return self.workdir / "raw"

    @property
    def datasets(self) -> Path:
        return self.bucket / "datasets"

    def create(self) -> None:
        for directory in (self.checkpoints, self.models, self.training_output, self.logs):
            directory.mkdir(parents=True, exist_ok=True)

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"


@dataclass
class StageResult:
    name: str
    seconds: float
    result: str


@dataclass
class Summary:
    workdir: str
    stages: list[StageResult] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)
    prepare: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    optimize: dict[str, Any] = field(default_factory=dict)
    serving: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


def plan_stage(stack: str) -> dict[str, Any]:
    planned = recording.record(stack)
    policy = policies.evaluate(planned)
    estimate = cost.estimate(planned)
    return {"stack": stack, "resources": len([r for r in planned.resources if r.custom]),
            "policies": len(policy.policies), "violations": len(policy.violations),
            "monthly_usd": round(estimate.monthly_max_usd, 2)}


def _last_step(metrics: Path) -> int:
    try:
        lines = metrics.read_text().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line still being written
        if event.get("event") == "step":
            return int(event["step"])
    return 0


def train_stage(settings: LocalSettings, layout: Layout, on_step: Callable[[int], None]) -> dict[str, Any]:
    """Train through the training image's entrypoint; returns rank 0's result line."""
    sets = [f"seed={settings.seed}", f"output_dir={layout.training_output}",
            f"checkpoint_uri={layout.checkpoints}", f"export_uri={layout.models}", "progress=false",
            *([f"steps={settings.steps}"] if settings.steps else []), *settings.overrides]
    argv = [sys.executable, "-m", "training.launch", "--nproc", str(settings.nproc),
            *as_arguments(settings.recipe, sets)]
    stdout, stderr = layout.logs / "training.stdout", layout.logs / "training.log"
    metrics = layout.training_output / "metrics.jsonl"
    with running(argv, env=child_env(OMP_NUM_THREADS="1"), stdout=stdout, stderr=stderr) as process:
        while process.poll() is None:
            on_step(_last_step(metrics))
            time.sleep(0.25)
    if process.returncode != 0:
        raise ProcessFailed(f"training failed (exit {process.returncode}): {tail(stderr)} — full log: {stderr}")
    on_step(_last_step(metrics))
    result: dict[str, Any] = json.loads(stdout.read_text().strip().splitlines()[-1])
    return result


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
    latencies_ms = sorted(latency * 1000 for _, latency in answers)
    percentiles = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return {"problems": len(problems), "exact_match": sum(ok for ok, _ in answers) / len(problems),
            "p50_ms": round(percentiles[49], 2), "p99_ms": round(percentiles[98], 2), "clients": clients}


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description:<8}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console, transient=False)


def run_lifecycle(settings: LocalSettings, console: Console) -> Summary:
    """Every stage in order; each stage's time and result are recorded in ``summary.json``."""
    layout = Layout(settings.workdir)
    layout.create()
    summary = Summary(workdir=str(settings.workdir))

    def stage(name: str, started: float, result: str) -> None:
        summary.stages.append(StageResult(name, round(time.monotonic() - started, 2), result))

    with _progress(console) as progress:
        started = time.monotonic()
        task = progress.add_task("plan", total=1, note=f"stack {settings.stack}")
        summary.plan = plan_stage(settings.stack)
        progress.update(task, completed=1, note=f"{summary.plan['resources']} resources, "
                        f"{summary.plan['violations']} violations, ${summary.plan['monthly_usd']:,.2f}/month")
        stage("plan", started, progress.tasks[task].fields["note"])

        started = time.monotonic()
        task = progress.add_task("prepare", total=1, note=f"{settings.nproc} processes")
        summary.prepare = prepare_stage(layout, settings.seed, settings.nproc)
        progress.update(task, completed=1)
        cleaning = summary.prepare["cleaning"]
        stage("prepare", started, f"{cleaning['documents_kept']} of {cleaning['documents_read']} documents kept "
              f"({cleaning['dropped_duplicates']} duplicates), {summary.prepare['tokens']} tokens in "
              f"{summary.prepare['shards']} shards")

        started = time.monotonic()
        steps = resolve_training(settings.recipe, [*settings.overrides, *(
            [f"steps={settings.steps}"] if settings.steps else [])]).steps
        task = progress.add_task("train", total=steps, note=f"{settings.nproc} workers")
        summary.training = train_stage(settings, layout, lambda step: progress.update(task, completed=step))
        stage("train", started, f"loss {summary.training['final_loss']:.4f}, "
              f"exact match {summary.training['exact_match']:.1%} in training's own eval")

        started = time.monotonic()
        artifact = Path(summary.training["artifact"])
        task = progress.add_task("optimize", total=1, note="int8 weights for CPU")
        summary.optimize = optimize_stage(layout, artifact, settings.problems, settings.seed)
        progress.update(task, completed=1)
        stage("optimize", started, f"{summary.optimize['method']}: weights x{summary.optimize['size_ratio']}, "
              f"accuracy drop {summary.optimize['accuracy_drop_points']} points")

        config = json.loads(_extract_config(artifact))
        problems = heldout_problems(settings.problems, config["task"]["digits"], settings.seed)
        optimized = Path(summary.optimize["artifact"])
        for name, model, model_dir in (("original", artifact, layout.model_dir),
                                       ("optimized", optimized, layout.optimized_model_dir)):
            started = time.monotonic()
            task = progress.add_task("serve", total=len(problems), note=f"{name}: starting")
            extract(model, model_dir)
            with serving(model_dir, layout.logs) as url:
                progress.update(task, note=f"{name}: {url} ready")
                stage(f"serve {name}", started, f"ready at {url}")
                started = time.monotonic()
                result = invoke_stage(url, problems, settings.clients, functools.partial(progress.advance, task))
            summary.serving[name] = result
            stage(f"invoke {name}", started, f"exact match {result['exact_match']:.1%} on {len(problems)} "
                  f"held-out, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")

    summary.artifacts = {
        "raw corpus": str(layout.raw), "shards": str(layout.datasets / "addition"),
        "checkpoints": str(layout.checkpoints), "metrics": str(layout.training_output / "metrics.jsonl"),
        "loss curve": str(layout.training_output / "loss_curve.png"), "model": str(artifact),
        "optimized model": str(optimized), "serving layout": str(layout.model_dir), "logs": str(layout.logs),
    }
    (settings.workdir / "summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


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


def _run_stage(layout: Layout, name: str, what: str, argv: list[str]) -> dict[str, Any]:
    """Run one stage's module to completion; its last stdout line is its JSON report."""
    stdout, stderr = layout.logs / f"{name}.stdout", layout.logs / f"{name}.log"
    with running([sys.executable, "-m", *argv], env=child_env(), stdout=stdout, stderr=stderr) as process:
        process.wait()
    if process.returncode != 0:
        raise ProcessFailed(f"{what} failed (exit {process.returncode}): {tail(stderr)} — log: {stderr}")
    report: dict[str, Any] = json.loads(stdout.read_text().strip().splitlines()[-1])
    return report


def prepare_stage(layout: Layout, seed: int, workers: int) -> dict[str, Any]:
    generated_corpus(layout.raw, seed)
    return _run_stage(layout, "prepare", "data preparation", [
        "training.prepare", "--input", str(layout.raw), "--output", str(layout.datasets / "addition"),
        "--workers", str(workers), "--shard-tokens", "65536"])


def optimize_stage(layout: Layout, artifact: Path, problems: int, seed: int) -> dict[str, Any]:
    return _run_stage(layout, "optimize", "optimisation", [
        "training.optimize", "--model", str(artifact), "--output", str(layout.models / "optimized"),
        "--target", "cpu", "--problems", str(problems), "--seed", str(seed)])


def _extract_config(artifact: Path) -> str:
    with tarfile.open(artifact) as archive:
        member = archive.extractfile("config.json")
        if member is None:
            raise ProcessFailed(f"{artifact} has no config.json")
        return member.read().decode()


def print_summary(summary: Summary, console: Console) -> None:
    stages = Table(title="hoist local", title_justify="left")
    for column in ("stage", "seconds", "result"):
        stages.add_column(column)
    for s in summary.stages:
        stages.add_row(s.name, f"{s.seconds:.1f}", s.result)
    console.print(stages)
    models = Table(title="original and optimised model, served", title_justify="left")
    for column in ("model", "exact match", "p50 ms", "p99 ms", "weights"):
        models.add_column(column)
    sizes = {"original": summary.optimize.get("before", {}).get("weights_bytes"),
             "optimized": summary.optimize.get("after", {}).get("weights_bytes")}
    for name, result in summary.serving.items():
        size = sizes.get(name)
        models.add_row(name, f"{result['exact_match']:.1%}", str(result["p50_ms"]), str(result["p99_ms"]),
                       f"{size / 1e6:.2f} MB" if size else "-")
    console.print(models)
    artifacts = Table(show_header=False, box=None)
    for name, path in summary.artifacts.items():
        artifacts.add_row(name, path)
    console.print(artifacts)
