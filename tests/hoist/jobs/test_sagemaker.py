"""`hoist train sagemaker --dry-run`: the CreateTrainingJob request the SDK's shapes build,
checked against botocore's model, with no AWS call (there are no credentials here to make one)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hoist import cli
from hoist.jobs import sagemaker as sagemaker_jobs
from hoist.outputs import StackOutputs, from_mapping
from hoist.plan import recording
from infra import aws_shapes
from infra.stack_files import ConfigError, load_stack

NOW = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def outputs_of(stack: str) -> StackOutputs:
    return from_mapping(recording.record(stack).outputs, "offline")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_dry_run_request_uses_the_stacks_image_role_network_and_buckets(stack: str) -> None:
    cfg, outputs = load_stack(stack), outputs_of(stack)
    request = sagemaker_jobs.submit(stack, cfg, outputs, cfg.training_jobs.recipe, ["steps=100"], dry_run=True,
                                    now=NOW)
    params = request.params
    assert aws_shapes.request_errors("sagemaker", "CreateTrainingJob", params) == []
    assert request.name == params["TrainingJobName"] == f"hoist-{stack}-train-20261128-120000"
    assert params["AlgorithmSpecification"]["TrainingImage"] == outputs.images["training"]
    assert params["AlgorithmSpecification"]["TrainingImage"].endswith(f"@{cfg.images.training}")
    assert outputs.training_jobs is not None
    assert params["RoleArn"] == outputs.training_jobs.role_arn
    assert params["VpcConfig"] == {"SecurityGroupIds": [outputs.training_jobs.security_group_id],
                                   "Subnets": outputs.private_subnet_ids}
    # Every node reads and writes one S3 prefix (no /opt/ml/checkpoints copy), so a restart inside the job
    # finds the complete checkpoint on every node.
    checkpoints = f"s3://{outputs.buckets['checkpoints'].name}/sagemaker/{request.name}/"
    assert params["HyperParameters"] == {"recipe": cfg.training_jobs.recipe, "steps": "100",
                                         "checkpoint_uri": checkpoints}
    assert params["ResourceConfig"]["InstanceType"] == cfg.training_jobs.instance_type
    assert params["ResourceConfig"]["InstanceCount"] == cfg.training_jobs.instance_count
    assert params["OutputDataConfig"] == {
        "S3OutputPath": f"s3://{outputs.buckets['models'].name}/sagemaker/{request.name}/",
        "KmsKeyId": outputs.kms_key_arn}
    assert "CheckpointConfig" not in params
    assert params["EnableInterContainerTrafficEncryption"] is True
    assert params["EnableManagedSpotTraining"] is cfg.training_jobs.spot
    stopping = params["StoppingCondition"]
    assert stopping["MaxRuntimeInSeconds"] == int(cfg.training_jobs.max_runtime_hours * 3600)
    if cfg.training_jobs.spot:
        assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"]
    else:
        assert "MaxWaitTimeInSeconds" not in stopping
    # g5 and p5 instances have local NVMe storage: SageMaker refuses a volume key for them.
    assert "VolumeKmsKeyId" not in params["ResourceConfig"]


def test_ebs_backed_instances_get_the_stack_key_on_their_volumes() -> None:
    cfg, outputs = load_stack("dev"), outputs_of("dev")
    cfg = cfg.model_copy(update={"training_jobs": cfg.training_jobs.model_copy(
        update={"instance_type": "ml.c5.xlarge"})})
    params = sagemaker_jobs.submit("dev", cfg, outputs, "gpu_single_node", [], dry_run=True, now=NOW).params
    assert params["ResourceConfig"]["VolumeKmsKeyId"] == outputs.kms_key_arn


def test_cli_dry_run_prints_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "sagemaker", "--stack", "prod", "--dry-run", "--offline",
                     "--recipe", "gpu_single_node"]) == 0
    captured = capsys.readouterr()
    request = json.loads(captured.out)
    assert request["ResourceConfig"] == {"InstanceCount": 2, "InstanceType": "ml.p5.48xlarge", "VolumeSizeInGB": 500}
    assert request["HyperParameters"]["recipe"] == "gpu_single_node"
    assert request["HyperParameters"]["checkpoint_uri"].startswith("s3://")
    assert "nothing was sent" in captured.err


def test_a_stack_without_a_training_image_is_refused() -> None:
    cfg, outputs = load_stack("dev"), outputs_of("dev")
    without = outputs.model_copy(update={"images": {}})
    with pytest.raises(ConfigError, match=r"runs no training image yet: set hoist:images\.training"):
        sagemaker_jobs.submit("dev", cfg, without, "gpu_single_node", [], dry_run=True, now=NOW)


@pytest.mark.parametrize(("argv", "message"), [
    (["sagemaker", "--stack", "dev", "--offline"], "add --dry-run"),
    (["sagemaker", "--stack", "dev", "--dry-run", "--offline", "--set", "no-equals"],
     "--set 'no-equals': expected key=value"),
    (["sagemaker", "--stack", "dev", "--dry-run", "--offline", "--set", "stepz=3"], "--set stepz: unknown key"),
    (["sagemaker", "--stack", "dev", "--dry-run", "--offline", "--set", "lr=2"], "lr=2.0: must be between 0 and 1"),
    (["local", "--set", "stepz=3"], "--set stepz: unknown key"),
])
def test_bad_train_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", *argv]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_training_role_reaches_only_the_stacks_buckets_image_and_key() -> None:
    from tests.conftest import planned

    planned_dev = planned("dev")
    outputs = from_mapping(planned_dev.outputs, "offline")
    policy = next(r for r in planned_dev.of_type("aws:iam/rolePolicy:RolePolicy")
                  if r.component == "hoist:training_jobs:TrainingJobs")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    buckets = {role: b.arn for role, b in outputs.buckets.items()}
    assert statements["ReadDatasets"]["Action"] == ["s3:GetObject", "s3:ListBucket"]
    assert statements["ReadDatasets"]["Resource"] == [buckets["datasets"], f"{buckets['datasets']}/*"]
    assert statements["ReadWriteCheckpoints"]["Resource"] == [buckets["checkpoints"], f"{buckets['checkpoints']}/*"]
    assert statements["WriteModels"] == {"Sid": "WriteModels", "Effect": "Allow",
                                         "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                                         "Resource": f"{buckets['models']}/*"}
    assert statements["UseStackKey"]["Resource"] == outputs.kms_key_arn
    assert statements["PullTrainingImage"]["Resource"].endswith(":repository/hoist/training")
    every_resource = json.dumps([s["Resource"] for s in statements.values()])
    assert buckets["access-logs"] not in every_resource
    security_group = next(r for r in planned_dev.of_type("aws:ec2/securityGroup:SecurityGroup")
                          if r.component == "hoist:training_jobs:TrainingJobs")
    assert [rule["self"] for rule in security_group.inputs["ingress"]] == [True], "only the job's own instances"


def _datasets(stack: str) -> str:
    return outputs_of(stack).bucket_uri("datasets")


def test_prepare_processing_job_dry_run_matches_botocore(capsys: pytest.CaptureFixture[str]) -> None:
    datasets = _datasets("staging")
    argv = ["data", "prepare", "--backend", "sagemaker", "--stack", "staging", "--offline", "--dry-run",
            "--input", f"{datasets}raw/", "--output", f"{datasets}prepared/v1/", "--instances", "3"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    request = json.loads(captured.out)
    assert aws_shapes.request_errors("sagemaker", "CreateProcessingJob", request) == []
    outputs = outputs_of("staging")
    assert request["AppSpecification"]["ImageUri"] == outputs.images["training"]
    assert request["AppSpecification"]["ContainerEntrypoint"] == ["python", "-m", "training.prepare"]
    (source,) = request["ProcessingInputs"]
    assert source["S3Input"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert source["S3Input"]["S3Uri"] == f"{datasets}raw/"
    assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == f"{datasets}prepared/v1/"
    assert request["ProcessingOutputConfig"]["KmsKeyId"] == outputs.kms_key_arn
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 3
    assert request["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert request["NetworkConfig"]["VpcConfig"]["Subnets"] == outputs.private_subnet_ids
    assert "--merge --output" in captured.err


@pytest.mark.parametrize(("extra", "message"), [
    (["--output", "s3://elsewhere/prepared/"], "--output under s3://"),
    (["--instance-type", "ml.nope.large"], "not a SageMaker Processing instance type"),
    (["--tokenizer", "bpe", "--instances", "2"], "each instance would learn its own vocabulary"),
])
def test_bad_prepare_job_input_is_one_line(extra: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    datasets = _datasets("dev")
    argv = ["data", "prepare", "--backend", "sagemaker", "--stack", "dev", "--offline", "--dry-run",
            "--input", f"{datasets}raw/", "--output", f"{datasets}prepared/x/", *extra]
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_fine_tuning_reads_the_base_model_as_an_input_channel(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "sagemaker", "--stack", "prod", "--dry-run", "--offline", "--recipe", "gpu_llm_lora",
            "--base-model", "base/llama-3.2-1b/", "--data", "prepared/chat-v1/"]
    assert cli.main(argv) == 0
    request = json.loads(capsys.readouterr().out)
    outputs = outputs_of("prod")
    (channel,) = request["InputDataConfig"]
    assert channel["ChannelName"] == "base_model"
    assert channel["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated",
        "S3Uri": f"s3://{outputs.buckets['models'].name}/base/llama-3.2-1b/"}
    hyper = request["HyperParameters"]
    assert hyper["recipe"] == "gpu_llm_lora" and hyper["base_model"] == "/opt/ml/input/data/base_model"
    assert hyper["data"] == f"s3://{outputs.buckets['datasets'].name}/prepared/chat-v1/"
    assert hyper["export_uri"] == f"s3://{outputs.buckets['models'].name}/sagemaker/{request['TrainingJobName']}/"


@pytest.mark.parametrize(("extra", "message"), [
    (["--base-model", "llama/", "--data", "prepared/x/"], "--base-model 'llama/': a prefix under base/"),
    (["--base-model", "base/llama/"], "--base-model: fine-tuning needs --data"),
    (["--base-model", "base/../secrets/", "--data", "p/"], "a prefix under base/"),
])
def test_bad_fine_tuning_inputs_are_one_line(extra: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "sagemaker", "--stack", "dev", "--dry-run", "--offline", *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_training_roles_read_only_the_base_part_of_the_models_bucket() -> None:
    from tests.conftest import planned

    plan = planned("dev")
    models = from_mapping(plan.outputs, "offline").buckets["models"].arn
    for component in ("hoist:training_jobs:TrainingJobs", "hoist:cluster:TrainingAccess"):
        policy = next(r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.component == component
                      and "ReadBaseModels" in r.inputs["policy"])
        statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
        assert statements["ReadBaseModels"]["Resource"] == f"{models}/base/*"
        assert statements["ListBaseModels"]["Condition"] == {"StringLike": {"s3:prefix": ["base/*"]}}
