"""Write token shards in the DESIGN.md format (what training.prepare produces), for tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np


def write_shards(directory: Path, shards: list[list[int]], dtype: str = "uint16", vocab_size: int = 256) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, tokens in enumerate(shards):
        data = np.asarray(tokens, dtype={"uint16": "<u2", "uint32": "<u4"}[dtype]).tobytes()
        name = f"shard-{i:05d}.bin"
        (directory / name).write_bytes(data)
        entries.append({"path": name, "tokens": len(tokens), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"format_version": 1, "tokenizer": {"type": "byte", "vocab_size": vocab_size}, "dtype": dtype,
                "shards": entries, "cleaning": {"documents_in": len(shards), "documents_out": len(shards)}}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))


def text_tokens(text: str) -> list[int]:
    return list(text.encode())


def read_tokens(uri: str) -> list[int]:
    """Every token of a shard set in order (small test sets only: training maps shards, never loads them)."""
    from training.data import ShardSet

    return [int(t) for shard in ShardSet(uri).tokens for t in shard]
