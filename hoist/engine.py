"""The local LLM engine: vLLM's CPU build in a virtual environment of its own (``.venv-vllm``),
created on first use, started through the LLM serving image's own entrypoint
(``serving/llm/entrypoint.py``) so the same environment-to-flags mapping runs here and on SageMaker.

The CPU build lives apart from the project's environment because its pins conflict with it
(``compressed-tensors`` 0.17 against llm-compressor's 0.19). PyPI's torchvision, torchaudio and
torchcodec break its imports beside the CPU build of torch, and triton has no CPU backend, so they are
removed after installing. The engine needs Intel's OpenMP runtime preloaded, which its environment
installs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from hoist.processes import ProcessFailed, child_env, free_port, running, tail
from infra.stack_files import PROJECT_ROOT

VENV = PROJECT_ROOT / ".venv-vllm"
REQUIREMENTS = PROJECT_ROOT / "serving" / "llm" / "requirements-cpu.txt"
ENTRYPOINT = PROJECT_ROOT / "serving" / "llm" / "entrypoint.py"
REMOVED = ("torchvision", "torchaudio", "torchcodec", "triton")
LOCAL_SETTINGS = {
    # Eager mode: no inductor compilation at start (25-35 s to ready instead of 70 s on 2 cores).
    "SM_VLLM_ENFORCE_EAGER": "true",
    # A fixed KV cache (64 MiB) rather than a share of the machine's memory.
    "SM_VLLM_KV_CACHE_MEMORY_BYTES": str(64 << 20),
    "SM_VLLM_MAX_MODEL_LEN": "512",
}
"""What the local engine runs with on a 2-core machine; stack settings come on top."""


def _python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(log: Path) -> Path:
    """The engine's interpreter, installing the environment first if it is missing or stale (another
    process installing it at the same time waits for the first)."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / ".requirements-sha256"
    log.parent.mkdir(parents=True, exist_ok=True)
    with (PROJECT_ROOT / ".venv-vllm.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == wanted:
            return _python()
        with log.open("w") as out:
            steps = [[sys.executable, "-m", "venv", "--clear", str(VENV)],
                     [str(_python()), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
                     [str(_python()), "-m", "pip", "uninstall", "-y", *REMOVED]]
            for step in steps:
                if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False).returncode != 0:
                    raise ProcessFailed(f"installing the local LLM engine failed at `{' '.join(step[-3:])}` — "
                                        f"log: {log}")
        stamp.write_text(wanted)
    return _python()


def environment(model_dir: Path, port: int, settings: Mapping[str, str]) -> dict[str, str]:
    """The engine's environment: the model, port and settings as ``SM_VLLM_*``, and what the CPU build needs."""
    openmp = next((VENV / "lib").glob("libiomp5.so"), None)
    return child_env(**LOCAL_SETTINGS, **settings, SM_VLLM_MODEL=str(model_dir), SM_VLLM_PORT=str(port),
                     SM_VLLM_HOST="127.0.0.1", VLLM_TARGET_DEVICE="cpu", OMP_NUM_THREADS="2",
                     **({"LD_PRELOAD": str(openmp)} if openmp else {}))


@contextlib.contextmanager
def serving(model_dir: Path, logs: Path, settings: Mapping[str, str] | None = None,
            timeout_s: float = 300.0) -> Iterator[str]:
    """The engine on 127.0.0.1 serving ``model_dir``, waited for on ``/ping``; yields its URL and stops
    it (and its worker processes) when the block ends."""
    python = ensure_venv(logs / "llm-engine-install.log")
    port = free_port()
    stderr = logs / "llm-engine.log"
    url = f"http://127.0.0.1:{port}"
    with running([str(python), str(ENTRYPOINT)], env=environment(model_dir, port, settings or {}),
                 stdout=logs / "llm-engine.stdout", stderr=stderr) as process:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise ProcessFailed(f"the LLM engine exited (code {process.returncode}): {tail(stderr)} — "
                                    f"log: {stderr}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise ProcessFailed(f"the LLM engine was not ready within {timeout_s:.0f} s — log: {stderr}")
            time.sleep(0.5)
        yield url
