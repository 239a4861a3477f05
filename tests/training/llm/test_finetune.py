"""Fine-tuning Hugging Face models: every family trains and exports, LoRA merges exactly, and the
crash-safe checkpoints of the reference model hold on this path too (real SIGKILLs under torchrun)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from tests.training.llm.models import checkpoint, shards
from tests.training.runner import events, flatten, launch, load_checkpoint, result_of
from training import trainer
from training.config import resolve
from training.data import DataError
from training.llm import artifact, finetune, tiny

PROBE = torch.tensor([[1, 4, 90, 88, 28, 16, 28, 5, 204, 4, 70]])


def _train(tmp_path: Path, *settings: str, family: str = "llama") -> trainer.TrainResult:
    cfg = resolve("cpu_llm", [f"base_model={checkpoint(family)}", f"data={shards(family)}", "steps=4",
                              "batch_size=8", "checkpoint_every=2", "progress=false", "log_every=1",
                              f"output_dir={tmp_path}", *settings])
    result = trainer.train(cfg)
    assert result is not None
    return result


def _final_model_state(out: Path, tmp_path: Path, step: int) -> dict[str, Any]:
    state = flatten(load_checkpoint(out / "checkpoints" / f"step-{step:08d}", tmp_path))
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}


def _logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        logits: torch.Tensor = model(input_ids=PROBE).logits
    return logits


@pytest.mark.parametrize("family", sorted(tiny.FAMILIES))
def test_each_family_fine_tunes_and_exports_the_trained_weights(tmp_path: Path, family: str) -> None:
    result = _train(tmp_path, family=family)
    assert result.final_loss < result.first_loss
    assert result.artifact == f"{tmp_path}/artifact/"
    manifest = artifact.verify(tmp_path / "artifact")
    assert manifest.model_type == family and manifest.provenance.finetune == "full"
    assert manifest.provenance.step == 4 and manifest.provenance.recipe == "cpu_llm"
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "artifact", local_files_only=True)
    trained = AutoModelForCausalLM.from_pretrained(checkpoint(family), local_files_only=True)
    trained.load_state_dict(_final_model_state(tmp_path, tmp_path, 4))
    assert torch.equal(_logits(exported), _logits(trained))
    assert not torch.equal(_logits(exported), _logits(AutoModelForCausalLM.from_pretrained(
        checkpoint(family), local_files_only=True))), "training changed the weights"


def test_lora_trains_adapters_only_and_the_merged_export_answers_as_the_adapted_model(tmp_path: Path) -> None:
    result = _train(tmp_path, "finetune=lora", "lora_rank=4", "lr=0.01")
    assert result.trainable_parameters < result.parameters / 10
    adapters = _final_model_state(tmp_path, tmp_path, 4)
    assert adapters and all("lora_" in key for key in adapters), "a LoRA checkpoint holds only what trains"
    cfg = resolve("cpu_llm", [f"base_model={checkpoint()}", f"data={shards()}", "finetune=lora", "lora_rank=4"])
    adapted = get_peft_model(AutoModelForCausalLM.from_pretrained(checkpoint(), local_files_only=True),
                             finetune._lora_config(cfg))
    missing = adapted.load_state_dict(adapters, strict=False)
    assert not missing.unexpected_keys
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "artifact", local_files_only=True)
    assert type(merged).__name__ == "LlamaForCausalLM"
    torch.testing.assert_close(_logits(merged), _logits(adapted), rtol=1e-5, atol=1e-5)
    assert artifact.verify(tmp_path / "artifact").provenance.finetune == "lora"


def test_lora_adapter_export_loads_on_its_base(tmp_path: Path) -> None:
    _train(tmp_path, "finetune=lora", "lora_rank=4", "lora_export=adapter", "lr=0.01")
    directory = tmp_path / "artifact"
    manifest = artifact.verify(directory)
    assert manifest.adapter is not None and manifest.adapter.base_model == str(checkpoint())
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(manifest.files)
    assert not any(name.startswith("model") for name in manifest.files), "the base weights are not copied"
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(checkpoint(), local_files_only=True),
                                       directory)
    base_only = AutoModelForCausalLM.from_pretrained(checkpoint(), local_files_only=True)
    assert not torch.equal(_logits(loaded), _logits(base_only))


def test_shards_of_another_tokenizer_are_refused(tmp_path: Path) -> None:
    cfg = resolve("cpu_llm", [f"base_model={checkpoint('llama', seed=1)}", f"data={shards('llama')}",
                              f"output_dir={tmp_path}", "progress=false"])
    with pytest.raises(DataError, match="shards were prepared with another tokenizer"):
        trainer.train(cfg)


LLM = ["--recipe", "cpu_llm", "--set", "batch_size=8", "--set", "progress=false", "--set", "parallelism=fsdp"]


def _llm(tmp_path: Path) -> list[str]:
    return [*LLM, "--set", f"base_model={checkpoint()}", "--set", f"data={shards()}"]


@pytest.mark.slow
def test_sigkilled_fsdp2_worker_resumes_bit_identical(tmp_path: Path) -> None:
    common = ["--nproc", "2", "--max-restarts", "1", *_llm(tmp_path), "--set", "steps=16",
              "--set", "checkpoint_every=5", "--set", "log_every=1"]
    plain, crashed = tmp_path / "plain", tmp_path / "crashed"
    result_of(launch(*common, "--set", f"output_dir={plain}", env={"OMP_NUM_THREADS": "1"}))
    result = result_of(launch(*common, "--set", f"output_dir={crashed}", "--set", "crash_at_step=12",
                              env={"OMP_NUM_THREADS": "1"}))
    assert [s["restart"] for s in events(crashed, "start")] == [0, 1]
    assert result["start_step"] == 10
    final_plain = flatten(load_checkpoint(plain / "checkpoints" / "step-00000016", tmp_path))
    final_crashed = flatten(load_checkpoint(crashed / "checkpoints" / "step-00000016", tmp_path))
    tensors = [k for k in final_plain if k.startswith(("model.", "optim."))]
    assert len(tensors) > 40 and set(tensors) == {k for k in final_crashed if k.startswith(("model.", "optim."))}
    for key in tensors:
        if isinstance(final_plain[key], torch.Tensor):
            assert torch.equal(final_plain[key], final_crashed[key]), key
    plain_batches = {e["step"]: e["rank0_batches"] for e in events(plain, "samples")}
    crashed_batches = {e["step"]: e["rank0_batches"] for e in events(crashed, "samples")}
    assert all(crashed_batches[step] == plain_batches[step] for step in range(11, 17))
    exported = json.loads((crashed / "artifact" / artifact.MANIFEST).read_text())
    assert exported["provenance"]["step"] == 16


@pytest.mark.slow
def test_lora_under_fsdp2_resumes_on_one_worker(tmp_path: Path) -> None:
    out = tmp_path / "run"
    lora = ["--set", "finetune=lora", "--set", "lora_rank=4", "--set", "checkpoint_every=5",
            "--set", f"output_dir={out}"]
    first = result_of(launch("--nproc", "2", *_llm(tmp_path), *lora, "--set", "steps=10",
                             env={"OMP_NUM_THREADS": "1"}))
    assert first["trainable_parameters"] < first["parameters"] / 10
    result = result_of(launch("--nproc", "1", *_llm(tmp_path), *lora, "--set", "steps=12",
                              env={"OMP_NUM_THREADS": "1"}))
    assert result["start_step"] == 10
    assert [e["world_size"] for e in events(out, "start")] == [2, 1]
    assert artifact.verify(out / "artifact").provenance.step == 12
