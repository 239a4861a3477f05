"""The checks `hoist deploy` makes on an LLM artifact before promoting it: each refusal one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hoist.release.deploy import DeployError
from hoist.release.llm_checks import check_llm_artifact
from infra.config import EndpointConfig
from training.llm import artifact
from training.llm.tiny import SHAPE

PROVENANCE = artifact.Provenance(base_model="tiny")


def make_artifact(directory: Path, *, parameters: int = 300_000, quantization: str | None = None,
                  config: dict[str, Any] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config or {**SHAPE, "vocab_size": 512}))
    (directory / "model.safetensors").write_bytes(b"\0" * 4096)
    artifact.write_manifest(directory, architecture="LlamaForCausalLM", model_type="llama", dtype="bfloat16",
                            parameters=parameters, provenance=PROVENANCE, quantization=quantization)
    return directory


def endpoint(**llm: Any) -> EndpointConfig:
    return EndpointConfig.model_validate({"engine": "vllm", "model_key": "llm/x/", "instance_type": "ml.g5.12xlarge",
                                          "llm": {"model_gb": 1, **llm}})


def test_a_tiny_artifact_passes_with_its_size_and_kv_figure(tmp_path: Path) -> None:
    check = check_llm_artifact(make_artifact(tmp_path / "a"), endpoint(tensor_parallel_size=2))
    assert check.kv_bytes_per_token == 512
    size = sum(p.stat().st_size for p in (tmp_path / "a").iterdir() if p.name != artifact.MANIFEST)
    assert check.model_gb == size / 10**9
    assert check.warning is not None and "PCIe" in check.warning


def _tampered(tmp_path: Path) -> tuple[Path, EndpointConfig]:
    directory = make_artifact(tmp_path / "a")
    (directory / "model.safetensors").write_bytes(b"\1" * 4096)
    return directory, endpoint()


def _classic(tmp_path: Path) -> tuple[Path, EndpointConfig]:
    return make_artifact(tmp_path / "a"), EndpointConfig(model_key="runs/x/model.tar.gz")


def _quantised_setting(tmp_path: Path) -> tuple[Path, EndpointConfig]:
    return make_artifact(tmp_path / "a"), endpoint(quantization="fp8")


def _fp8_on_w8a8(tmp_path: Path) -> tuple[Path, EndpointConfig]:
    return make_artifact(tmp_path / "a", quantization="W8A8"), endpoint(quantization="fp8")


def _too_big(tmp_path: Path) -> tuple[Path, EndpointConfig]:
    return make_artifact(tmp_path / "a", parameters=70 * 10**9), endpoint(tensor_parallel_size=2)


def _tp_heads(tmp_path: Path) -> tuple[Path, EndpointConfig]:
    return make_artifact(tmp_path / "a"), endpoint(tensor_parallel_size=4)


CASES = {
    "hash mismatch": (_tampered, "model.safetensors: sha256 does not match hoist-manifest.json"),
    "classic engine": (_classic, "hoist:endpoint.engine is classic"),
    "quantisation set on full-precision weights": (_quantised_setting, "quantization is fp8 but the artifact's"),
    "fp8 for a W8A8 artifact": (_fp8_on_w8a8, "the artifact is W8A8 in compressed-tensors"),
    "does not fit": (_too_big, "ml.g5.12xlarge: does not fit: needs 140."),
    "TP does not divide the KV heads": (_tp_heads, "ml.g5.12xlarge: tensor_parallel_size 4 does not divide the "
                                                   "model's 2 KV heads"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refusals_are_one_line(tmp_path: Path, case: str) -> None:
    make, says = CASES[case]
    directory, config = make(tmp_path)
    with pytest.raises(DeployError) as caught:
        check_llm_artifact(directory, config)
    assert "\n" not in str(caught.value)
    assert says in str(caught.value), str(caught.value)


def test_prefix_rules_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = make_artifact(tmp_path / "a")
    manifest = artifact.read_manifest(directory)
    # A manifest listing a file beside a folder of the same name (written by something other than hoist).
    (directory / "extra").mkdir()
    (directory / "extra" / "x").write_text("x")
    (directory / "extra.bin").write_text("y")
    files = {**manifest.files, "extra/x": artifact.sha256_file(directory / "extra" / "x")}
    monkeypatch.setattr(artifact, "verify", lambda _d: manifest.model_copy(update={"files": {**files, "extra": "0"}}))
    with pytest.raises(DeployError, match="'extra': both a file and a folder"):
        check_llm_artifact(directory, endpoint())
