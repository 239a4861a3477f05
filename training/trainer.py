"""The training loop, the same for every workload: DDP or FSDP2 across ranks, bf16 autocast where asked,
gradient accumulation, crash-safe checkpoints with automatic resume, throughput metrics (tokens/s,
MFU), and the workload's evaluation and export at the end."""

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

from training import distributed, hardware, observe, reference
from training.checkpoint import Checkpointer
from training.config import TrainConfig
from training.data import IGNORE
from training.storage import open_store
from training.workload import Workload


@dataclass(frozen=True)
class TrainResult:
    start_step: int
    first_loss: float
    final_loss: float
    exact_match: float
    tokens_per_second: float
    mfu: float | None
    parameters: int
    trainable_parameters: int
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
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=device.type == "cuda")


def _digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.numpy().tobytes()).hexdigest()[:16]


def _inject_crash(cfg: TrainConfig, world: distributed.World, step: int) -> None:
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    if cfg.crash_at_step and step == cfg.crash_at_step and first_attempt and world.rank == world.size - 1:
        os.kill(os.getpid(), signal.SIGKILL)


def _workload(cfg: TrainConfig, world: distributed.World) -> Workload:
    if cfg.base_model:
        from training.llm import finetune  # transformers and peft load only for LLM runs

        return finetune.workload(cfg, world)
    return reference.workload(cfg, world)


def _loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the positions that count, and how many counted."""
    counted = int((labels != IGNORE).sum())
    loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE,
                           reduction="sum")
    return loss, counted


def train(cfg: TrainConfig) -> TrainResult | None:
    """Train as one rank of the job; rank 0 returns the result, the other ranks None."""
    world = distributed.init(cfg.device)
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    work = _workload(cfg, world)
    optimizer = _optimizer(work.model, cfg, world.device)

    output_dir = Path(cfg.output_dir)
    checkpointer = Checkpointer(store=open_store(cfg.checkpoint_uri or str(output_dir / "checkpoints")),
                                every=cfg.checkpoint_every, keep=cfg.keep_checkpoints,
                                use_async=cfg.async_checkpoint, rank=world.rank, options=work.state_options)
    start_step = checkpointer.restore(work.model, optimizer)
    use_bf16 = cfg.precision == "bf16" and world.device.type == "cuda" and not cfg.base_model
    peak = hardware.peak_flops(world.device)

    first_loss = final_loss = float("nan")
    tokens_per_second, mfu = 0.0, None
    with observe.Recorder(output_dir, cfg.steps, enabled=world.is_main, show_progress=cfg.progress) as recorder:
        recorder.event("start", start_step=start_step, world_size=world.size, parameters=work.parameters,
                       trainable_parameters=work.trainable_parameters, **work.describe,
                       restart=int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")), config=asdict(cfg))
        window_start, window_tokens = time.perf_counter(), 0
        for step in range(start_step, cfg.steps):
            _inject_crash(cfg, world, step)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step)
            micro_batches = [work.batches(step * cfg.grad_accum + micro, world.rank, cfg.batch_size)
                             for micro in range(cfg.grad_accum)]
            # Every micro-batch's loss is divided by the step's count of predicted tokens, so padding
            # and prompt tokens never change the weight of a token in the mean.
            counted = sum(int((labels != IGNORE).sum()) for _, labels in micro_batches)
            loss_sum = torch.zeros((), device=world.device)
            digests = []
            for inputs, labels in micro_batches:
                if cfg.log_every == 1:
                    digests.append(_digest(inputs))
                inputs = inputs.to(world.device, non_blocking=True)
                labels = labels.to(world.device, non_blocking=True)
                with torch.autocast(world.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    logits = work.logits(work.step_module, inputs)
                loss = _loss(logits, labels)[0] / max(1, counted)
                loss.backward()  # type: ignore[no-untyped-call]
                loss_sum += loss.detach()
                window_tokens += inputs.numel() * world.size
            torch.nn.utils.clip_grad_norm_([p for p in work.model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
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
                    mfu = work.flops_per_token * tokens_per_second / (peak * world.size) if peak else None
                    window_start, window_tokens = time.perf_counter(), 0
                recorder.event("step", step=done, loss=final_loss, lr=learning_rate(cfg, step),
                               tokens_per_second=tokens_per_second, mfu=mfu)
                recorder.advance(done, final_loss, tokens_per_second or None)
            checkpointer.maybe_save(work.model, optimizer, done, final=done == cfg.steps)
        checkpointer.wait()

        finished = work.finish(world, max(start_step, cfg.steps))
        result = TrainResult(start_step=start_step, first_loss=first_loss, final_loss=final_loss,
                             exact_match=finished.exact_match, tokens_per_second=tokens_per_second, mfu=mfu,
                             parameters=work.parameters, trainable_parameters=work.trainable_parameters,
                             seconds=time.perf_counter() - started,
                             checkpoint_blocked_seconds=checkpointer.blocked_seconds, artifact=finished.artifact)
        recorder.event("result", **asdict(result))
    if world.is_main:
        observe.loss_curve(output_dir / "metrics.jsonl", output_dir / "loss_curve.png")
    if dist.is_initialized():
        dist.barrier()
    distributed.close()
    return result if world.is_main else None
