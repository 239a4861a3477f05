"""Export the trained model as a serving artifact (the SageMaker PyTorch layout).

::

    model.safetensors   weights
    config.json         model shape and task (the tokenizer is the fixed addition vocabulary)
    code/inference.py   model_fn / input_fn / predict_fn / output_fn
    code/gpt_model.py, code/addition_task.py   the model and task code the handler imports

On SageMaker the unpacked layout goes to ``/opt/ml/model`` (SageMaker tars it itself); elsewhere a
``model.tar.gz`` is written to the output URI (a directory or an ``s3://`` prefix).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from safetensors.torch import save_model

from training import addition
from training.model import GPT
from training.storage import open_store

PACKAGE = Path(__file__).resolve().parent
FORMAT_VERSION = 1


def addition_task(digits: int) -> dict[str, object]:
    return {"name": "addition", "digits": digits, "vocab": addition.VOCAB}


def write_layout(model: GPT, task: dict[str, object], directory: Path) -> None:
    """Write the unpacked artifact into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    # save_model handles the tied embedding/head weights that plain save_file rejects.
    save_model(model, str(directory / "model.safetensors"))
    config = {
        "format_version": FORMAT_VERSION,
        "architecture": "gpt",
        "model": dataclasses.asdict(model.cfg),
        "task": task,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    code = directory / "code"
    code.mkdir(exist_ok=True)
    shutil.copyfile(PACKAGE / "handler" / "inference.py", code / "inference.py")
    shutil.copyfile(PACKAGE / "model.py", code / "gpt_model.py")
    shutil.copyfile(PACKAGE / "addition.py", code / "addition_task.py")


def export(model: GPT, task: dict[str, object], output_uri: str, sagemaker_model_dir: Path | None) -> str:
    """Export to SageMaker's model directory or as ``model.tar.gz`` under ``output_uri``; the location."""
    if sagemaker_model_dir is not None:
        write_layout(model, task, sagemaker_model_dir)
        return str(sagemaker_model_dir)
    with tempfile.TemporaryDirectory(prefix="hoist-export-") as tmp:
        layout = Path(tmp) / "model"
        write_layout(model, task, layout)
        return archive(layout, output_uri)


def archive(layout: Path, output_uri: str) -> str:
    """Pack an unpacked artifact as ``model.tar.gz`` under ``output_uri``; returns its location."""
    with tempfile.TemporaryDirectory(prefix="hoist-archive-") as tmp:
        packed = Path(tmp) / "model.tar.gz"
        with tarfile.open(packed, "w:gz") as tar:
            for path in sorted(layout.rglob("*")):
                if "__pycache__" not in path.parts:
                    tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
        open_store(output_uri).upload(packed, "model.tar.gz")
    return f"{output_uri.rstrip('/')}/model.tar.gz"
