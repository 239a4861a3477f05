"""Progress on the terminal and the record of each stage's time and result, kept together."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from hoist.local.layout import StageResult, Summary


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console, transient=False)


class Tracker:
    def __init__(self, progress: Progress, summary: Summary) -> None:
        self.progress = progress
        self.summary = summary
        self._task: TaskID | None = None

    @contextmanager
    def stage(self, name: str, note: str, total: int = 1) -> Iterator[Callable[[str], None]]:
        """A stage on the progress bar; the block calls the yielded function with its result line."""
        task = self.progress.add_task(name, total=total, note=note)
        self._task = task
        started = time.monotonic()
        result = [note]

        def done(text: str) -> None:
            result[0] = text
            self.progress.update(task, completed=total, note=text)

        yield done
        self.summary.stages.append(StageResult(name, round(time.monotonic() - started, 2), result[0]))

    def advance_to(self, completed: int) -> None:
        if self._task is not None:
            self.progress.update(self._task, completed=completed)

    def advance(self, steps: int) -> None:
        if self._task is not None:
            self.progress.advance(self._task, steps)
