"""The exported artifact: the SageMaker PyTorch layout, and a handler that answers from it alone."""

from __future__ import annotations

import importlib
import json
import re
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

from training.export import addition_task, export
from training.model import GPT, GPTConfig


@pytest.fixture
def handler(tmp_path: Path) -> Iterator[tuple[ModuleType, Path]]:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=13, block_size=13, n_layer=1, n_head=2, n_embd=16))
    location = export(model, addition_task(3), output_uri=str(tmp_path / "out"), sagemaker_model_dir=None)
    assert location == str(tmp_path / "out" / "model.tar.gz")
    model_dir = tmp_path / "model"
    with tarfile.open(location) as tar:
        tar.extractall(model_dir, filter="data")
    # As the SageMaker toolkit does: code/ on sys.path, then import inference.
    sys.path.insert(0, str(model_dir / "code"))
    try:
        yield importlib.import_module("inference"), model_dir
    finally:
        sys.path.remove(str(model_dir / "code"))
        for name in ("inference", "gpt_model", "addition_task"):
            sys.modules.pop(name, None)


def test_artifact_round_trips_weights_and_answers(handler: tuple[ModuleType, Path]) -> None:
    module, model_dir = handler
    config = json.loads((model_dir / "config.json").read_text())
    assert config["task"] == {"name": "addition", "digits": 3, "vocab": "0123456789+=."}
    bundle = module.model_fn(str(model_dir))
    data = module.input_fn(json.dumps({"inputs": ["12+30", "999+1"]}), "application/json")
    assert data == [(12, 30), (999, 1)]
    answers = module.predict_fn(data, bundle)
    assert len(answers) == 2 and all(a == "" or a.isdigit() for a in answers)
    assert json.loads(module.output_fn(answers, "application/json")) == {"outputs": answers}


@pytest.mark.parametrize(("body", "content_type", "message"), [
    ("{", "application/json", "body is not valid JSON"),
    ('{"x": 1}', "application/json", 'body must be a JSON object with "inputs"'),
    ('{"inputs": "1-2"}', "application/json", "each input must be a string 'a+b'"),
    ('{"inputs": "-1+2"}', "application/json", "operands must be non-negative integers"),
    ('{"inputs": []}', "application/json", "inputs must hold 1 to 1024 problems"),
    ("1+2", "text/csv", "unsupported content type 'text/csv'"),
])
def test_bad_requests_raise_one_line_value_errors(handler: tuple[ModuleType, Path], body: str, content_type: str,
                                                  message: str) -> None:
    module, _ = handler
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        module.input_fn(body, content_type)
    assert "\n" not in str(caught.value)


def test_model_digit_limit_is_enforced_when_decoding(handler: tuple[ModuleType, Path]) -> None:
    module, model_dir = handler
    bundle = module.model_fn(str(model_dir))
    with pytest.raises(ValueError, match="at most 3 digits"):
        module.input_fn('{"inputs": "1000+1"}', "application/json")
    with pytest.raises(ValueError, match="at most 3 digits"):
        module.predict_fn([(1000, 1)], bundle)
