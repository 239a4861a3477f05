"""Start the serving entrypoint as the image does (``python -m serving serve``) on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(model_dir: Path, wait_ready: bool = True, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A running server for ``model_dir``; yields (base URL, process)."""
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SM_MODEL_DIR": str(model_dir),
                   "SAGEMAKER_BIND_TO_PORT": str(port), "HOIST_HOST": "127.0.0.1", "HOIST_CPU_THREADS": "1", **env}
    process = subprocess.Popen([sys.executable, "-m", "serving", "serve"], cwd=ROOT, env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status = httpx.get(f"{url}/ping", timeout=2).status_code
                if status == 200 or (not wait_ready and status == 503):
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                detail = process.stderr.read().decode()[-2000:] if process.stderr else ""
                raise RuntimeError(f"server did not start: {detail}")
            time.sleep(0.05)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def reference_model(directory: Path, digits: int = 3) -> Path:
    """The reference addition model exported by the training package, extracted as SageMaker would."""
    import torch

    from training.export import addition_task, export
    from training.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=13, block_size=2 * digits + digits + 4, n_layer=1, n_head=2, n_embd=32))
    archive = export(model, addition_task(digits), str(directory / "export"), None)
    target = directory / "model"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target
