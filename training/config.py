"""Training config: one typed dataclass, recipes named for the hardware they were verified on, and
``--set key=value`` overrides. A bad key or value is a one-line error."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args


class TrainConfigError(ValueError):
    """A config that cannot run; the message is one line."""


Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["fp32", "bf16"]
Parallelism = Literal["ddp", "fsdp"]


@dataclass(kw_only=True)
class TrainConfig:
    n_layer: int = 2
    """Transformer blocks."""
    n_head: int = 4
    """Attention heads per block (divides n_embd)."""
    n_embd: int = 128
    """Model width."""
    digits: int = 3
    """Digits per operand of the addition task."""
    seed: int = 0
    """Seeds the weights and the data; the same seed gives the same run."""
    steps: int = 1500
    """Optimizer steps."""
    batch_size: int = 64
    """Examples per rank per micro-step."""
    grad_accum: int = 1
    """Micro-steps per optimizer step."""
    lr: float = 1e-3
    """Peak learning rate (AdamW), reached after warmup and decayed by cosine to 10%."""
    warmup_steps: int = 20
    """Linear warmup steps."""
    weight_decay: float = 0.0
    """AdamW weight decay on matrices."""
    device: Device = "auto"
    """cuda when available under auto."""
    precision: Precision = "fp32"
    """bf16 autocast on GPU; fp32 on CPU."""
    compile: bool = False
    """torch.compile the model (GPU recipes)."""
    eval_problems: int = 200
    """Held-out problems for exact-match accuracy at the end."""
    log_every: int = 10
    """Steps between metric lines."""
    output_dir: str = "runs/local"
    """Where metrics (JSON lines) and the loss curve go, on rank 0's machine."""
    checkpoint_uri: str = ""
    """Directory or s3:// prefix for checkpoints; empty means <output_dir>/checkpoints."""
    checkpoint_every: int = 100
    """Steps between checkpoints (a final one is always written)."""
    keep_checkpoints: int = 3
    """Newest complete checkpoints kept; older ones are deleted."""
    async_checkpoint: bool = False
    """Write checkpoints in the background; training blocks only while the state is copied."""
    export_uri: str = ""
    """Directory or s3:// prefix that receives model.tar.gz; empty means <output_dir>/artifact."""
    sagemaker_model_dir: str = ""
    """On SageMaker: write the unpacked artifact here (/opt/ml/model) instead of model.tar.gz."""
    parallelism: Parallelism = "ddp"
    """ddp replicates the model on every rank; fsdp shards it (FSDP2 fully_shard) for large models."""
    progress: bool = True
    """Show a progress bar on rank 0."""
    crash_at_step: int = 0
    """Fault injection for tests: the last rank SIGKILLs itself at this step on the first attempt."""

    def __post_init__(self) -> None:
        positive = ("n_layer", "n_head", "n_embd", "digits", "steps", "batch_size", "grad_accum", "eval_problems",
                    "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise TrainConfigError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.n_embd % self.n_head:
            raise TrainConfigError(f"n_embd={self.n_embd}: must be a multiple of n_head={self.n_head}")
        if not 0 < self.lr < 1:
            raise TrainConfigError(f"lr={self.lr}: must be between 0 and 1")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise TrainConfigError("warmup_steps and weight_decay must not be negative")
        if self.digits > 18:
            raise TrainConfigError(f"digits={self.digits}: at most 18 (operands must fit in int64)")
        if self.checkpoint_every < 1 or self.keep_checkpoints < 1:
            raise TrainConfigError("checkpoint_every and keep_checkpoints must be at least 1")
        for name, allowed in (("device", Device), ("precision", Precision), ("parallelism", Parallelism)):
            if getattr(self, name) not in get_args(allowed):
                raise TrainConfigError(f"{name}={getattr(self, name)!r}: allowed: {', '.join(get_args(allowed))}")


def cpu_debug() -> TrainConfig:
    """2 CPU workers on gloo: a tiny model that learns 3-digit addition in a minute or two."""
    return TrainConfig()


def gpu_single_node() -> TrainConfig:
    """One node of GPUs: GPT-2-small width, bf16 autocast, torch.compile."""
    return TrainConfig(n_layer=12, n_head=12, n_embd=768, digits=12, steps=300, batch_size=512, lr=6e-4,
                       warmup_steps=30, weight_decay=0.1, device="cuda", precision="bf16", compile=True,
                       eval_problems=500, log_every=25)


def gpu_multi_node() -> TrainConfig:
    """Several nodes: the single-node recipe with a larger model and gradient accumulation."""
    return dataclasses.replace(gpu_single_node(), n_layer=24, n_head=16, n_embd=1024, grad_accum=2, steps=2000)


RECIPES: dict[str, Callable[[], TrainConfig]] = {
    "cpu_debug": cpu_debug,
    "gpu_single_node": gpu_single_node,
    "gpu_multi_node": gpu_multi_node,
}


def _convert(name: str, text: str, current: object) -> object:
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise TrainConfigError(f"{name}={text!r}: expected true or false")
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise TrainConfigError(f"{name}={text!r}: expected an integer") from None
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            raise TrainConfigError(f"{name}={text!r}: expected a number") from None
    return text


def build(recipe: str, overrides: Sequence[str]) -> TrainConfig:
    """A recipe with ``key=value`` overrides applied and checked."""
    if recipe not in RECIPES:
        raise TrainConfigError(f"unknown recipe {recipe!r}; allowed: {', '.join(RECIPES)}")
    # Later overrides win, as on a command line.
    cfg = RECIPES[recipe]()
    fields = {f.name for f in dataclasses.fields(cfg)}
    changes: dict[str, object] = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise TrainConfigError(f"--set {override!r}: expected key=value")
        if key not in fields:
            raise TrainConfigError(f"--set {key}: unknown key; allowed: {', '.join(sorted(fields))}")
        changes[key] = _convert(key, value, getattr(cfg, key))
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]
