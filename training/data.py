"""The token-shard data path: a directory or ``s3://`` prefix written by ``training.prepare``.

::

    manifest.json   format version, tokenizer, dtype, shards (path, token count, sha256), cleaning report
    tokenizer.json  when the tokenizer is not byte-level
    shard-*.bin     little-endian uint16 or uint32 token ids

Every shard is checked against the manifest (size and sha256) before training starts, so a
truncated upload or a mixed-up prefix fails at once with the shard's name. Batches are random
windows drawn by (seed, step, rank), so the sampler's position is just the step.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from training.addition import step_generator
from training.storage import open_store

FORMAT_VERSION = 1
DTYPES: dict[str, np.dtype[np.unsignedinteger]] = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


class DataError(ValueError):
    """Shards that cannot be trained on; the message is one line naming the problem."""


class Tokenizer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["byte", "bpe"]
    vocab_size: int = Field(gt=0)
    file: str | None = None


class Shard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    tokens: int = Field(gt=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format_version: int
    tokenizer: Tokenizer
    dtype: Literal["uint16", "uint32"]
    shards: list[Shard] = Field(min_length=1)
    cleaning: dict[str, int] = Field(default_factory=dict)
    fingerprint: str | None = None
    """sha256 of the input files and settings that produced the shards; a re-run with the same is a no-op."""


def read_manifest(uri: str) -> Manifest:
    store = open_store(uri)
    text = store.read_text("manifest.json")
    if text is None:
        raise DataError(f"{uri}: no manifest.json; expected shards written by training.prepare")
    try:
        manifest = Manifest.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DataError(f"{uri}/manifest.json: {where}: {first['msg']}") from None
    if manifest.format_version != FORMAT_VERSION:
        raise DataError(f"{uri}/manifest.json: format_version {manifest.format_version}; "
                        f"this trainer reads version {FORMAT_VERSION}")
    return manifest


class ShardDataset:
    """All tokens of a shard set, verified, as one stream to sample windows from."""

    def __init__(self, uri: str, block_size: int, seed: int) -> None:
        self.uri = uri.rstrip("/")
        self.manifest = read_manifest(self.uri)
        self.block_size = block_size
        self.seed = seed
        store = open_store(self.uri)
        dtype = DTYPES[self.manifest.dtype]
        parts = []
        for shard in self.manifest.shards:
            data = store.read_bytes(shard.path)
            if data is None:
                raise DataError(f"{self.uri}/{shard.path}: listed in manifest.json but missing")
            if len(data) != shard.tokens * dtype.itemsize:
                raise DataError(f"{self.uri}/{shard.path}: {len(data)} bytes, manifest says {shard.tokens} "
                                f"{self.manifest.dtype} tokens ({shard.tokens * dtype.itemsize} bytes)")
            if hashlib.sha256(data).hexdigest() != shard.sha256:
                raise DataError(f"{self.uri}/{shard.path}: sha256 does not match manifest.json (corrupt or replaced)")
            parts.append(np.frombuffer(data, dtype=dtype))
        tokens = np.concatenate(parts)
        if int(tokens.max()) >= self.manifest.tokenizer.vocab_size:
            raise DataError(f"{self.uri}: token id {int(tokens.max())} is outside the tokenizer's vocabulary "
                            f"of {self.manifest.tokenizer.vocab_size}")
        if len(tokens) <= block_size + 1:
            raise DataError(f"{self.uri}: {len(tokens)} tokens, fewer than one window of {block_size + 1}")
        self.tokens = torch.from_numpy(tokens.astype(np.int64))

    @property
    def vocab_size(self) -> int:
        return self.manifest.tokenizer.vocab_size

    def batch(self, step: int, rank: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows for one rank at one step: a pure function of (seed, step, rank)."""
        generator = step_generator(self.seed, step, rank)
        starts = torch.randint(0, len(self.tokens) - self.block_size - 1, (batch_size,), generator=generator)
        offsets = torch.arange(self.block_size + 1)
        windows = self.tokens[starts[:, None] + offsets]
        return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()
