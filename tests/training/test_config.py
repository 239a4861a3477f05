"""Training config: recipes, overrides, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from training.config import RECIPES, TrainConfigError, resolve

LLM_RUN = ["base_model=s3://models/base/", "data=s3://datasets/prepared/chat/"]
"""What an LLM recipe leaves to the run: the checkpoint and the data (the config only names them)."""


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipes_resolve(recipe: str) -> None:
    cfg = resolve(recipe, LLM_RUN if "llm" in recipe else [])
    assert cfg.n_embd % cfg.n_head == 0 and cfg.recipe == recipe


@pytest.mark.parametrize(("recipe", "overrides", "message"), [
    ("cpu_llm", [], "data: name the token shards to train on"),
    ("gpu_llm_lora", ["data=s3://datasets/x/"], "finetune=lora: needs base_model"),
    ("cpu_debug", ["base_model=s3://models/base/"], "base_model: fine-tuning reads data=<shards"),
    ("cpu_llm", [*LLM_RUN, "finetune=qlora"], "finetune='qlora': allowed: full, lora"),
    ("cpu_llm", [*LLM_RUN, "lora_rank=0"], "lora_rank and lora_alpha must be at least 1"),
    ("cpu_llm", [*LLM_RUN, "lora_targets=,"], "lora_targets: name at least one module"),
])
def test_an_incomplete_llm_run_is_one_line(recipe: str, overrides: list[str], message: str) -> None:
    with pytest.raises(TrainConfigError, match=message):
        resolve(recipe, overrides)


def test_overrides_are_typed() -> None:
    cfg = resolve("cpu_debug", ["steps=7", "lr=0.01", "compile=true", "device=cpu"])
    assert (cfg.steps, cfg.lr, cfg.compile, cfg.device) == (7, 0.01, True, "cpu")


@pytest.mark.parametrize(("overrides", "message"), [
    (["stepz=3"], "--set stepz: unknown key; allowed: "),
    (["steps"], "--set 'steps': expected key=value"),
    (["steps=many"], "steps='many': expected an integer"),
    (["steps=0"], "steps=0: must be at least 1"),
    (["lr=2"], "lr=2.0: must be between 0 and 1"),
    (["compile=maybe"], "compile='maybe': expected true or false"),
    (["precision=fp8"], "precision='fp8': allowed: fp32, bf16"),
    (["n_embd=100", "n_head=3"], "n_embd=100: must be a multiple of n_head=3"),
])
def test_bad_overrides_are_one_line(overrides: list[str], message: str) -> None:
    with pytest.raises(TrainConfigError) as caught:
        resolve("cpu_debug", overrides)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(message)


def test_cli_reports_config_errors_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "training", "--set", "digits=99"], capture_output=True,
                            text=True, check=False, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == "training: error: digits=99: at most 18 (operands must fit in int64)"
