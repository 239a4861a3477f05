"""The LLM serving image's entrypoint, and the local engine's: ``SM_VLLM_*`` variables become vLLM's flags.

SageMaker (and `hoist local`) configure the engine with environment variables, as vLLM's own
SageMaker entrypoint does: ``SM_VLLM_MAX_MODEL_LEN=4096`` becomes ``--max-model-len 4096``; an empty
value or ``true`` a bare flag (``--enforce-eager``); ``false`` its negation
(``--no-enable-prefix-caching``). The model path is never assumed: ``SM_VLLM_MODEL`` must name it
(``/opt/ml/model`` on SageMaker). The engine listens on SageMaker's port 8080 unless ``SM_VLLM_PORT``
says otherwise, never reaches a model hub, and serves the OpenAI routes, ``/metrics`` and vLLM's
SageMaker routes (``/ping``, ``/invocations``) on the same port.

Only the standard library is used: the same file runs on the official vLLM image and in the local
CPU build's virtual environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

PREFIX = "SM_VLLM_"
DEFAULTS = {"SM_VLLM_PORT": "8080", "SM_VLLM_HOST": "0.0.0.0"}  # noqa: S104 (the container's own interface)
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
"""The endpoint is network-isolated: nothing is fetched from a hub and nothing is reported."""


class EntrypointError(ValueError):
    """Settings the engine cannot start with; one line."""


def flags(env: Mapping[str, str]) -> list[str]:
    """vLLM's command-line flags for the ``SM_VLLM_*`` variables in ``env`` (defaults applied)."""
    settings = {**DEFAULTS, **{k: v for k, v in env.items() if k.startswith(PREFIX)}}
    model = settings.pop(f"{PREFIX}MODEL", "")
    if not model:
        raise EntrypointError(f"{PREFIX}MODEL is not set; name the model directory (/opt/ml/model on SageMaker)")
    argv = ["--model", model]
    for key in sorted(settings):
        name = key.removeprefix(PREFIX).lower().replace("_", "-")
        if not name:
            raise EntrypointError(f"{key}: no flag name after {PREFIX}")
        value = settings[key]
        if value.lower() in ("", "true"):
            argv.append(f"--{name}")
        elif value.lower() == "false":
            argv.append(f"--no-{name}")
        else:
            argv += [f"--{name}", value]
    return argv


def command(env: Mapping[str, str], python: str = sys.executable) -> list[str]:
    # The OpenAI-compatible server module: it registers vLLM's SageMaker routes (/ping, /invocations)
    # beside the OpenAI ones, and runs from a package installed without the `vllm` console script.
    return [python, "-m", "vllm.entrypoints.openai.api_server", *flags(env)]


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["serve"]:
        args = args[1:]  # SageMaker runs the image with the argument "serve"
    try:
        argv = command(os.environ)
    except EntrypointError as exc:
        print(f"serving.llm: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"serving.llm: {' '.join(argv[1:])}", flush=True)
    os.execve(argv[0], [*argv, *args], {**os.environ, **OFFLINE})  # noqa: S606 - our argv, no shell


if __name__ == "__main__":
    main()
