"""Child processes that `hoist` starts and must always stop: stage entrypoints, training launchers
and local servers.

Children run in sessions of their own, so a Ctrl-C in the terminal reaches only `hoist`, which then
stops each child in order: SIGTERM first (torchrun stops its workers; the server drains), SIGKILL to
the whole process tree only if that does not finish in time. Children import the project from this
checkout, as the images import it from /opt/hoist.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from hoist.errors import CommandFailed
from infra.stack_files import PROJECT_ROOT


class ProcessFailed(CommandFailed):
    """A child that failed or never became ready; one line, naming it and where its log is."""


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: this checkout importable, output unbuffered, plus ``extra``."""
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


def tail(path: Path, lines: int = 3) -> str:
    """The last lines of a log, on one line, for an error message."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def extract(archive: Path, model_dir: Path) -> None:
    """Unpack a model.tar.gz as SageMaker does into ``/opt/ml/model``; unsafe members are refused."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(model_dir, filter="data")


@contextlib.contextmanager
def serving(model_dir: Path, logs: Path, timeout_s: float = 120.0) -> Iterator[str]:
    """The serving image's entrypoint on 127.0.0.1 serving ``model_dir``, started as SageMaker starts
    it and waited for on ``/ping``; yields its URL and stops it when the block ends."""
    port = free_port()
    env = child_env(SM_MODEL_DIR=str(model_dir), SAGEMAKER_BIND_TO_PORT=str(port), HOIST_HOST="127.0.0.1")
    logs.mkdir(parents=True, exist_ok=True)
    stderr = logs / "serving.log"
    url = f"http://127.0.0.1:{port}"
    with running([sys.executable, "-m", "serving", "serve"], env=env, stdout=logs / "serving.stdout",
                 stderr=stderr) as process:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise ProcessFailed(f"the server exited (code {process.returncode}): {tail(stderr)} — log: {stderr}")
            try:
                ping = httpx.get(f"{url}/ping", timeout=2)
            except httpx.TransportError:
                ping = None
            if ping is not None and ping.status_code == 200:
                break
            if ping is not None and ping.status_code == 500:
                # The server stays up to report a failed load; there is nothing more to wait for.
                raise ProcessFailed(str(ping.json().get("message", ping.text))[:300])
            if time.monotonic() > deadline:
                raise ProcessFailed(f"the server was not ready within {timeout_s:.0f} s — log: {stderr}")
            time.sleep(0.1)
        yield url
