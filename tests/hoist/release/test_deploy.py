"""`hoist deploy` refuses bad artifacts before anything changes, writes the promotion, and handles a
SageMaker rollback; `hoist invoke` calls the endpoint. S3 is moto's; SageMaker and CloudWatch are
botocore Stubbers (moto does not model rollouts); the artifact is served by the real server."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from hoist import cli
from hoist.outputs import StackOutputs, from_mapping
from hoist.plan import recording
from hoist.release import deploy
from infra import stack_files
from infra.stack_files import load_stack

DIGEST = "sha256:" + "12" * 32
NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def reference_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from training.export import addition_task, export
    from training.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=13, block_size=13, n_layer=1, n_head=2, n_embd=32))
    return Path(export(model, addition_task(3), str(tmp_path_factory.mktemp("export")), None))


def rebuilt(archive: Path, target: Path, *, drop: str = "", replace: dict[str, str] | None = None) -> Path:
    """A copy of ``archive`` with one member dropped or replaced."""
    with tarfile.open(archive) as source, tarfile.open(target, "w:gz") as out:
        for member in source.getmembers():
            name = member.name.removeprefix("./")
            if name == drop:
                continue
            data = source.extractfile(member) if member.isfile() else None
            if replace and name in replace:
                payload = replace[name].encode()
                member.size = len(payload)
                data = io.BytesIO(payload)
            out.addfile(member, data)
    return target


@pytest.fixture
def dev(tmp_path: Path, single_model_dev_stack: Path, fake_aws_credentials: None) -> tuple[Path, StackOutputs]:
    """A copy of the stack files and the dev stack's outputs (its models bucket is created in moto)."""
    outputs = recording.record("dev").outputs
    outputs_file = tmp_path / "dev-outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    return outputs_file, from_mapping(outputs, "offline")


def upload(outputs: StackOutputs, archive: Path, key: str) -> str:
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = outputs.buckets["models"].name
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(archive), bucket, key)
    return f"s3://{bucket}/{key}"


def run_deploy(outputs_file: Path, uri: str, *extra: str) -> int:
    return cli.main(["deploy", "--stack", "dev", "--model-uri", uri, "--outputs", str(outputs_file), *extra])


@pytest.mark.timeout(300)
def test_a_good_artifact_is_checked_then_written(dev: tuple[Path, StackOutputs], reference_archive: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, outputs = dev
    before = stack_files.stack_file("dev").read_text()
    with mock_aws():
        uri = upload(outputs, reference_archive, "runs/2026-11-28/model.tar.gz")
        assert run_deploy(outputs_file, uri, "--image-digest", DIGEST) == 0
    captured = capsys.readouterr()
    assert "answered the sample" in captured.err
    cfg = load_stack("dev")
    assert cfg.endpoint is not None and cfg.endpoint.model_key == "runs/2026-11-28/model.tar.gz"
    assert cfg.images.serving == DIGEST
    after = stack_files.stack_file("dev").read_text()
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert changed == [f"    serving: {DIGEST}", "    model_key: runs/2026-11-28/model.tar.gz"]
    assert "+    model_key: runs/2026-11-28/model.tar.gz" in captured.out, "the diff a pull request carries"


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("problem", "message"), [
    ("missing", "no such object"),
    ("no handler", "not the SageMaker PyTorch layout; missing code/inference.py"),
    ("handler does not import", "the handler does not load"),
    ("handler does not answer", "the handler does not answer the sample request: 500"),
    ("elsewhere", "the stack's models bucket"),
])
def test_bad_artifacts_are_refused_before_anything_changes(
        problem: str, message: str, dev: tuple[Path, StackOutputs], reference_archive: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, outputs = dev
    before = stack_files.stack_file("dev").read_text()
    archive = {
        "no handler": lambda: rebuilt(reference_archive, tmp_path / "a.tar.gz", drop="code/inference.py"),
        "handler does not import": lambda: rebuilt(reference_archive, tmp_path / "b.tar.gz", replace={
            "code/inference.py": "import a_module_that_is_not_there\n"}),
        "handler does not answer": lambda: rebuilt(reference_archive, tmp_path / "c.tar.gz", replace={
            "code/inference.py": "def model_fn(model_dir):\n    return None\n\n"
                                 "def predict_fn(data, model):\n    raise RuntimeError('broken')\n"}),
    }.get(problem, lambda: reference_archive)()
    with mock_aws():
        uri = upload(outputs, archive, "runs/x/model.tar.gz")
        if problem == "missing":
            uri = uri.replace("runs/x", "runs/never-uploaded")
        if problem == "elsewhere":
            uri = "s3://someone-elses-bucket/runs/x/model.tar.gz"
        assert run_deploy(outputs_file, uri) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("hoist: error: ") and message in error[-1], error
    assert stack_files.stack_file("dev").read_text() == before


def test_apply_is_refused_where_the_stack_does_not_allow_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["deploy", "--stack", "prod", "--model-uri", "s3://b/k.tar.gz", "--apply", "--offline"]) == 1
    assert "stack prod does not allow --apply" in capsys.readouterr().err


def test_apply_without_the_pulumi_cli_says_so_and_prints_the_commands(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["deploy", "--stack", "dev", "--model", "reference", "--model-uri", "s3://b/k.tar.gz", "--apply",
                     "--offline"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "needs the Pulumi CLI" in error and "pulumi up --policy-pack policy" in error
    assert "hoist deploy --stack dev --model reference --model-uri" in error


def endpoint_description(status: str, config_name: str) -> dict[str, Any]:
    return {"EndpointName": "hoist-dev", "EndpointArn": "arn:aws:sagemaker:us-east-1:111122223333:endpoint/hoist-dev",
            "EndpointConfigName": config_name, "EndpointStatus": status, "CreationTime": NOW,
            "LastModifiedTime": NOW}


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_rollback_restores_the_file_and_names_the_alarm(dev: tuple[Path, StackOutputs]) -> None:
    _, outputs = dev
    previous = stack_files.stack_file("dev").read_text()
    deploy.promote("dev", "runs/bad/model.tar.gz", None)
    sagemaker, sm_stub = stubbed("sagemaker")
    cloudwatch, cw_stub = stubbed("cloudwatch")
    sm_stub.add_response("describe_endpoint", endpoint_description("InService", "config-old"),
                         {"EndpointName": "hoist-dev"})
    for status in ("Updating", "RollingBack", "InService"):
        sm_stub.add_response("describe_endpoint", endpoint_description(status, "config-old"),
                             {"EndpointName": "hoist-dev"})
    names = ["hoist-dev-primary-5xx-errors", "hoist-dev-primary-p99-latency"]
    cw_stub.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": names[0], "StateValue": "OK"}, {"AlarmName": names[1], "StateValue": "ALARM"}]},
        {"AlarmNames": names})
    ran: list[str] = []
    with sm_stub, cw_stub, pytest.raises(deploy.DeployError) as error:
        deploy.apply("dev", load_stack("dev"), outputs, previous, sagemaker=sagemaker, cloudwatch=cloudwatch,
                     up=ran.append, sleep=lambda _: None)
    assert ran == ["dev"]
    message = str(error.value)
    assert "rolled endpoint hoist-dev back (Updating -> RollingBack -> InService)" in message
    assert "alarm hoist-dev-primary-p99-latency fired" in message and "\n" not in message
    assert stack_files.stack_file("dev").read_text() == previous
    sm_stub.assert_no_pending_responses()
    cw_stub.assert_no_pending_responses()


def test_a_successful_rollout_keeps_the_promotion(dev: tuple[Path, StackOutputs]) -> None:
    _, outputs = dev
    previous = deploy.promote("dev", "runs/good/model.tar.gz", None)
    sagemaker, sm_stub = stubbed("sagemaker")
    sm_stub.add_response("describe_endpoint", endpoint_description("InService", "config-old"))
    sm_stub.add_response("describe_endpoint", endpoint_description("Updating", "config-new"))
    sm_stub.add_response("describe_endpoint", endpoint_description("InService", "config-new"))
    with sm_stub:
        rollout = deploy.apply("dev", load_stack("dev"), outputs, previous, sagemaker=sagemaker,
                               cloudwatch=None, up=lambda stack: None, sleep=lambda _: None)
    assert not rollout.rolled_back and rollout.config_after == "config-new"
    cfg = load_stack("dev")
    assert cfg.endpoint is not None and cfg.endpoint.model_key == "runs/good/model.tar.gz"



def test_pulumi_up_runs_the_pack_with_the_stacks_policy_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every workflow passes `--policy-pack-config`; `hoist deploy --apply` must too, or the pack runs unconfigured."""
    from pulumi import automation

    from hoist.plan.policies import pack_config

    seen: dict[str, Any] = {}

    class Selected:
        def up(self, **kwargs: Any) -> None:
            seen.update(kwargs)
            (path,) = kwargs.get("policy_pack_configs") or [None]
            seen["config"] = json.loads(Path(path).read_text()) if path else None

    monkeypatch.setattr("shutil.which", lambda _: "/usr/bin/pulumi")
    monkeypatch.setattr(automation, "select_stack", lambda **_: Selected())
    deploy.pulumi_up("staging")
    assert seen["policy_packs"] == [str(stack_files.PROJECT_ROOT / "policy")]
    assert seen["config"] == pack_config(load_stack("staging"))
