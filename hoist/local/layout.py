"""Where a local run writes everything (mirroring the stack's buckets and SageMaker's /opt/ml), its
settings, and the summary it leaves in ``summary.json``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from infra.stack_files import PROJECT_ROOT

Lane = Literal["classic", "llm"]
LANES: tuple[Lane, ...] = ("classic", "llm")


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
    """Optimizer steps of the classic lane (default: the recipe's)."""
    nproc: int = 2
    seed: int = 0
    problems: int = 200
    """Held-out problems each model answers."""
    clients: int = 8
    """Concurrent clients, so the servers' batching is exercised as in production."""
    overrides: tuple[str, ...] = ()
    """Extra ``key=value`` training settings of the classic lane."""
    lanes: tuple[Lane, ...] = LANES
    base: Path | None = None
    """The LLM lane's base checkpoint; None builds a tiny one here."""
    llm_steps: int | None = None
    """Fine-tuning steps of the LLM lane (default: the cpu_llm recipe's)."""


@dataclass(frozen=True)
class Layout:
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
    def datasets(self) -> Path:
        return self.bucket / "datasets"

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
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def llm(self) -> Path:
        """The LLM lane's own folder: base checkpoint, raw chats, training output."""
        return self.workdir / "llm"

    def create(self) -> None:
        for directory in (self.checkpoints, self.models, self.datasets, self.training_output, self.logs, self.llm):
            directory.mkdir(parents=True, exist_ok=True)


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
    llm: dict[str, Any] = field(default_factory=dict)
    """The LLM lane: base, preparation, fine-tuning and held-out results."""
    artifacts: dict[str, str] = field(default_factory=dict)
