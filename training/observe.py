"""What rank 0 shows and records: a progress bar, metrics as JSON lines, and a loss-curve PNG."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Recorder:
    """Rank 0's view of the run. Other ranks get a recorder that does nothing."""

    def __init__(self, output_dir: Path, total_steps: int, *, enabled: bool, show_progress: bool) -> None:
        self.enabled = enabled
        self.output_dir = output_dir
        self._file = None
        self._progress: Progress | None = None
        self._task = None
        if not enabled:
            return
        output_dir.mkdir(parents=True, exist_ok=True)
        self._file = (output_dir / "metrics.jsonl").open("a")
        if show_progress:
            self._progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]} tok/s"),
                TimeRemainingColumn(),
            )
            self._task = self._progress.add_task("train", total=total_steps, loss="-", speed="-")

    def __enter__(self) -> Recorder:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
        if self._file is not None:
            self._file.close()

    def event(self, name: str, **fields: Any) -> None:
        if self._file is not None:
            self._file.write(json.dumps({"event": name, **fields}) + "\n")
            self._file.flush()

    def advance(self, step: int, loss: float | None = None, tokens_per_second: float | None = None) -> None:
        if self._progress is None or self._task is None:
            return
        fields: dict[str, str] = {}
        if loss is not None:
            fields["loss"] = f"{loss:.4f}"
        if tokens_per_second is not None:
            fields["speed"] = f"{tokens_per_second:,.0f}"
        self._progress.update(self._task, completed=step)
        self._progress.tasks[self._task].fields.update(fields)


def loss_curve(metrics: Path, png: Path) -> None:
    """Plot loss by step from a metrics file (all attempts, so a resumed run shows its restart)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    steps = [p["step"] for p in points if p.get("event") == "step"]
    losses = [p["loss"] for p in points if p.get("event") == "step"]
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    axes.plot(steps, losses, marker=".", linewidth=1)
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("loss (answer tokens)")
    axes.set_title("training loss")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(png)
    plt.close(figure)
