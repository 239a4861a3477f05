"""The token-shard data path: round trip, verification, and training on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.training.runner import ROOT
from tests.training.shards import read_tokens, text_tokens, write_shards
from training.data import DataError, ShardDataset

CORPUS = ["the quick brown fox jumps over the lazy dog. " * 20, "pack my box with five dozen liquor jugs. " * 20]


def test_tokens_read_back_equal_the_tokenised_input(tmp_path: Path) -> None:
    shards = [text_tokens(doc) for doc in CORPUS]
    write_shards(tmp_path, shards)
    dataset = ShardDataset(str(tmp_path), block_size=16, seed=0)
    assert read_tokens(dataset.shards.uri) == shards[0] + shards[1]
    assert dataset.vocab_size == 256


def test_uint32_shards_round_trip(tmp_path: Path) -> None:
    tokens = [0, 70_000, 123_456, 5, 99_999] * 10
    write_shards(tmp_path, [tokens], dtype="uint32", vocab_size=200_000)
    assert read_tokens(str(tmp_path)) == tokens


def test_windows_are_deterministic_and_shifted_by_one(tmp_path: Path) -> None:
    write_shards(tmp_path, [text_tokens(CORPUS[0])])
    dataset = ShardDataset(str(tmp_path), block_size=16, seed=4)
    inputs, targets = dataset.batch(step=3, rank=1, batch_size=5)
    again, _ = dataset.batch(step=3, rank=1, batch_size=5)
    assert torch.equal(inputs, again) and inputs.shape == (5, 16)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])


def _broken(tmp_path: Path, change: str) -> str:
    write_shards(tmp_path, [text_tokens(doc) for doc in CORPUS])
    manifest_path = tmp_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if change == "flip a byte":
        data = bytearray((tmp_path / "shard-00001.bin").read_bytes())
        data[10] ^= 1
        (tmp_path / "shard-00001.bin").write_bytes(bytes(data))
    elif change == "truncate":
        (tmp_path / "shard-00000.bin").write_bytes((tmp_path / "shard-00000.bin").read_bytes()[:-2])
    elif change == "delete":
        (tmp_path / "shard-00001.bin").unlink()
    elif change == "bad dtype":
        manifest["dtype"] = "int8"
    elif change == "small vocabulary":
        manifest["tokenizer"]["vocab_size"] = 100
    elif change == "future format":
        manifest["format_version"] = 3
    manifest_path.write_text(json.dumps(manifest))
    return str(tmp_path)


@pytest.mark.parametrize(("change", "message"), [
    ("flip a byte", "shard-00001.bin: sha256 does not match manifest.json"),
    ("truncate", "shard-00000.bin: 1798 bytes, manifest says 900 uint16 tokens (1800 bytes)"),
    ("delete", "shard-00001.bin: listed in manifest.json but missing"),
    ("bad dtype", "manifest.json: dtype: Input should be 'uint16' or 'uint32'"),
    ("small vocabulary", "token id 122 is outside the tokenizer's vocabulary of 100"),
    ("future format", "format_version 3; this trainer reads versions 1, 2"),
])
def test_bad_shards_fail_in_one_line(tmp_path: Path, change: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        ShardDataset(_broken(tmp_path, change), block_size=16, seed=0)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no manifest\.json; expected shards written by training\.prepare"):
        ShardDataset(str(tmp_path), block_size=16, seed=0)


@pytest.mark.slow
def test_training_on_byte_shards_lowers_the_loss(tmp_path: Path) -> None:
    write_shards(tmp_path / "shards", [text_tokens(doc) for doc in CORPUS])
    args = [sys.executable, "-m", "training", "--set", f"data={tmp_path / 'shards'}", "--set", "block_size=32",
            "--set", "steps=60", "--set", "lr=3e-3", "--set", "progress=false",
            "--set", f"output_dir={tmp_path / 'run'}"]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["final_loss"] < 0.5 * result["first_loss"]
    assert (tmp_path / "run" / "artifact" / "model.tar.gz").exists()


def test_corrupt_shards_stop_the_trainer_with_one_line(tmp_path: Path) -> None:
    data = _broken(tmp_path / "shards", "flip a byte")
    run = subprocess.run([sys.executable, "-m", "training", "--set", f"data={data}", "--set", "progress=false"],
                         cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("training: error: ")
    assert "sha256 does not match" in run.stderr
