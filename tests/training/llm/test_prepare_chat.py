"""`training.prepare --base-model`: chat JSON lines become masked examples in the model's tokens, the
manifest records the tokenizer, and the usual cleaning, dedupe and idempotence hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.training.llm.models import checkpoint
from training.data import ExampleDataset, read_manifest
from training.llm import base, chat
from training.prepare import PrepareError, Settings, prepare

CHATS = [
    {"messages": [{"role": "user", "content": "12+30"}, {"role": "assistant", "content": "42"}]},
    {"messages": [{"role": "user", "content": "12+30"}, {"role": "assistant", "content": "42"}]},  # duplicate
    {"messages": [{"role": "user", "content": "no answer"}]},  # nothing to learn
    {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]},  # unknown role
    {"messages": [{"role": "user", "content": "7+\u00077"}, {"role": "assistant", "content": "14"}]},
    {"text": "a plain document 99"},
]


def _input(tmp_path: Path) -> Path:
    directory = tmp_path / "raw"
    directory.mkdir()
    (directory / "chats.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CHATS))
    return directory


def test_chat_examples_are_masked_and_the_tokenizer_recorded(tmp_path: Path) -> None:
    model = checkpoint("llama")
    report = prepare(str(_input(tmp_path)), str(tmp_path / "out"), Settings(base_model=str(model)))
    assert report["cleaning"] == {"documents_read": 4, "invalid_conversations": 2, "dropped_duplicates": 1,
                                  "control_characters_removed": 1, "documents_kept": 3,
                                  "raw_bytes": len((tmp_path / "raw" / "chats.jsonl").read_bytes())}
    manifest = read_manifest(str(tmp_path / "out"))
    assert manifest.format_version == 2 and manifest.tokenizer.type == "hf"
    assert manifest.tokenizer.sha256 == base.tokenizer_sha256(model)
    dataset = ExampleDataset(str(tmp_path / "out"), block_size=64, seed=0)
    tokenizer = chat.load_tokenizer(model)
    decoded = []
    for index in range(dataset.examples):
        ids, mask = dataset.example(index)
        decoded.append((tokenizer.decode(ids), tokenizer.decode(ids[mask == 1])))
    assert decoded[0][1] == "42<|im_end|>\n" and "<|im_start|>user\n12+30<|im_end|>" in decoded[0][0]
    assert decoded[1][1] == "14<|im_end|>\n" and "7+7" in decoded[1][0], "the bell character was cleaned"
    assert decoded[2] == ("<s>a plain document 99</s>", "<s>a plain document 99</s>")


def test_batches_predict_only_masked_tokens(tmp_path: Path) -> None:
    prepare(str(_input(tmp_path)), str(tmp_path / "out"), Settings(base_model=str(checkpoint("llama"))))
    dataset = ExampleDataset(str(tmp_path / "out"), block_size=64, seed=1)
    inputs, labels = dataset.batch(step=0, rank=0, batch_size=8)
    again = dataset.batch(step=0, rank=0, batch_size=8)
    assert inputs.shape == labels.shape and inputs.shape[1] % 8 == 0
    assert np.array_equal(inputs.numpy(), again[0].numpy())
    counted = labels != -100
    # Each counted label is the next token (the next input, where the row goes on), and prompt tokens
    # are never counted.
    follows = counted[:, :-1] & (inputs[:, 1:] != 0)
    assert bool(follows.any()) and bool((labels[:, :-1][follows] == inputs[:, 1:][follows]).all())
    assert int(counted.sum()) < int((inputs != 0).sum())


def test_rerun_is_idempotent_and_another_base_model_reprepares(tmp_path: Path) -> None:
    source = _input(tmp_path)
    prepare(str(source), str(tmp_path / "out"), Settings(base_model=str(checkpoint("llama"))))
    again = prepare(str(source), str(tmp_path / "out"), Settings(base_model=str(checkpoint("llama"))))
    assert again["status"] == "already prepared"
    other = prepare(str(source), str(tmp_path / "out"), Settings(base_model=str(checkpoint("llama", seed=1))))
    assert other["status"] == "prepared"
    assert read_manifest(str(tmp_path / "out")).tokenizer.sha256 == base.tokenizer_sha256(checkpoint("llama", seed=1))


def test_a_base_model_without_a_chat_template_is_refused(tmp_path: Path) -> None:
    import shutil

    model = Path(shutil.copytree(checkpoint("llama"), tmp_path / "no-template"))
    (model / "chat_template.jinja").unlink()
    with pytest.raises(PrepareError, match="has no chat template"):
        prepare(str(_input(tmp_path)), str(tmp_path / "out"), Settings(base_model=str(model)))
