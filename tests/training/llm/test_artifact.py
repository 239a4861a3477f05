"""The LLM artifact contract: every file hashed in the manifest, SageMaker's prefix rules, and the
manifest published last."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.training.llm.models import checkpoint
from tests.training.s3server import client, s3_server
from training.llm import artifact
from training.storage import S3Store


def _artifact(tmp_path: Path) -> Path:
    directory = Path(shutil.copytree(checkpoint("llama"), tmp_path / "artifact"))
    artifact.write_manifest(directory, architecture="LlamaForCausalLM", model_type="llama", dtype="float32",
                            parameters=1_443_072, provenance=artifact.Provenance(base_model="tiny"))
    return directory


def test_manifest_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    directory = _artifact(tmp_path)
    manifest = artifact.verify(directory)
    files = {p.name for p in directory.iterdir()} - {artifact.MANIFEST}
    assert set(manifest.files) == files
    assert {"config.json", "tokenizer.json", "model.safetensors.index.json"} <= files
    assert sum(name.endswith(".safetensors") for name in files) > 1, "every weight shard is listed"
    assert manifest.files["config.json"] == artifact.sha256_file(directory / "config.json")


@pytest.mark.parametrize(("change", "message"), [
    ("delete", "listed in hoist-manifest.json but missing"),
    ("extra", "extra.bin: not listed in hoist-manifest.json"),
    ("modify", "sha256 does not match hoist-manifest.json"),
])
def test_verify_refuses_a_changed_artifact(tmp_path: Path, change: str, message: str) -> None:
    directory = _artifact(tmp_path)
    if change == "delete":
        (directory / "tokenizer.json").unlink()
    elif change == "extra":
        (directory / "extra.bin").write_bytes(b"x")
    else:
        (directory / "config.json").write_text("{}")
    with pytest.raises(artifact.ArtifactError, match=message):
        artifact.verify(directory)


def test_sagemaker_prefix_rules() -> None:
    assert artifact.prefix_problems(["config.json", "sub/a.bin"]) == []
    assert artifact.prefix_problems(["a/./b"]) == ["'a/./b': empty, '.' or '..' path part"]
    assert artifact.prefix_problems(["a//b"]) == ["'a//b': empty, '.' or '..' path part"]
    assert artifact.prefix_problems(["x", "x/y"]) == ["'x': both a file and a folder"]
    assert artifact.prefix_problems(["n" * 256]) == [f"'{'n' * 256}': a path part longer than 255 bytes"]


def test_publish_uploads_the_manifest_last_and_fetch_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _artifact(tmp_path)
    with s3_server("models") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        uploaded: list[str] = []
        real_upload = S3Store.upload

        def recording(self: object, local: Path, name: str) -> None:
            uploaded.append(name)
            real_upload(self, local, name)  # type: ignore[arg-type]

        monkeypatch.setattr(S3Store, "upload", recording)
        prefix = artifact.publish(directory, "s3://models/runs/one")
        assert prefix == "s3://models/runs/one/"
        assert uploaded[-1] == artifact.MANIFEST and len(uploaded) == len(artifact.verify(directory).files) + 1
        keys = {o["Key"] for o in client(env).list_objects_v2(Bucket="models")["Contents"]}
        assert not any(key.endswith("/") for key in keys), "no zero-byte folder objects"
        fetched = artifact.fetch(prefix, tmp_path / "fetched")
        assert fetched == artifact.read_manifest(directory)
        client(env).delete_object(Bucket="models", Key=f"runs/one/{artifact.MANIFEST}")
        with pytest.raises(artifact.ArtifactError, match="upload that did not finish"):
            artifact.fetch(prefix, tmp_path / "again")
