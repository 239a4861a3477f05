"""Base checkpoints: a Hugging Face directory (or ``s3://`` prefix) that fine-tuning starts from.

A checkpoint is checked before any process trains on it: ``config.json`` names a supported
decoder-only causal LM, every weight file the index lists exists and its safetensors header reads,
the tokenizer is there, and, where the checkpoint carries hoist's manifest (an exported artifact used
as a base), every file matches its sha256. Each problem is one line naming the file. Nothing is ever
fetched from a model hub: an ``s3://`` prefix is copied into a local cache first.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import safe_open

from training.llm import artifact
from training.storage import open_store

SUPPORTED_ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
}
"""Decoder-only causal LMs hoist fine-tunes, serves and sizes (each tested with a tiny checkpoint)."""
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")
"""The files that define a tokenizer and its chat template; their hash ties shards to a model."""
WEIGHTS_INDEX = "model.safetensors.index.json"


class CheckpointError(ValueError):
    """A base checkpoint that cannot be fine-tuned; one line naming the file and the problem."""


@dataclass(frozen=True)
class BaseCheckpoint:
    path: Path
    uri: str
    architecture: str
    model_type: str
    config: dict[str, Any]
    weight_files: tuple[str, ...]
    tokenizer_sha256: str

    @property
    def has_chat_template(self) -> bool:
        if (self.path / "chat_template.jinja").is_file():
            return True
        tokenizer_config = self.path / "tokenizer_config.json"
        return tokenizer_config.is_file() and bool(json.loads(tokenizer_config.read_text()).get("chat_template"))


def tokenizer_sha256(directory: Path) -> str:
    """One digest over the tokenizer files present (names and bytes), in a fixed order."""
    digest = hashlib.sha256()
    for name in TOKENIZER_FILES:
        path = directory / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def local_copy(uri: str, cache: Path) -> Path:
    """``uri`` as a local directory: itself, or an ``s3://`` prefix copied into ``cache`` (once: the copy
    is made in a temporary folder and renamed into place when complete)."""
    if not uri.startswith("s3://"):
        path = Path(uri)
        if not path.is_dir():
            raise CheckpointError(f"{uri}: no such checkpoint directory")
        return path
    target = cache / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]
    if target.is_dir():
        return target
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    names = open_store(uri).download_tree(partial)
    if not names:
        raise CheckpointError(f"{uri}: no objects under this prefix")
    partial.replace(target)
    return target


def _weight_files(path: Path) -> tuple[str, ...]:
    index = path / WEIGHTS_INDEX
    if index.is_file():
        try:
            weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError):
            raise CheckpointError(f"{index}: not a safetensors index (no weight_map)") from None
        return tuple(sorted(set(weight_map.values())))
    if (path / "model.safetensors").is_file():
        return ("model.safetensors",)
    raise CheckpointError(f"{path}: no model.safetensors or {WEIGHTS_INDEX} (only safetensors weights are loaded)")


def inspect(path: Path, uri: str | None = None) -> BaseCheckpoint:
    """Check the checkpoint at ``path``; every problem is a CheckpointError naming the file."""
    config_path = path / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{path}: no config.json; expected a Hugging Face checkpoint directory")
    try:
        config: dict[str, Any] = json.loads(config_path.read_text())
    except ValueError as exc:
        raise CheckpointError(f"{config_path}: not JSON ({exc})") from None
    architectures = config.get("architectures") or []
    architecture = architectures[0] if architectures else "(none)"
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise CheckpointError(f"{config_path}: architecture {architecture} is not a supported decoder-only causal "
                              f"LM; supported: {', '.join(SUPPORTED_ARCHITECTURES)}")
    if (path / artifact.MANIFEST).is_file():
        try:
            artifact.verify(path)
        except artifact.ArtifactError as exc:
            raise CheckpointError(str(exc)) from None
    weights = _weight_files(path)
    for name in weights:
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{file}: listed in the weight index but missing")
        try:
            with safe_open(str(file), framework="pt") as handle:
                handle.keys()
        except Exception as exc:  # safetensors raises its own error types for a bad header
            raise CheckpointError(f"{file}: not a readable safetensors file ({exc})") from None
    if not (path / "tokenizer.json").is_file():
        raise CheckpointError(f"{path}: no tokenizer.json (a fast tokenizer is required)")
    return BaseCheckpoint(path=path, uri=uri or str(path), architecture=architecture,
                          model_type=SUPPORTED_ARCHITECTURES[architecture], config=config, weight_files=weights,
                          tokenizer_sha256=tokenizer_sha256(path))


def open_checkpoint(uri: str, cache: Path) -> BaseCheckpoint:
    """The checked checkpoint at ``uri`` (a directory or an s3:// prefix)."""
    return inspect(local_copy(uri, cache), uri)
