"""`hoist train --backend sagemaker`: the training image as a SageMaker training job.

The request is built from the SageMaker SDK's typed shapes (``sagemaker.core.shapes``) and sent by
``sagemaker.core.resources.TrainingJob.create``. A dry run sends nothing: a botocore event handler
takes the finished CreateTrainingJob parameters just before they would be serialised, and they are
checked against botocore's service model.

What the job gets: the stack's training image by digest, its training role and security group in
the private subnets, KMS on the output and volumes, encrypted traffic between instances, checkpoints
synced between ``/opt/ml/checkpoints`` and the checkpoints bucket (so spot interruptions and restarts
resume), and managed spot with a maximum wait where the stack's config says so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra import aws_shapes
from infra.config import ConfigError, StackConfig
from infra.outputs import StackOutputs

CHECKPOINT_DIR = "/opt/ml/checkpoints"
# Instance families whose storage is local NVMe (encrypted by the hardware): SageMaker refuses a
# VolumeKmsKeyId for them.
LOCAL_NVME_FAMILIES = ("ml.g4dn.", "ml.g5.", "ml.g6.", "ml.g6e.", "ml.p3dn.", "ml.p4d.", "ml.p4de.", "ml.p5.",
                       "ml.p5e.", "ml.p5en.", "ml.trn1.", "ml.trn1n.", "ml.trn2.", "ml.m5d.", "ml.c5d.", "ml.r5d.")


class _Captured(Exception):
    """Raised by the dry-run hook to stop the call once the request is built."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__("captured")
        self.params = params


@dataclass(frozen=True)
class JobRequest:
    name: str
    params: dict[str, Any]
    """CreateTrainingJob parameters, as botocore would send them."""


def job_name(stack: str, now: dt.datetime) -> str:
    return f"hoist-{stack}-{now:%Y%m%d-%H%M%S}"[:63]


def hyperparameters(recipe: str, overrides: Sequence[str]) -> dict[str, str]:
    """The launcher's hyperparameters: the recipe and each ``key=value`` override."""
    values = {"recipe": recipe}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not re.fullmatch(r"\w+", key):
            raise ConfigError(f"--set {override!r}: expected key=value")
        values[key] = value
    return values


def _create_kwargs(stack: str, cfg: StackConfig, outputs: StackOutputs, name: str,
                   overrides: Sequence[str]) -> dict[str, Any]:
    from sagemaker.core import shapes

    jobs = cfg.training_jobs
    if "training" not in outputs.images:
        raise ConfigError(f"stack {stack} runs no training image yet: set hoist:images.training to a digest")
    if outputs.training_jobs is None:
        raise ConfigError(f"stack {stack} exports no training_jobs role; run `pulumi up` first")
    local_nvme = jobs.instance_type.startswith(LOCAL_NVME_FAMILIES)
    stopping = shapes.StoppingCondition(max_runtime_in_seconds=int(jobs.max_runtime_hours * 3600))
    if jobs.spot:
        stopping = shapes.StoppingCondition(max_runtime_in_seconds=int(jobs.max_runtime_hours * 3600),
                                            max_wait_time_in_seconds=int((jobs.max_wait_hours or
                                                                          jobs.max_runtime_hours) * 3600))
    resources: dict[str, Any] = {"instance_type": jobs.instance_type, "instance_count": jobs.instance_count,
                                 "volume_size_in_gb": jobs.volume_gb}
    if not local_nvme:
        resources["volume_kms_key_id"] = outputs.kms_key_arn
    return {
        "training_job_name": name,
        "role_arn": outputs.training_jobs.role_arn,
        "algorithm_specification": shapes.AlgorithmSpecification(
            training_image=outputs.images["training"], training_input_mode="File"),
        "hyper_parameters": hyperparameters(jobs.recipe, overrides),
        "output_data_config": shapes.OutputDataConfig(
            s3_output_path=outputs.bucket_uri("models", f"sagemaker/{name}/"), kms_key_id=outputs.kms_key_arn),
        "resource_config": shapes.ResourceConfig(**resources),
        "vpc_config": shapes.VpcConfig(security_group_ids=[outputs.training_jobs.security_group_id],
                                       subnets=list(outputs.private_subnet_ids)),
        "stopping_condition": stopping,
        # The trainer reads datasets and writes checkpoints through S3 itself, so the container keeps
        # network access (private subnets, S3 gateway endpoint) rather than network isolation.
        "enable_network_isolation": False,
        "enable_inter_container_traffic_encryption": True,
        "enable_managed_spot_training": jobs.spot,
        "checkpoint_config": shapes.CheckpointConfig(
            s3_uri=outputs.bucket_uri("checkpoints", f"sagemaker/{name}/"), local_path=CHECKPOINT_DIR),
        "tags": [{"key": "hoist:stack", "value": stack}, {"key": "hoist:environment", "value": cfg.environment}],
    }


def _send(operation: str, create: Any, kwargs: dict[str, Any], region: str, dry_run: bool) -> dict[str, Any]:
    """Call ``create`` (an SDK resource's ``create``) and return the request parameters botocore built;
    a dry run stops just before anything is sent. The request is checked against botocore's model."""
    import boto3

    session = boto3.Session(region_name=region)
    captured: dict[str, Any] = {}

    def capture(params: dict[str, Any], **_: Any) -> None:
        captured.update(params)
        if dry_run:
            raise _Captured(params)

    session.events.register(f"before-parameter-build.sagemaker.{operation}", capture)
    with contextlib.suppress(_Captured):
        create(**kwargs, session=session, region=region)
    errors = aws_shapes.request_errors("sagemaker", operation, captured)
    if errors:
        raise ConfigError(f"{operation} request is invalid: {errors[0]}")
    return captured


def submit(stack: str, cfg: StackConfig, outputs: StackOutputs, overrides: Sequence[str], *, dry_run: bool,
           now: dt.datetime | None = None) -> JobRequest:
    """Build the training job with the SDK and send it, or, for a dry run, only build it."""
    from sagemaker.core.resources import Tag, TrainingJob

    name = job_name(stack, now or dt.datetime.now(dt.UTC))
    kwargs = _create_kwargs(stack, cfg, outputs, name, overrides)
    kwargs["tags"] = [Tag(**tag) for tag in kwargs["tags"]]
    return JobRequest(name, _send("CreateTrainingJob", TrainingJob.create, kwargs, outputs.region, dry_run))


PROCESSING_INPUT = "/opt/ml/processing/input"
PROCESSING_OUTPUT = "/opt/ml/processing/output"


def prepare_job(stack: str, cfg: StackConfig, outputs: StackOutputs, input_uri: str, output_uri: str,
                prepare_args: Sequence[str], *, instances: int, instance_type: str, dry_run: bool,
                now: dt.datetime | None = None) -> JobRequest:
    """``python -m training.prepare`` as a SageMaker Processing job on the training image: the input
    is split across ``instances`` by S3 key, each instance writes ``<output>/<host>/`` (merged after)."""
    from sagemaker.core import shapes
    from sagemaker.core.resources import ProcessingJob

    datasets = outputs.bucket_uri("datasets")
    if not input_uri.startswith(datasets) or not output_uri.startswith(f"{datasets}prepared/"):
        raise ConfigError(f"--input must be under {datasets} and --output under {datasets}prepared/ "
                          "(the buckets the job's role may read and write)")
    if instance_type not in aws_shapes.enum_values("sagemaker", "ProcessingInstanceType"):
        raise ConfigError(f"--instance-type {instance_type}: not a SageMaker Processing instance type")
    if "training" not in outputs.images or outputs.training_jobs is None:
        raise ConfigError(f"stack {stack} has no training image digest or job role yet")
    name = job_name(stack, now or dt.datetime.now(dt.UTC)).replace("hoist-", "hoist-prepare-", 1)[:63]
    kwargs: dict[str, Any] = {
        "processing_job_name": name,
        "role_arn": outputs.training_jobs.role_arn,
        "processing_resources": shapes.ProcessingResources(cluster_config=shapes.ProcessingClusterConfig(
            instance_count=instances, instance_type=instance_type, volume_size_in_gb=cfg.training_jobs.volume_gb,
            volume_kms_key_id=outputs.kms_key_arn)),
        "app_specification": shapes.AppSpecification(
            image_uri=outputs.images["training"], container_entrypoint=["python", "-m", "training.prepare"],
            container_arguments=["--input", PROCESSING_INPUT, "--output", PROCESSING_OUTPUT, *prepare_args]),
        "processing_inputs": [shapes.ProcessingInput(input_name="raw", s3_input=shapes.ProcessingS3Input(
            s3_uri=input_uri, local_path=PROCESSING_INPUT, s3_data_type="S3Prefix", s3_input_mode="File",
            s3_data_distribution_type="ShardedByS3Key" if instances > 1 else "FullyReplicated"))],
        "processing_output_config": shapes.ProcessingOutputConfig(kms_key_id=outputs.kms_key_arn, outputs=[
            shapes.ProcessingOutput(output_name="shards", s3_output=shapes.ProcessingS3Output(
                s3_uri=output_uri, local_path=PROCESSING_OUTPUT, s3_upload_mode="EndOfJob"))]),
        "network_config": shapes.NetworkConfig(
            enable_inter_container_traffic_encryption=True, enable_network_isolation=True,
            vpc_config=shapes.VpcConfig(security_group_ids=[outputs.training_jobs.security_group_id],
                                        subnets=list(outputs.private_subnet_ids))),
        "stopping_condition": shapes.ProcessingStoppingCondition(
            max_runtime_in_seconds=int(cfg.training_jobs.max_runtime_hours * 3600)),
        "tags": [{"key": "hoist:stack", "value": stack}, {"key": "hoist:environment", "value": cfg.environment}],
    }
    return JobRequest(name, _send("CreateProcessingJob", ProcessingJob.create, kwargs, outputs.region, dry_run))
