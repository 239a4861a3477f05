"""`hoist deploy` for an LLM: the artifact prefix is downloaded and checked (manifest hashes, prefix
rules, engine, sizing) before the promotion is written; a refusal is one line and leaves the stack
file untouched. S3 is a local moto server (the artifact store speaks to S3 through the CRT, which
moto's in-process mock cannot see); the artifact is a tiny Llama-shaped one with its manifest."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest
import yaml
from safetensors import safe_open

from hoist import cli
from hoist.outputs import StackOutputs, from_mapping
from hoist.plan import recording
from hoist.release import llm_chat
from infra import stack_files
from infra.stack_files import load_stack
from tests.conftest import single_model_dev
from tests.hoist.release.test_llm_checks import PROVENANCE, make_artifact
from tests.training.s3server import client, s3_server
from training.llm import artifact

DIGEST = "sha256:" + "34" * 32


@pytest.fixture
def llm_dev(tmp_path: Path, stacks_copy: Path, fake_aws_credentials: None) -> tuple[Path, StackOutputs]:
    """The dev stack switched to a vLLM endpoint, and its outputs."""
    path = stacks_copy / "Pulumi.dev.yaml"
    document: dict[str, Any] = single_model_dev(yaml.safe_load(path.read_text()))
    config = document["config"]
    config["hoist:images"]["llm"] = "sha256:" + "7" * 64
    config["hoist:endpoint"].update({"engine": "vllm", "model_key": "llm/old/", "instance_type": "ml.g5.12xlarge",
                                     "llm": {"model_gb": 1, "tensor_parallel_size": 2}})
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    outputs = recording.record("dev").outputs
    outputs_file = tmp_path / "dev-outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    return outputs_file, from_mapping(outputs, "offline")


def published(outputs: StackOutputs, directory: Path, prefix: str) -> str:
    return artifact.publish(directory, f"s3://{outputs.buckets['models'].name}/{prefix}")


@pytest.fixture
def s3(llm_dev: tuple[Path, StackOutputs], monkeypatch: pytest.MonkeyPatch) -> Any:
    with s3_server(llm_dev[1].buckets["models"].name) as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield client(env)


def run_deploy(outputs_file: Path, uri: str, *extra: str) -> int:
    return cli.main(["deploy", "--stack", "dev", "--model-uri", uri, "--outputs", str(outputs_file), *extra])


def served_artifact(tiny_model: Path, directory: Path) -> Path:
    """The session engine's tiny model as an exported LLM artifact: its files and a manifest hashing them."""
    shutil.copytree(tiny_model, directory)
    config = json.loads((directory / "config.json").read_text())
    parameters = 0
    for shard in sorted(directory.glob("*.safetensors")):
        with safe_open(str(shard), "np") as weights:
            parameters += sum(weights.get_tensor(name).size for name in weights.keys())  # noqa: SIM118
    artifact.write_manifest(directory, architecture=config["architectures"][0], model_type=config["model_type"],
                            dtype="float32", parameters=parameters, provenance=PROVENANCE)
    return directory


def kv_bytes(directory: Path) -> int:
    config = json.loads((directory / "config.json").read_text())
    head_dim = int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])
    return 2 * int(config["num_hidden_layers"]) * int(config["num_key_value_heads"]) * head_dim * 4  # fp32


def _files(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): artifact.sha256_file(p) for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != artifact.MANIFEST}


@pytest.fixture
def session_engine(tiny_model: Path, engine_url: str, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The chat check answered by the session's engine, which already serves these very bytes: the check runs
    its real request through the engine's SageMaker route without a second engine start. Anything else
    would be served by an engine of its own."""
    served: list[Path] = []

    def serving(model_dir: Path, logs: Path, settings: Mapping[str, str]) -> AbstractContextManager[str]:
        assert _files(model_dir) == _files(tiny_model), "only the session engine's own model can reuse it"
        served.append(model_dir)
        return nullcontext(engine_url)  # the session's engine: nothing to stop

    monkeypatch.setattr(llm_chat, "_local_engine", serving)
    return served


@pytest.mark.engine
@pytest.mark.slow
def test_an_llm_artifact_is_checked_answers_a_chat_then_is_promoted(
        llm_dev: tuple[Path, StackOutputs], s3: Any, tiny_model: Path, session_engine: list[Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, outputs = llm_dev
    uri = published(outputs, served_artifact(tiny_model, tmp_path / "a"), "llm/2026-12-01")
    assert uri.endswith("/llm/2026-12-01/")
    assert run_deploy(outputs_file, uri, "--image-digest", DIGEST) == 0
    captured = capsys.readouterr()
    assert "matches its manifest" in captured.err
    kv = kv_bytes(tiny_model)
    assert f"KV cache {kv} bytes a token" in captured.err
    assert "warning: tensor parallelism over PCIe" in captured.err
    assert "the local engine answered a chat request through /invocations in " in captured.err
    assert len(session_engine) == 1 and session_engine[0].name == "model", "the downloaded copy was served"
    cfg = load_stack("dev")
    assert cfg.endpoint is not None and cfg.endpoint.llm is not None
    assert cfg.endpoint.model_key == "llm/2026-12-01/"
    assert cfg.endpoint.llm.model_gb == math.ceil(sum(
        p.stat().st_size for p in (tmp_path / "a").iterdir() if p.name != artifact.MANIFEST) / 10**6) / 1000
    assert cfg.endpoint.llm.kv_bytes_per_token == kv, "written for the stack's fit check and the plan's sizing"
    assert cfg.endpoint.llm.tensor_parallel_size == 2, "the stack's other engine settings are kept"
    assert cfg.images.llm == DIGEST
    assert "+    model_key: llm/2026-12-01/" in captured.out


@pytest.mark.engine
@pytest.mark.slow
def test_an_artifact_the_engine_cannot_load_is_refused_before_the_promotion(
        llm_dev: tuple[Path, StackOutputs], s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Weights that match their manifest but are no model: every offline check passes, the engine does not."""
    outputs_file, outputs = llm_dev
    before = stack_files.stack_file("dev").read_text()
    uri = published(outputs, make_artifact(tmp_path / "a"), "llm/x")
    assert run_deploy(outputs_file, uri) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("hoist: error: the LLM engine does not serve the artifact: "), error[-1]
    assert stack_files.stack_file("dev").read_text() == before


@pytest.mark.parametrize(("problem", "message"), [
    ("tarball", "expected s3://"),
    ("corrupt", "sha256 does not match hoist-manifest.json"),
    ("not uploaded", "no hoist-manifest.json"),
    ("does not fit", "ml.g5.12xlarge: does not fit: needs"),
])
def test_llm_refusals_are_one_line_and_leave_the_stack_file(
        problem: str, message: str, llm_dev: tuple[Path, StackOutputs], s3: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, outputs = llm_dev
    before = stack_files.stack_file("dev").read_text()
    directory = make_artifact(tmp_path / "a", parameters=70 * 10**9 if problem == "does not fit" else 300_000)
    uri = published(outputs, directory, "llm/x")
    if problem == "corrupt":
        bucket = outputs.buckets["models"].name
        s3.put_object(Bucket=bucket, Key="llm/x/model.safetensors", Body=b"tampered")
    if problem == "not uploaded":
        uri = uri.replace("llm/x/", "llm/never/")
    if problem == "tarball":
        uri = uri + "model.tar.gz"
    assert run_deploy(outputs_file, uri) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("hoist: error: ") and message in error[-1], error
    assert stack_files.stack_file("dev").read_text() == before
