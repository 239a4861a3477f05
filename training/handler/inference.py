"""SageMaker PyTorch inference handler for the reference addition model.

Exported as ``code/inference.py`` beside ``gpt_model.py`` and ``addition_task.py`` (copies of the
training code), so it runs under the SageMaker PyTorch inference toolkit or hoist's server
unchanged. Request: ``{"inputs": "123+456"}`` or ``{"inputs": ["1+2", "30+4"]}``.
Response: ``{"outputs": ["579"]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from addition_task import END, answer_from_generated, encode, prompt
from gpt_model import GPT, GPTConfig
from safetensors.torch import load_file, load_model

SUPPORTED_CONTENT_TYPES = ("application/json",)
SUPPORTED_ACCEPT_TYPES = ("application/json",)
WARMUP_REQUEST = {"inputs": ["1+2"]}
MAX_DIGITS = 18
"""Operand digits input_fn accepts; model_fn narrows it to the loaded model's (input_fn gets no model)."""


class Bundle:
    def __init__(self, model: GPT, digits: int, device: torch.device) -> None:
        self.model = model
        self.digits = digits
        self.device = device


def model_fn(model_dir: str) -> Bundle:
    config = json.loads((Path(model_dir) / "config.json").read_text())
    if config["task"]["name"] != "addition":
        raise ValueError(f"this handler serves the addition task, not {config['task']['name']!r}; "
                         "ship an inference.py for your task")
    model = GPT(GPTConfig(**config["model"]))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    optimization = _load_weights(model, Path(model_dir))
    if optimization == "bf16" and device.type == "cuda":
        model = model.to(torch.bfloat16)
    global MAX_DIGITS
    MAX_DIGITS = int(config["task"]["digits"])
    return Bundle(model.to(device).eval(), MAX_DIGITS, device)


def _load_weights(model: GPT, model_dir: Path) -> str | None:
    """Load the weights; an optimised artifact (``optimization.json``) stores int8 linear weights with
    per-channel scales, or bf16 weights. Returns the optimisation method, if any."""
    weights = model_dir / "model.safetensors"
    optimization_file = model_dir / "optimization.json"
    if not optimization_file.exists():
        load_model(model, str(weights))
        return None
    method = str(json.loads(optimization_file.read_text())["method"])
    tensors = load_file(str(weights))
    for key in [k for k in tensors if k.endswith(".weight_int8")]:
        prefix = key.removesuffix(".weight_int8")
        # Dequantised once, at load: on CPU at these sizes fp32 matmuls beat int8 kernels.
        tensors[f"{prefix}.weight"] = tensors.pop(key).float() * tensors.pop(f"{prefix}.weight_scale")[:, None]
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    if unexpected or set(missing) - {"token_embedding.weight"}:  # the embedding is tied to head.weight
        raise ValueError(f"model.safetensors does not fit the model: missing {missing}, unexpected {unexpected}")
    return method


def _parse_problem(text: Any, digits: int) -> tuple[int, int]:
    if not isinstance(text, str) or text.count("+") != 1:
        raise ValueError(f"each input must be a string 'a+b', got {json.dumps(text)[:40]}")
    left, right = (part.strip() for part in text.split("+"))
    if not (left.isdigit() and right.isdigit() and left.isascii() and right.isascii()):
        raise ValueError(f"operands must be non-negative integers: {text[:40]!r}")
    a, b = int(left), int(right)
    if a >= 10**digits or b >= 10**digits:
        raise ValueError(f"this model adds numbers of at most {digits} digits: {text[:40]!r}")
    return a, b


def input_fn(request_body: str | bytes, content_type: str) -> list[tuple[int, int]]:
    if content_type.split(";")[0].strip() != "application/json":
        raise ValueError(f"unsupported content type {content_type!r}; send application/json")
    try:
        body = json.loads(request_body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or "inputs" not in body:
        raise ValueError('body must be a JSON object with "inputs": "a+b" or a list of them')
    inputs = body["inputs"]
    items = inputs if isinstance(inputs, list) else [inputs]
    if not items or len(items) > 1024:
        raise ValueError("inputs must hold 1 to 1024 problems")
    return [_parse_problem(item, MAX_DIGITS) for item in items]


def predict_fn(data: list[tuple[int, int]], bundle: Bundle) -> list[str]:
    digits = bundle.digits
    for a, b in data:
        if a >= 10**digits or b >= 10**digits:
            raise ValueError(f"this model adds numbers of at most {digits} digits, got {a}+{b}")
    prompts = torch.tensor([encode(prompt(a, b, digits)) for a, b in data], device=bundle.device)
    with torch.inference_mode():
        generated = bundle.model.generate(prompts, max_new_tokens=digits + 2, stop_token=END)
    return [answer_from_generated(row) for row in generated.tolist()]


def predict_batch_fn(batch: list[list[tuple[int, int]]], bundle: Bundle) -> list[list[str]]:
    """Several requests in one generate call: every problem is decoded independently (greedy, no
    sampling), so each request's answers are exactly what it would get alone."""
    answers = predict_fn([problem for data in batch for problem in data], bundle)
    out, start = [], 0
    for data in batch:
        out.append(answers[start:start + len(data)])
        start += len(data)
    return out


def stream_fn(data: list[tuple[int, int]], bundle: Bundle) -> Iterator[str]:
    """Answers as JSON lines, each sent as soon as its problem is solved."""
    for index, problem in enumerate(data):
        yield json.dumps({"index": index, "output": predict_fn([problem], bundle)[0]}) + "\n"


def output_fn(prediction: list[str], accept: str) -> str:
    return json.dumps({"outputs": prediction})
