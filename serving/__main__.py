"""The serving image's entrypoint: ``python -m serving serve`` (SageMaker runs the image with ``serve``)."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from serving.app import create_app
from serving.settings import ServingSettings


def main(argv: list[str]) -> int:
    if argv[:1] != ["serve"]:
        print("usage: python -m serving serve   (settings come from the environment; see serving/settings.py)",
              file=sys.stderr)
        return 2
    try:
        settings = ServingSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"serving: error: {first['loc'][0]}: {first['msg']}", file=sys.stderr)
        return 2
    # One process: dynamic batching needs every request in one queue; threads run the model.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning",
                access_log=False, timeout_graceful_shutdown=int(settings.graceful_shutdown_s), lifespan="on")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
