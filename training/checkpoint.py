"""Checkpoints that survive crashes, with torch.distributed.checkpoint (DCP).

Layout under the checkpoint URI (a directory or an ``s3://`` prefix)::

    step-00000100/   one DCP checkpoint; DCP writes its ``.metadata`` last, so a checkpoint is
                     complete exactly when that file exists
    latest           the name of the newest complete checkpoint, written after it completed

A crash during a save leaves a step directory without ``.metadata``; it is never resumed from and
is cleaned up later. Resuming takes the newest complete checkpoint, whatever ``latest`` says (a
crash can fall between a save completing and the pointer moving). DCP reshards on load, so a
checkpoint saved by N ranks resumes on M.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict
from torch.distributed.checkpoint.state_dict_loader import load as dcp_load
from torch.distributed.checkpoint.state_dict_saver import async_save as dcp_async_save
from torch.distributed.checkpoint.state_dict_saver import save as dcp_save

from training.storage import Store

LATEST = "latest"
METADATA = ".metadata"
PREFIX = "step-"


def step_name(step: int) -> str:
    return f"{PREFIX}{step:08d}"


def _step_of(name: str) -> int:
    return int(name.removeprefix(PREFIX))


def _is_step(name: str) -> bool:
    return name.startswith(PREFIX) and name.removeprefix(PREFIX).isdigit()


def complete_checkpoints(store: Store) -> list[str]:
    """Names of complete checkpoints, oldest first."""
    return [n for n in sorted(filter(_is_step, store.children())) if store.exists(f"{n}/{METADATA}")]


def newest_complete(store: Store) -> str | None:
    complete = complete_checkpoints(store)
    return complete[-1] if complete else None


def _single() -> bool:
    """True outside a process group: DCP then reads and writes as a single process."""
    return not dist.is_initialized()


def _rng_key(rank: int) -> str:
    return f"rng_rank{rank}"


def _state_dict(model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, rank: int,
                options: StateDictOptions) -> dict[str, Any]:
    model_sd, optim_sd = get_state_dict(model, optimizer, options=options)
    state: dict[str, Any] = {
        "model": model_sd,
        "optim": optim_sd,
        # The data path is a pure function of the step, so the step is the sampler's position.
        "progress": {"step": torch.tensor(step)},
        _rng_key(rank): torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state[f"cuda_{_rng_key(rank)}"] = torch.cuda.get_rng_state()
    return state


@dataclass
class Checkpointer:
    """Saves every ``every`` steps (synchronously or in the background) and keeps the newest ``keep``."""

    store: Store
    every: int
    keep: int
    use_async: bool
    rank: int
    options: StateDictOptions = field(default_factory=StateDictOptions)
    """What a checkpoint holds of the model: everything, or (LoRA) only what trains."""
    blocked_seconds: float = 0.0
    """Time the training loop spent waiting on saves (for the async benchmark)."""
    _pending: tuple[Future[Any], int] | None = field(default=None, repr=False)
    _group: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.use_async and dist.is_initialized():
            # The background save runs collectives of its own; on the training group they would
            # interleave with DDP's or FSDP's and deadlock. A separate gloo group keeps them apart.
            self._group = dist.new_group(backend="gloo")

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
        """Load the newest complete checkpoint into model and optimizer; the step to continue from."""
        name = newest_complete(self.store) if self.rank == 0 else None
        if dist.is_initialized():
            box = [name]
            dist.broadcast_object_list(box, src=0)
            name = box[0]
        if name is None:
            return 0
        reader = self.store.reader(name)
        saved = set(reader.read_metadata().state_dict_metadata)
        state = _state_dict(model, optimizer, 0, self.rank, self.options)
        # RNG states are per rank; a rank that did not exist when the checkpoint was saved keeps its own.
        state = {k: v for k, v in state.items() if not k.startswith(("rng_", "cuda_rng_")) or k in saved}
        dcp_load(state, storage_reader=reader, no_dist=_single())
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"],
                       options=self.options)
        if _rng_key(self.rank) in state:
            torch.set_rng_state(state[_rng_key(self.rank)])
        if f"cuda_{_rng_key(self.rank)}" in state:
            torch.cuda.set_rng_state(state[f"cuda_{_rng_key(self.rank)}"])
        return int(state["progress"]["step"])

    def maybe_save(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, final: bool) -> None:
        if step % self.every and not final:
            return
        started = time.perf_counter()
        self.wait()  # one save in flight at a time
        state = _state_dict(model, optimizer, step, self.rank, self.options)
        writer = self.store.writer(step_name(step))
        if self.use_async:
            # async_save copies the state to CPU memory before returning; the write runs in the background.
            pending = dcp_async_save(state, storage_writer=writer, process_group=self._group, no_dist=_single())
            assert isinstance(pending, Future), "the thread-based async checkpointer returns a Future"
            self._pending = (pending, step)
        else:
            dcp_save(state, storage_writer=writer, no_dist=_single())
            self._commit(step)
        self.blocked_seconds += time.perf_counter() - started

    def wait(self) -> None:
        """Finish the save in flight, if any, and publish it."""
        if self._pending is None:
            return
        future, step = self._pending
        self._pending = None
        future.result()
        if dist.is_initialized():
            dist.barrier(group=self._group)  # every rank's part is written before the pointer moves
        self._commit(step)

    def _commit(self, step: int) -> None:
        if self.rank != 0:
            return
        name = step_name(step)
        if not self.store.exists(f"{name}/{METADATA}"):
            raise RuntimeError(f"checkpoint {self.store.uri}/{name} has no {METADATA} after saving")
        self.store.write_text(LATEST, name + "\n")
        self._prune(name)

    def _prune(self, newest: str) -> None:
        """Keep the newest ``keep`` complete checkpoints; drop older ones and older broken leftovers."""
        complete = complete_checkpoints(self.store)
        keep = set(complete[-self.keep:]) | {newest}
        for name in filter(_is_step, self.store.children()):
            if name not in keep and _step_of(name) < _step_of(newest):
                self.store.delete_tree(name)
