"""The token-shard data path: a directory or ``s3://`` prefix written by ``training.prepare``.

::

    manifest.json   format version, tokenizer, dtype, shards (path, token count, sha256), cleaning report
    tokenizer.json  when the tokenizer is not byte-level
    shard-*.bin     little-endian uint16 or uint32 token ids

Chat data (prepared with a base model's tokenizer) adds, per shard, a ``uint8`` loss mask and the
``uint64`` end offsets of its examples. Shards are memory-mapped, never read whole, so a corpus larger
than memory trains. Every shard is checked against the manifest (size and sha256) before training
starts. Batches are drawn by (seed, step, rank), so the sampler's position is just the step.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from training.addition import step_generator
from training.storage import Store, cache_dir, open_store

_CHUNK = 8 << 20

FORMAT_VERSION = 2
"""Version 2 adds chat examples (a loss mask and example ends per shard) and the Hugging Face
tokenizer type; version 1 shards (token streams) are still read."""
READABLE_VERSIONS = (1, 2)
DTYPES: dict[str, np.dtype[np.unsignedinteger]] = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


class DataError(ValueError):
    """Shards that cannot be trained on; the message is one line naming the problem."""


class Tokenizer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["byte", "bpe", "hf"]
    vocab_size: int = Field(gt=0)
    file: str | None = None
    sha256: str | None = None
    """hf: the base model's tokenizer files' digest; a model with another tokenizer refuses the shards."""
    base_model: str | None = None


class ShardFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Shard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    tokens: int = Field(gt=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    mask: ShardFile | None = None
    """uint8 per token: 1 where the loss counts (assistant turns), 0 elsewhere."""
    ends: ShardFile | None = None
    """uint64 end offset of each example in the shard; examples never cross shards."""
    examples: int | None = None


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
    if manifest.format_version not in READABLE_VERSIONS:
        raise DataError(f"{uri}/manifest.json: format_version {manifest.format_version}; "
                        f"this trainer reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    return manifest


class ShardSet:
    """The shards of a manifest as memory-mapped local files, never read whole into memory.

    Local shards are mapped where they are; ``s3://`` shards are streamed once into the local cache
    (named by their sha256). Every file is checked against the manifest (size, sha256, and for tokens
    the vocabulary) in one streamed pass before training starts, so a truncated upload or a mixed-up
    prefix fails at once with the shard's name.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.manifest = read_manifest(self.uri)
        self.dtype = DTYPES[self.manifest.dtype]
        store = open_store(self.uri)
        self.tokens: list[np.ndarray] = []
        self.masks: list[np.ndarray] | None = [] if self.manifest.shards[0].mask is not None else None
        self.ends: list[np.ndarray] | None = [] if self.manifest.shards[0].ends is not None else None
        for shard in self.manifest.shards:
            tokens = self._map(store, ShardFile(path=shard.path, sha256=shard.sha256), self.dtype,
                               expected=shard.tokens)
            self.tokens.append(tokens)
            for kind, dtype, target in (("mask", np.dtype(np.uint8), self.masks), ("ends", np.dtype("<u8"), self.ends)):
                file = getattr(shard, kind)
                if (file is None) != (target is None):
                    raise DataError(f"{self.uri}/{shard.path}: every shard or none must have a {kind} file")
                if file is not None and target is not None:
                    target.append(self._map(store, file, dtype,
                                            expected=shard.tokens if kind == "mask" else shard.examples))

    def _map(self, store: Store, file: ShardFile, dtype: np.dtype[Any], expected: int | None) -> np.ndarray:
        if not store.exists(file.path):
            raise DataError(f"{self.uri}/{file.path}: listed in manifest.json but missing")
        path = store.local_path(file.path)
        if path is None:
            path = cache_dir("shards") / f"{file.sha256}{Path(file.path).suffix}"
            if not path.exists():
                store.download(file.path, path)
        size = path.stat().st_size
        if expected is not None and size != expected * dtype.itemsize:
            what = {1: "mask bytes", 8: "example ends"}.get(dtype.itemsize, f"{self.manifest.dtype} tokens")
            if dtype == self.dtype:
                what = f"{self.manifest.dtype} tokens"
            raise DataError(f"{self.uri}/{file.path}: {size} bytes, manifest says {expected} {what} "
                            f"({expected * dtype.itemsize} bytes)")
        digest, largest = hashlib.sha256(), 0
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                if dtype == self.dtype and chunk:
                    largest = max(largest, int(np.frombuffer(chunk, dtype=dtype).max()))
        if digest.hexdigest() != file.sha256:
            raise DataError(f"{self.uri}/{file.path}: sha256 does not match manifest.json (corrupt or replaced)")
        if largest >= self.manifest.tokenizer.vocab_size:
            raise DataError(f"{self.uri}/{file.path}: token id {largest} is outside the tokenizer's vocabulary "
                            f"of {self.manifest.tokenizer.vocab_size}")
        return np.memmap(path, dtype=dtype, mode="r")

    @property
    def vocab_size(self) -> int:
        return self.manifest.tokenizer.vocab_size

    @property
    def total_tokens(self) -> int:
        return sum(len(t) for t in self.tokens)


class ShardDataset:
    """Random windows over the token stream of a shard set (language modelling on plain text)."""

    def __init__(self, uri: str, block_size: int, seed: int) -> None:
        self.shards = ShardSet(uri)
        self.manifest = self.shards.manifest
        self.block_size = block_size
        self.seed = seed
        # Windows never cross a shard boundary: each shard offers len - window starts.
        self.starts = np.array([max(0, len(t) - block_size - 1) for t in self.shards.tokens], dtype=np.int64)
        if self.starts.sum() == 0:
            raise DataError(f"{self.shards.uri}: no shard holds a window of {block_size + 1} tokens; "
                            "use a smaller block_size or larger shards")
        self.offsets = np.cumsum(self.starts)

    @property
    def vocab_size(self) -> int:
        return self.shards.vocab_size

    def batch(self, step: int, rank: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows for one rank at one step: a pure function of (seed, step, rank)."""
        generator = step_generator(self.seed, step, rank)
        picks = torch.randint(0, int(self.offsets[-1]), (batch_size,), generator=generator).numpy()
        shards = np.searchsorted(self.offsets, picks, side="right")
        windows = np.stack([
            np.asarray(self.shards.tokens[s][start:start + self.block_size + 1], dtype=np.int64)
            for s, start in zip(shards, picks - (self.offsets[shards] - self.starts[shards]), strict=True)])
        tensor = torch.from_numpy(windows)
        return tensor[:, :-1].contiguous(), tensor[:, 1:].contiguous()


IGNORE = -100
"""The label of a position the loss skips (prompt tokens, padding): PyTorch's cross-entropy default."""


class ExampleDataset:
    """Whole examples (chat conversations or documents) with their loss masks, for fine-tuning."""

    def __init__(self, uri: str, block_size: int, seed: int, pad_id: int = 0) -> None:
        self.shards = ShardSet(uri)
        if self.shards.masks is None or self.shards.ends is None:
            raise DataError(f"{self.shards.uri}: token-stream shards (format 1); fine-tuning needs examples: "
                            "prepare the data with --base-model")
        self.manifest = self.shards.manifest
        self.block_size = block_size
        self.seed = seed
        self.pad_id = pad_id
        self.counts = np.array([len(e) for e in self.shards.ends], dtype=np.int64)
        self.offsets = np.cumsum(self.counts)

    @property
    def examples(self) -> int:
        return int(self.offsets[-1])

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and loss mask of example ``index`` (over all shards)."""
        assert self.shards.masks is not None and self.shards.ends is not None
        shard = int(np.searchsorted(self.offsets, index, side="right"))
        local = index - int(self.offsets[shard] - self.counts[shard])
        ends = self.shards.ends[shard]
        start, stop = (int(ends[local - 1]) if local else 0), int(ends[local])
        return (np.asarray(self.shards.tokens[shard][start:stop], dtype=np.int64),
                np.asarray(self.shards.masks[shard][start:stop], dtype=np.int64))

    def batch(self, step: int, rank: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and labels of random examples for one rank at one step, a pure function of (seed, step,
        rank): each example truncated to block_size + 1 tokens, right-padded to the longest (rounded up
        to a multiple of 8, so few shapes reach the kernels); labels are the next token where the mask
        counts it, and ``IGNORE`` elsewhere."""
        generator = step_generator(self.seed, step, rank)
        picks = torch.randint(0, self.examples, (batch_size,), generator=generator).tolist()
        rows = [self.example(index) for index in picks]
        rows = [(ids[:self.block_size + 1], mask[:self.block_size + 1]) for ids, mask in rows]
        length = min(self.block_size, -(-max(len(ids) - 1 for ids, _ in rows) // 8) * 8)
        inputs = torch.full((batch_size, length), self.pad_id, dtype=torch.int64)
        labels = torch.full((batch_size, length), IGNORE, dtype=torch.int64)
        for row, (ids, mask) in enumerate(rows):
            n = len(ids) - 1
            inputs[row, :n] = torch.from_numpy(ids[:-1])
            labels[row, :n] = torch.from_numpy(np.where(mask[1:] == 1, ids[1:], IGNORE))
        return inputs, labels
