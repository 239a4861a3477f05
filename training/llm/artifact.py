"""The LLM artifact: an uncompressed Hugging Face directory with hoist's manifest (DESIGN.md).

::

    config.json, generation_config.json
    model.safetensors, or model-0000N-of-0000M.safetensors with model.safetensors.index.json
    tokenizer.json, tokenizer_config.json, chat_template.jinja   (what the tokenizer saves)
    hoist-manifest.json   format version, architecture, dtype or quantisation, parameter count,
                          sha256 of every other file, provenance (and evaluation once optimised)

It is never a tar.gz: compressing and extracting tens of GB is the slowest step of a large
deployment, and SageMaker loads an uncompressed S3 prefix into ``/opt/ml/model`` directly. The
manifest is uploaded last, so a half-uploaded artifact has none and every reader refuses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from training.storage import open_store

MANIFEST = "hoist-manifest.json"
FORMAT_VERSION = 1
_CHUNK = 8 << 20


class ArtifactError(ValueError):
    """An artifact that cannot be used; the message is one line naming the file and the problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Provenance(_Model):
    base_model: str = Field(description="The checkpoint this one was trained or derived from.")
    finetune: Literal["full", "lora", "none"] = "none"
    recipe: str | None = None
    step: int | None = None
    data_manifest_sha256: str | None = Field(None, description="sha256 of the shards' manifest.json trained on.")
    commit: str | None = Field(None, description="The training code's git commit, where known.")
    source_artifact: str | None = Field(None, description="For an optimised artifact: the one it was made from.")


class Adapter(_Model):
    """A LoRA adapter exported on its own (``lora_export=adapter``): serve it on top of its base."""

    base_model: str
    rank: int
    alpha: int
    targets: tuple[str, ...]


class ArtifactManifest(_Model):
    format_version: int
    kind: Literal["llm"] = "llm"
    architecture: str
    model_type: str
    dtype: str
    quantization: str | None = None
    """The compressed-tensors scheme (e.g. W8A8), or None for full-precision weights."""
    parameters: int
    files: dict[str, str]
    """Every other file of the artifact and its sha256."""
    provenance: Provenance
    adapter: Adapter | None = None
    evaluation: dict[str, Any] | None = None
    """Held-out exact match and perplexity, recorded by the optimisation gate."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def prefix_problems(names: Iterable[str]) -> list[str]:
    """What SageMaker's uncompressed model data refuses: empty, '.' or '..' path parts, names over 255
    bytes, and a file and a folder of the same name (it downloads the prefix into /opt/ml/model)."""
    problems: list[str] = []
    files: set[str] = set()
    folders: set[str] = set()
    for name in names:
        parts = name.split("/")
        if any(part in ("", ".", "..") for part in parts):
            problems.append(f"{name!r}: empty, '.' or '..' path part")
        if any(len(part.encode()) > 255 for part in parts):
            problems.append(f"{name!r}: a path part longer than 255 bytes")
        files.add(name)
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    problems += [f"{name!r}: both a file and a folder" for name in sorted(files & folders)]
    return problems


def write_manifest(directory: Path, *, architecture: str, model_type: str, dtype: str, parameters: int,
                   provenance: Provenance, quantization: str | None = None, adapter: Adapter | None = None,
                   evaluation: dict[str, Any] | None = None) -> ArtifactManifest:
    """Hash every file of ``directory`` and write the manifest beside them."""
    files = {path.relative_to(directory).as_posix(): sha256_file(path)
             for path in sorted(directory.rglob("*")) if path.is_file() and path.name != MANIFEST}
    problems = prefix_problems(files)
    if problems:
        raise ArtifactError(f"{directory}: {problems[0]}")
    manifest = ArtifactManifest(format_version=FORMAT_VERSION, architecture=architecture, model_type=model_type,
                                dtype=dtype, quantization=quantization, parameters=parameters, files=files,
                                provenance=provenance, adapter=adapter, evaluation=evaluation)
    (directory / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def record_evaluation(directory: Path, evaluation: dict[str, Any]) -> ArtifactManifest:
    """Add the gate's figures to the manifest (the files it hashes are unchanged)."""
    manifest = read_manifest(directory).model_copy(update={"evaluation": evaluation})
    (directory / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def read_manifest(directory: Path) -> ArtifactManifest:
    path = directory / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{directory}: no {MANIFEST}; not an LLM artifact exported by hoist (or an "
                            "upload that did not finish)")
    try:
        return ArtifactManifest.model_validate_json(path.read_text())
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ArtifactError(f"{path}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def verify(directory: Path) -> ArtifactManifest:
    """The manifest of ``directory`` once every listed file is present with its hash, and nothing else is."""
    manifest = read_manifest(directory)
    if manifest.format_version != FORMAT_VERSION:
        raise ArtifactError(f"{directory}/{MANIFEST}: format_version {manifest.format_version}; "
                            f"this version of hoist reads {FORMAT_VERSION}")
    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()} - {MANIFEST}
    for name in sorted(set(manifest.files) - present):
        raise ArtifactError(f"{directory}/{name}: listed in {MANIFEST} but missing")
    for name in sorted(present - set(manifest.files)):
        raise ArtifactError(f"{directory}/{name}: not listed in {MANIFEST}")
    for name, digest in manifest.files.items():
        if sha256_file(directory / name) != digest:
            raise ArtifactError(f"{directory}/{name}: sha256 does not match {MANIFEST} (corrupt or replaced)")
    return manifest


def publish(directory: Path, uri: str) -> str:
    """Upload the artifact to ``uri`` (a directory or an s3:// prefix), its manifest last; returns the
    prefix, ending in '/' as SageMaker's uncompressed model data asks."""
    manifest = verify(directory)
    store = open_store(uri)
    for name in manifest.files:
        store.upload(directory / name, name)
    store.upload(directory / MANIFEST, MANIFEST)
    return uri.rstrip("/") + "/"


def fetch(uri: str, target: Path) -> ArtifactManifest:
    """Download the artifact at ``uri`` into ``target`` and verify it."""
    store = open_store(uri)
    text = store.read_text(MANIFEST)
    if text is None:
        raise ArtifactError(f"{uri}: no {MANIFEST}; not an LLM artifact exported by hoist (or an upload that "
                            "did not finish)")
    manifest = ArtifactManifest.model_validate_json(text)
    for name in manifest.files:
        store.download(name, target / name)
    (target / MANIFEST).write_text(text)
    return verify(target)


def config_of(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((directory / "config.json").read_text())
    return loaded
