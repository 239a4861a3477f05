"""What the training loop trains: a model, its batches, and what happens when training ends.

The loop in ``training.trainer`` is the same for every workload; a workload says how to make batches,
how to get logits, what a checkpoint holds, and how the trained model is evaluated and exported. The
reference model (``training.reference``) and Hugging Face LLMs (``training.llm.finetune``) are the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions

from training.distributed import World

Batches = Callable[[int, int, int], tuple[torch.Tensor, torch.Tensor]]
"""(step, rank, batch size) -> (inputs, labels): a pure function, so a resumed run sees the same data."""


@dataclass
class Finished:
    exact_match: float
    """Held-out exact match where the workload measures it in training, else NaN."""
    artifact: str
    """Where the exported model is (rank 0), empty on other ranks."""


@dataclass
class Workload:
    model: torch.nn.Module
    """The module whose parameters train and are checkpointed (sharded in place under FSDP)."""
    step_module: torch.nn.Module
    """What each step calls: the model, or its DDP wrapper, compiled where asked."""
    batches: Batches
    logits: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]
    parameters: int
    trainable_parameters: int
    flops_per_token: float
    """Training FLOPs per token, for model-FLOPs utilisation."""
    finish: Callable[[World, int], Finished]
    """Evaluate and export after the last step (every rank calls it: gathering shards is collective)."""
    state_options: StateDictOptions = field(default_factory=StateDictOptions)
    """What a checkpoint holds: LoRA runs leave the frozen base out."""
    describe: dict[str, Any] = field(default_factory=dict)
    """Extra facts for the run's start event (model, data)."""
