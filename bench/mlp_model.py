"""Write a compute-heavier model directory for the serving benchmark: a 256 → 2048 → 2048 → 2048 → 16 MLP
with a ``predict_batch_fn``, so a dynamic batch is one forward pass."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

INPUT_WIDTH = 256
"""Floats in one request row."""

HANDLER = textwrap.dedent(f'''
    import json
    import torch

    SUPPORTED_CONTENT_TYPES = ("application/json",)
    SUPPORTED_ACCEPT_TYPES = ("application/json",)
    WARMUP_REQUEST = {{"inputs": [[0.0] * {INPUT_WIDTH}]}}

    def model_fn(model_dir):
        torch.manual_seed(0)
        widths = [{INPUT_WIDTH}, 2048, 2048, 2048]
        layers = []
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [torch.nn.Linear(width_in, width_out), torch.nn.GELU()]
        layers.append(torch.nn.Linear(widths[-1], 16))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return torch.nn.Sequential(*layers).to(device).eval()

    def input_fn(body, content_type):
        rows = json.loads(body)["inputs"]
        if not isinstance(rows, list) or not rows or any(len(r) != {INPUT_WIDTH} for r in rows):
            raise ValueError("inputs must be a non-empty list of {INPUT_WIDTH}-float rows")
        return torch.tensor(rows, dtype=torch.float32)

    def predict_fn(data, model):
        device = next(model.parameters()).device
        with torch.inference_mode():
            return model(data.to(device)).cpu()

    def predict_batch_fn(batch, model):
        sizes = [len(x) for x in batch]
        return list(predict_fn(torch.cat(batch), model).split(sizes))

    def output_fn(prediction, accept):
        return json.dumps({{"outputs": prediction.tolist()}})
''')


def write(directory: Path) -> Path:
    (directory / "code").mkdir(parents=True, exist_ok=True)
    (directory / "code" / "inference.py").write_text(HANDLER)
    return directory


if __name__ == "__main__":
    write(Path(sys.argv[1]))
