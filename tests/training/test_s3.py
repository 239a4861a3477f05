"""Checkpoints and the artifact on ``s3://``, against a local moto S3 server the test starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.training.runner import TINY, launch, result_of
from tests.training.s3server import client as _client
from tests.training.s3server import s3_server

pytestmark = pytest.mark.slow
BUCKET = "hoist-test-checkpoints"


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    with s3_server(BUCKET) as env:
        yield env


def _keys(env: dict[str, str], prefix: str) -> set[str]:
    pages = _client(env).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_save_resume_prune_and_export_on_s3(tmp_path: Path, s3_env: dict[str, str]) -> None:
    common = ["--nproc", "2", *TINY, "--set", "checkpoint_every=10", "--set", "keep_checkpoints=2",
              "--set", f"checkpoint_uri=s3://{BUCKET}/run-1/checkpoints", "--set", f"export_uri=s3://{BUCKET}/run-1",
              "--set", f"output_dir={tmp_path}"]
    first = result_of(launch(*common, "--set", "steps=20", env=s3_env))
    assert first["start_step"] == 0 and first["artifact"] == f"s3://{BUCKET}/run-1/model.tar.gz"
    keys = _keys(s3_env, "run-1/")
    assert {"run-1/checkpoints/latest", "run-1/checkpoints/step-00000010/.metadata",
            "run-1/checkpoints/step-00000020/.metadata", "run-1/model.tar.gz"} <= keys

    second = result_of(launch(*common, "--set", "steps=40", env=s3_env))
    assert second["start_step"] == 20
    keys = _keys(s3_env, "run-1/checkpoints/")
    steps = sorted({k.split("/")[2] for k in keys if k.split("/")[2].startswith("step-")})
    assert steps == ["step-00000030", "step-00000040"]


def test_bad_s3_uri_is_one_line(s3_env: dict[str, str]) -> None:
    run = launch("--nproc", "1", *TINY, "--set", "steps=2", "--set", "checkpoint_uri=s3:///no-bucket", env=s3_env)
    assert run.returncode != 0
    assert "'s3:///no-bucket': an S3 URI needs a bucket, e.g. s3://my-bucket/checkpoints" in run.stderr


def test_training_reads_token_shards_from_s3(tmp_path: Path, s3_env: dict[str, str]) -> None:
    from tests.training.shards import text_tokens, write_shards

    local = tmp_path / "shards"
    write_shards(local, [text_tokens("s3 shards are verified before training. " * 30)])
    client = _client(s3_env)
    for path in local.iterdir():
        client.upload_file(str(path), BUCKET, f"datasets/corpus/{path.name}")
    result = result_of(launch("--nproc", "1", *TINY, "--set", f"data=s3://{BUCKET}/datasets/corpus",
                              "--set", "block_size=16", "--set", "steps=20", "--set", f"output_dir={tmp_path / 'run'}",
                              env=s3_env))
    assert result["final_loss"] < result["first_loss"]
