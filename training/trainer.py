"""The training loop: DDP or FSDP2 across ranks, bf16 autocast and torch.compile on GPU, gradient
accumulation, crash-safe checkpoints with automatic resume, throughput metrics (tokens/s, MFU), and
the serving artifact at the end."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from training import addition, distributed, export, hardware, observe
from training.checkpoint import Checkpointer
from training.config import TrainConfig
from training.data import ShardDataset
from training.model import GPT, GPTConfig
from training.storage import open_store


@dataclass(frozen=True)
class TrainResult:
    start_step: int
    first_loss: float
    final_loss: float
    exact_match: float
    tokens_per_second: float
    mfu: float | None
    parameters: int
    seconds: float
    checkpoint_blocked_seconds: float
    artifact: str


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress))))


def _optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=device.type == "cuda")


def _parallelize(model: GPT, cfg: TrainConfig, world: distributed.World) -> torch.nn.Module:
    if world.size == 1:
        return model
    if cfg.parallelism == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
        return model
    return DistributedDataParallel(model)


def _digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.numpy().tobytes()).hexdigest()[:16]


def _inject_crash(cfg: TrainConfig, world: distributed.World, step: int) -> None:
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    if cfg.crash_at_step and step == cfg.crash_at_step and first_attempt and world.rank == world.size - 1:
        os.kill(os.getpid(), signal.SIGKILL)


def _full_model(model: GPT, world: distributed.World) -> GPT:
    """A plain copy of the model on rank 0 (gathers FSDP shards), for evaluation and export."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    plain = GPT(model.cfg)
    if world.is_main:
        plain.load_state_dict(state)
    return plain


def train(cfg: TrainConfig) -> TrainResult | None:
    """Train as one rank of the job; rank 0 returns the result, the other ranks None."""
    world = distributed.init(cfg.device)
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    task: addition.AdditionTask | None = None
    if cfg.data == "addition":
        task = addition.AdditionTask(digits=cfg.digits, seed=cfg.seed)
        batches, vocab_size, length = task.batch, len(addition.VOCAB), addition.sequence_length(cfg.digits) - 1
        task_config = export.addition_task(cfg.digits)
    else:
        shards = ShardDataset(cfg.data, cfg.block_size, cfg.seed)
        batches, vocab_size, length = shards.batch, shards.vocab_size, cfg.block_size
        task_config = {"name": "language-model", "tokenizer": shards.manifest.tokenizer.model_dump(),
                       "data": cfg.data}
    model = GPT(GPTConfig(vocab_size=vocab_size, block_size=length, n_layer=cfg.n_layer,
                          n_head=cfg.n_head, n_embd=cfg.n_embd)).to(world.device)
    parameters = model.num_parameters()
    flops_per_token = model.flops_per_token(length)
    wrapped = _parallelize(model, cfg, world)
    optimizer = _optimizer(model, cfg, world.device)
    if cfg.compile:
        wrapped = torch.compile(wrapped)  # type: ignore[assignment]

    output_dir = Path(cfg.output_dir)
    checkpointer = Checkpointer(store=open_store(cfg.checkpoint_uri or str(output_dir / "checkpoints")),
                                every=cfg.checkpoint_every, keep=cfg.keep_checkpoints,
                                use_async=cfg.async_checkpoint, rank=world.rank)
    start_step = checkpointer.restore(model, optimizer)
    use_bf16 = cfg.precision == "bf16" and world.device.type == "cuda"
    peak = hardware.peak_flops(world.device)
    tokens_per_step = cfg.batch_size * cfg.grad_accum * length * world.size

    first_loss = final_loss = float("nan")
    tokens_per_second, mfu = 0.0, None
    with observe.Recorder(output_dir, cfg.steps, enabled=world.is_main, show_progress=cfg.progress) as recorder:
        recorder.event("start", start_step=start_step, world_size=world.size, parameters=parameters,
                       restart=int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")), config=asdict(cfg))
        window_start, window_tokens = time.perf_counter(), 0
        for step in range(start_step, cfg.steps):
            _inject_crash(cfg, world, step)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step)
            loss_sum = torch.zeros((), device=world.device)
            digests = []
            for micro in range(cfg.grad_accum):
                inputs, targets = batches(step * cfg.grad_accum + micro, world.rank, cfg.batch_size)
                if cfg.log_every == 1:
                    digests.append(_digest(inputs))
                inputs = inputs.to(world.device, non_blocking=True)
                targets = targets.to(world.device, non_blocking=True)
                with torch.autocast(world.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    logits = wrapped(inputs)
                loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1),
                                       ignore_index=-100) / cfg.grad_accum
                loss.backward()  # type: ignore[no-untyped-call]
                loss_sum += loss.detach()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            window_tokens += tokens_per_step
            done = step + 1
            if cfg.log_every == 1:
                recorder.event("samples", step=done, rank0_batches=digests)
            if step == start_step or done % cfg.log_every == 0 or done == cfg.steps:
                final_loss = float(loss_sum)  # synchronises with the device only at log points
                if step == start_step:
                    first_loss = final_loss
                    # The first step includes compilation and warm-up; measure throughput after it.
                    window_start, window_tokens = time.perf_counter(), 0
                else:
                    tokens_per_second = window_tokens / (time.perf_counter() - window_start)
                    mfu = flops_per_token * tokens_per_second / (peak * world.size) if peak else None
                    window_start, window_tokens = time.perf_counter(), 0
                recorder.event("step", step=done, loss=final_loss, lr=learning_rate(cfg, step),
                               tokens_per_second=tokens_per_second, mfu=mfu)
                recorder.advance(done, final_loss, tokens_per_second or None)
            checkpointer.maybe_save(model, optimizer, done, final=done == cfg.steps)
        checkpointer.wait()

        full = _full_model(model, world)
        accuracy, artifact = float("nan"), ""
        if world.is_main:
            full = full.to(world.device).eval()
            if task is not None:
                with torch.autocast(world.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    accuracy = task.exact_match(full, cfg.eval_problems, world.device)
            sagemaker_dir = Path(cfg.sagemaker_model_dir) if cfg.sagemaker_model_dir else None
            artifact = export.export(full.cpu(), task_config, cfg.export_uri or str(output_dir / "artifact"),
                                     sagemaker_dir)
        result = TrainResult(start_step=start_step, first_loss=first_loss, final_loss=final_loss,
                             exact_match=accuracy, tokens_per_second=tokens_per_second, mfu=mfu,
                             parameters=parameters, seconds=time.perf_counter() - started,
                             checkpoint_blocked_seconds=checkpointer.blocked_seconds, artifact=artifact)
        recorder.event("result", **asdict(result))
    if world.is_main:
        observe.loss_curve(output_dir / "metrics.jsonl", output_dir / "loss_curve.png")
    if dist.is_initialized():
        dist.barrier()
    distributed.close()
    return result if world.is_main else None
