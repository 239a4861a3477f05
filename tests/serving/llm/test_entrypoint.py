"""The LLM serving image's entrypoint: SM_VLLM_* variables become vLLM's flags, the model is never
assumed, and the engine is started offline on SageMaker's port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving.llm import entrypoint

ENTRYPOINT = Path(entrypoint.__file__)


def test_variables_become_flags() -> None:
    env = {"SM_VLLM_MODEL": "/opt/ml/model", "SM_VLLM_MAX_MODEL_LEN": "4096", "SM_VLLM_ENFORCE_EAGER": "",
           "SM_VLLM_ENABLE_PREFIX_CACHING": "false", "SM_VLLM_TENSOR_PARALLEL_SIZE": "4",
           "SM_VLLM_TRUST_REMOTE_CODE": "true", "PATH": "/usr/bin", "VLLM_OTHER": "x"}
    assert entrypoint.flags(env) == [
        "--model", "/opt/ml/model", "--no-enable-prefix-caching", "--enforce-eager", "--host", "0.0.0.0",
        "--max-model-len", "4096", "--port", "8080", "--tensor-parallel-size", "4", "--trust-remote-code"]


def test_a_setting_overrides_the_default_port() -> None:
    flags = entrypoint.flags({"SM_VLLM_MODEL": "/m", "SM_VLLM_PORT": "9000"})
    assert flags[flags.index("--port") + 1] == "9000" and flags.count("--port") == 1


def test_the_command_is_vllms_openai_server_with_its_sagemaker_routes() -> None:
    argv = entrypoint.command({"SM_VLLM_MODEL": "/opt/ml/model"}, python="python3")
    assert argv[:3] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]


@pytest.mark.parametrize(("env", "message"), [
    ({}, "SM_VLLM_MODEL is not set"),
    ({"SM_VLLM_MODEL": "/m", "SM_VLLM_": "x"}, "SM_VLLM_: no flag name"),
])
def test_what_cannot_start_is_one_line_and_exit_2(env: dict[str, str], message: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SM_VLLM_")}
    run = subprocess.run([sys.executable, str(ENTRYPOINT), "serve"], env={**clean, **env}, capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert run.stderr.strip().startswith("serving.llm: error: ") and message in run.stderr
    assert run.stderr.count("\n") == 1


def test_it_imports_only_the_standard_library() -> None:
    """The same file runs on the official vLLM image and in the local CPU build's environment."""
    import ast

    tree = ast.parse(ENTRYPOINT.read_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules - {"__future__"} <= set(sys.stdlib_module_names)
