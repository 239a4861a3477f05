"""Fine-tuning a Hugging Face causal LM: the workload the training loop runs when ``base_model`` is set.

- The base checkpoint is checked (``training.llm.base``), copied from ``s3://`` once per node, and
  loaded with ``transformers``; the shards must have been prepared with its own tokenizer.
- Full fine-tuning, or LoRA through ``peft`` (the base frozen; checkpoints then hold only what trains).
- FSDP2 ``fully_shard`` per decoder layer and at the root, with bf16 parameters and fp32 gradient
  reduction where ``precision=bf16``; activation checkpointing and ``torch.compile`` per layer as options.
- At the end rank 0 gathers the weights, merges LoRA adapters (or keeps the adapter alone), and
  publishes the LLM artifact (``training.llm.artifact``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.nn.parallel import DistributedDataParallel
from transformers import AutoModelForCausalLM, GenerationConfig, PreTrainedModel

from training.config import TrainConfig
from training.data import DataError, ExampleDataset
from training.distributed import World
from training.llm import artifact, base
from training.storage import cache_dir, open_store
from training.workload import Finished, Workload

EXPORT_SHARD_SIZE = "5GB"


def _checkpoint(cfg: TrainConfig, world: World) -> base.BaseCheckpoint:
    """The base checkpoint, copied once per node (its first rank copies, the others wait)."""
    cache = cache_dir("checkpoints")
    if world.local_rank == 0:
        checkpoint = base.open_checkpoint(cfg.base_model, cache)
    if dist.is_initialized():
        dist.barrier()
    if world.local_rank != 0:
        checkpoint = base.open_checkpoint(cfg.base_model, cache)
    return checkpoint


def _data(cfg: TrainConfig, checkpoint: base.BaseCheckpoint, pad_id: int) -> ExampleDataset:
    data = ExampleDataset(cfg.data, cfg.block_size, cfg.seed, pad_id=pad_id)
    tokenizer = data.manifest.tokenizer
    if tokenizer.type != "hf" or tokenizer.sha256 != checkpoint.tokenizer_sha256:
        raise DataError(f"{cfg.data}: shards were prepared with another tokenizer ({tokenizer.type}, "
                        f"{tokenizer.base_model or 'no base model'}), not {cfg.base_model}'s; prepare them with "
                        f"--base-model {cfg.base_model}")
    return data


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's stack of decoder layers (``model.layers`` in the Llama, Qwen and Mistral families)."""
    for name, module in model.named_modules():
        if name.endswith("layers") and isinstance(module, nn.ModuleList) and len(module):
            return module
    raise ValueError(f"{type(model).__name__}: no decoder layer stack found")


def _load(checkpoint: base.BaseCheckpoint) -> PreTrainedModel:
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(checkpoint.path, dtype=torch.float32,
                                                                  local_files_only=True)
    model.config.use_cache = False  # training never reuses a KV cache
    return model


def _lora_config(cfg: TrainConfig) -> LoraConfig:
    targets: str | list[str] = cfg.lora_targets if cfg.lora_targets == "all-linear" else [
        t.strip() for t in cfg.lora_targets.split(",") if t.strip()]
    return LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM", bias="none")


def _prepare(model: nn.Module, cfg: TrainConfig, world: World) -> nn.Module:
    """Options per layer, then the parallel wrapping; returns what each step calls."""
    if cfg.activation_checkpointing:
        target: Any = model.get_base_model() if isinstance(model, PeftModel) else model
        target.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    layers = decoder_layers(model)
    if cfg.compile:
        for layer in layers:
            layer.compile()
    if world.size == 1:
        return model.to(world.device)
    if cfg.parallelism == "ddp":
        return DistributedDataParallel(model.to(world.device))
    bf16 = cfg.precision == "bf16" and world.device.type == "cuda"
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 \
        else MixedPrecisionPolicy()
    for layer in layers:
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def _commit() -> str | None:
    if os.environ.get("HOIST_COMMIT"):
        return os.environ["HOIST_COMMIT"]
    found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
                           cwd=Path(__file__).parent)
    return found.stdout.strip() or None if found.returncode == 0 else None


def _export_dtype(checkpoint: base.BaseCheckpoint) -> torch.dtype:
    name = str(checkpoint.config.get("dtype") or checkpoint.config.get("torch_dtype") or "float32")
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(name, torch.float32)


def _write_artifact(cfg: TrainConfig, checkpoint: base.BaseCheckpoint, state: dict[str, Any], step: int,
                    directory: Path, data_manifest: str) -> None:
    """The trained model as an LLM artifact in ``directory`` (rank 0 only, from the gathered weights)."""
    trained: PreTrainedModel = _load(checkpoint)
    if cfg.finetune == "lora":
        adapted = get_peft_model(trained, _lora_config(cfg))
        adapted.load_state_dict(state)
    else:
        trained.load_state_dict(state)
    adapter = None
    if cfg.finetune == "lora" and cfg.lora_export == "adapter":
        adapted.save_pretrained(str(directory))
        adapter = artifact.Adapter(base_model=cfg.base_model, rank=cfg.lora_rank, alpha=cfg.lora_alpha,
                                   targets=tuple(t.strip() for t in cfg.lora_targets.split(",")))
        parameters = sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    else:
        if cfg.finetune == "lora":
            merged = adapted.merge_and_unload()
            assert isinstance(merged, PreTrainedModel)
            trained = merged
        trained.config.use_cache = True
        torch.nn.Module.to(trained, _export_dtype(checkpoint))  # PreTrainedModel.to's stub omits dtypes
        trained.save_pretrained(directory, max_shard_size=EXPORT_SHARD_SIZE)
        parameters = sum(p.numel() for p in trained.parameters())
    for name in (*base.TOKENIZER_FILES, "generation_config.json"):
        if (checkpoint.path / name).is_file() and not (directory / name).exists():
            shutil.copyfile(checkpoint.path / name, directory / name)
    if not (directory / "generation_config.json").exists():
        GenerationConfig.from_model_config(trained.config).save_pretrained(directory)
    provenance = artifact.Provenance(
        base_model=cfg.base_model, finetune=cfg.finetune, step=step, recipe=cfg.recipe or None, commit=_commit(),
        data_manifest_sha256=hashlib.sha256(data_manifest.encode()).hexdigest())
    artifact.write_manifest(directory, architecture=checkpoint.architecture, model_type=checkpoint.model_type,
                            dtype=str(_export_dtype(checkpoint)).removeprefix("torch."), parameters=parameters,
                            adapter=adapter, provenance=provenance)


def workload(cfg: TrainConfig, world: World) -> Workload:
    checkpoint = _checkpoint(cfg, world)
    loaded = _load(checkpoint)
    pad_id = int(loaded.config.pad_token_id or 0)
    data = _data(cfg, checkpoint, pad_id)
    if int(loaded.config.vocab_size) < data.manifest.tokenizer.vocab_size:
        raise DataError(f"{cfg.data}: token ids reach {data.manifest.tokenizer.vocab_size}, beyond the model's "
                        f"vocabulary of {loaded.config.vocab_size}")
    parameters = sum(p.numel() for p in loaded.parameters())
    model: nn.Module = get_peft_model(loaded, _lora_config(cfg)) if cfg.finetune == "lora" else loaded
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    step_module = _prepare(model, cfg, world)
    layers, hidden = int(checkpoint.config["num_hidden_layers"]), int(checkpoint.config["hidden_size"])
    # 6N per token for full training; frozen weights need no weight gradients, so LoRA does ~4N.
    weights = 6 * parameters if cfg.finetune == "full" else 4 * parameters + 6 * trainable
    flops_per_token = weights + 12 * layers * hidden * cfg.block_size
    data_manifest = open_store(cfg.data).read_text("manifest.json") or ""

    def finish(world: World, step: int) -> Finished:
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if not world.is_main:
            return Finished(float("nan"), "")
        with tempfile.TemporaryDirectory(prefix="hoist-llm-export-") as tmp:
            directory = Path(tmp) / "artifact"
            directory.mkdir()
            _write_artifact(cfg, checkpoint, state, step, directory, data_manifest)
            location = artifact.publish(directory, cfg.export_uri or str(Path(cfg.output_dir) / "artifact"))
        return Finished(float("nan"), location)

    # A LoRA checkpoint leaves the frozen base out, so loading it must not ask for the base weights.
    lora = cfg.finetune == "lora"
    options = StateDictOptions(ignore_frozen_params=lora, strict=not lora)
    return Workload(model=model, step_module=step_module, batches=data.batch,
                    logits=lambda module, inputs: module(input_ids=inputs).logits, parameters=parameters,
                    trainable_parameters=trainable, flops_per_token=flops_per_token, finish=finish,
                    state_options=options,
                    describe={"model": checkpoint.architecture, "base_model": cfg.base_model,
                              "examples": data.examples, "finetune": cfg.finetune})
