"""The LitServe peer: the same handler functions behind LitServe, with LitServe's own batching.

    python bench/litserve_app.py PORT MAX_BATCH_SIZE MAX_BATCH_DELAY_MS   (SM_MODEL_DIR names the model directory)
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import litserve as ls

from serving.handler import Handler, load


class HandlerAPI(ls.LitAPI):  # type: ignore[misc]
    handler: Handler

    def setup(self, device: str) -> None:
        self.handler = load(Path(os.environ["SM_MODEL_DIR"]))

    # Unannotated on purpose: LitServe reads the annotation to decide how FastAPI parses the body.
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return self.handler.input_fn(json.dumps(request).encode(), "application/json")

    def batch(self, inputs: list[Any]) -> list[Any]:
        return list(inputs)

    def predict(self, x: Any) -> Any:
        if self.max_batch_size > 1:
            return self.handler.predict_many(x)
        return self.handler.predict_fn(x, self.handler.model)

    def unbatch(self, output: list[Any]) -> list[Any]:
        return list(output)

    def encode_response(self, output: Any) -> Any:
        return json.loads(self.handler.output_fn(output, "application/json"))


if __name__ == "__main__":
    port, batch, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    api = HandlerAPI(max_batch_size=batch, batch_timeout=delay_ms / 1000, api_path="/invocations")
    server = ls.LitServer(api, accelerator="auto", healthcheck_path="/ping", workers_per_device=1)
    server.run(port=port, host="127.0.0.1", generate_client_file=False, log_level="warning")
