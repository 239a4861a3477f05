"""Base checkpoints: each supported family loads; what cannot be fine-tuned is one line naming the file."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM

from tests.training.llm.models import checkpoint
from tests.training.s3server import client, s3_server
from training.llm import artifact, base, tiny


@pytest.mark.parametrize("family", sorted(tiny.FAMILIES))
def test_every_supported_family_is_inspected_and_loads(family: str) -> None:
    path = checkpoint(family)
    found = base.inspect(path)
    assert found.model_type == family and found.architecture in base.SUPPORTED_ARCHITECTURES
    assert len(found.weight_files) > 1, "the tiny checkpoints are sharded with an index, as large ones are"
    assert found.has_chat_template
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    assert type(model).__name__ == found.architecture


def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(checkpoint("llama"), tmp_path / "ckpt"))


def _set_architecture(path: Path) -> None:
    config = json.loads((path / "config.json").read_text())
    config["architectures"] = ["BertForMaskedLM"]
    (path / "config.json").write_text(json.dumps(config))


def _shard(path: Path, number: int) -> Path:
    """The checkpoint's ``number``-th weight file, as its index names it."""
    index = json.loads((path / "model.safetensors.index.json").read_text())
    names: list[str] = sorted(set(index["weight_map"].values()))
    return path / names[number - 1]


def _drop_shard(path: Path) -> None:
    _shard(path, 2).unlink()


def _truncate_shard(path: Path) -> None:
    shard = _shard(path, 3)
    shard.write_bytes(shard.read_bytes()[:20])


def _tamper_manifest_file(path: Path) -> None:
    artifact.write_manifest(path, architecture="LlamaForCausalLM", model_type="llama", dtype="float32",
                            parameters=1, provenance=artifact.Provenance(base_model="test"))
    with (path / "tokenizer_config.json").open("a") as handle:
        handle.write(" ")


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda p: (p / "config.json").unlink(), "no config.json"),
    (_set_architecture, "architecture BertForMaskedLM is not a supported decoder-only causal LM; supported: "),
    (_drop_shard, r"model-00002-of-\d+\.safetensors: listed in the weight index but missing"),
    (_truncate_shard, r"model-00003-of-\d+\.safetensors: not a readable safetensors file"),
    (lambda p: (p / "tokenizer.json").unlink(), "no tokenizer.json"),
    (_tamper_manifest_file, "tokenizer_config.json: sha256 does not match hoist-manifest.json"),
])
def test_a_checkpoint_that_cannot_be_used_is_one_line(tmp_path: Path, breakage: Callable[[Path], None],
                                                      message: str) -> None:
    path = _copy(tmp_path)
    breakage(path)
    with pytest.raises(base.CheckpointError) as caught:
        base.inspect(path)
    assert re.search(message, str(caught.value)) and "\n" not in str(caught.value)


def test_an_s3_prefix_is_copied_once_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with s3_server("base-models") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        s3 = client(env)
        source = checkpoint("qwen3")
        for path in source.iterdir():
            s3.upload_file(str(path), "base-models", f"qwen3/{path.name}")
        found = base.open_checkpoint("s3://base-models/qwen3/", tmp_path / "cache")
        assert found.model_type == "qwen3" and found.uri == "s3://base-models/qwen3/"
        assert found.path.parent == tmp_path / "cache"
        assert base.tokenizer_sha256(found.path) == base.tokenizer_sha256(source)
        # A second open reuses the complete copy rather than downloading again.
        s3.delete_object(Bucket="base-models", Key="qwen3/config.json")
        assert base.open_checkpoint("s3://base-models/qwen3/", tmp_path / "cache").path == found.path
        with pytest.raises(base.CheckpointError, match="no objects under this prefix"):
            base.open_checkpoint("s3://base-models/missing/", tmp_path / "cache")
