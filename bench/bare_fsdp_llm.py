"""The peer for the LLM fine-tuning benchmark: a bare FSDP2 loop over the same Hugging Face model and
the same batches (fully_shard per decoder layer and at the root, AdamW, gradient clipping), with
nothing else: no checkpoints, metrics or export. Run under torchrun:

    torchrun --standalone --nproc-per-node 2 bench/bare_fsdp_llm.py BASE SHARDS STEPS BATCH BLOCK
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard
from torch.nn import functional as F
from transformers import AutoModelForCausalLM

from training.data import IGNORE, ExampleDataset


def main(base: str, shards: str, steps: int, batch_size: int, block_size: int) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True)
    model.config.use_cache = False
    for layer in model.model.layers:
        fully_shard(layer)
    fully_shard(model)
    data = ExampleDataset(shards, block_size, seed=0, pad_id=int(model.config.pad_token_id or 0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95))
    start, tokens = 0.0, 0
    for step in range(steps):
        if step == 1:
            start, tokens = time.perf_counter(), 0
        inputs, labels = data.batch(step, rank, batch_size)
        logits = model(input_ids=inputs).logits
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), ignore_index=IGNORE,
                               reduction="sum") / max(1, int((labels != IGNORE).sum()))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += inputs.numel() * world
    elapsed = time.perf_counter() - start
    if rank == 0:
        print(json.dumps({"tokens_per_second": tokens / elapsed}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:6]))
    os._exit(0)
