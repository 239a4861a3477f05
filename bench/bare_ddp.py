"""The peer for the training-overhead benchmark: a bare DDP loop over the same model, data and optimizer,
with nothing else (no checkpoints, metrics, progress or evaluation). Run under torchrun."""

from __future__ import annotations

import json
import os
import sys
import time

import torch
import torch.distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from training import addition
from training.model import GPT, GPTConfig


def main(steps: int, n_layer: int, n_embd: int, n_head: int, batch_size: int) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    task = addition.AdditionTask(digits=3, seed=0)
    length = addition.sequence_length(3) - 1
    model = GPT(GPTConfig(vocab_size=len(addition.VOCAB), block_size=length, n_layer=n_layer, n_head=n_head,
                          n_embd=n_embd))
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    start = 0.0
    for step in range(steps):
        if step == 1:
            start = time.perf_counter()
        inputs, targets = task.batch(step, rank, batch_size)
        logits = ddp(inputs)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - start
    if rank == 0:
        print(json.dumps({"tokens_per_second": (steps - 1) * batch_size * length * world / elapsed}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:6]))
    os._exit(0)
