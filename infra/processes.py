"""Child processes that `hoist` starts and must always stop: training launchers and servers.

Children run in sessions of their own, so a Ctrl-C in the terminal reaches only `hoist`, which then
stops each child in order: SIGTERM first (torchrun stops its workers; the server drains), SIGKILL to
the whole process tree only if that does not finish in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc (torchrun starts workers in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        queue += children.get(pid, [])
    return tree


def stop(process: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """Stop ``process`` and everything it started; returns once they are gone."""
    if process.poll() is not None:
        return
    tree = process_tree(process.pid)
    process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    for pid in [*process_tree(process.pid), *tree]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def running(argv: Sequence[str], *, env: dict[str, str], stdout: Path, stderr: Path,
            cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with its output in files, stopped (with its descendants) however the block exits."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
        try:
            yield process
        finally:
            stop(process)
