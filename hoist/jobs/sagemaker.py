"""`hoist train sagemaker`: the training image as a SageMaker training job.

The request is built from the SageMaker SDK's typed shapes (``sagemaker.core.shapes``) and sent by
``sagemaker.core.resources.TrainingJob.create``. A dry run sends nothing: a botocore event handler
takes the finished request parameters just before they would be serialised, and they are checked
against botocore's service model (``send`` does this for the processing jobs too).

What the job gets: the stack's training image by digest, its training role and security group in
the private subnets, KMS on the output and (where the instance has no local NVMe) the volumes,
encrypted traffic between instances, checkpoints written by the trainer straight to the checkpoints
bucket (so spot interruptions and restarts, in the job or of it, resume from one complete checkpoint
that every node sees), and managed spot with a maximum wait
where the stack's config says so. The training settings are checked by ``training.config`` first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from sagemaker.core import shapes
from sagemaker.core.resources import Tag, TrainingJob

from hoist.jobs import job_name
from hoist.jobs.inputs import JobInputs
from hoist.outputs import StackOutputs
from infra import aws_shapes, catalog
from infra.config import StackConfig
from infra.stack_files import ConfigError
from training.config import TrainConfigError, as_hyperparameters

INPUT_DATA = "/opt/ml/input/data"
BASE_MODEL_CHANNEL = "base_model"


class _Captured(Exception):
    """Raised by the dry-run hook to stop the call once the request is built."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__("captured")
        self.params = params


@dataclass(frozen=True)
class SageMakerJob:
    name: str
    params: dict[str, Any]
    """The Create*Job request parameters, as botocore would send them."""


def _create_kwargs(stack: str, cfg: StackConfig, outputs: StackOutputs, name: str, recipe: str,
                   overrides: Sequence[str], inputs: JobInputs) -> dict[str, Any]:
    jobs = cfg.training_jobs
    # The trainer writes checkpoints straight to S3, where every node of the job sees one complete checkpoint;
    # SageMaker's /opt/ml/checkpoints sync is per node, asynchronous, and copied back only when a job starts.
    settings = [f"checkpoint_uri={outputs.bucket_uri('checkpoints', f'sagemaker/{name}/')}", *overrides]
    channels = []
    if inputs.data is not None:
        settings.append(f"data={inputs.data_uri(outputs)}")
    if inputs.base_model is not None:
        # The checkpoint arrives as an input channel (SageMaker copies it before the job starts), and
        # the LLM artifact goes to the models bucket uncompressed rather than as SageMaker's tar.gz.
        channels.append(shapes.Channel(channel_name=BASE_MODEL_CHANNEL, data_source=shapes.DataSource(
            s3_data_source=shapes.S3DataSource(s3_data_type="S3Prefix", s3_uri=inputs.base_model_uri(outputs),
                                               s3_data_distribution_type="FullyReplicated"))))
        settings += [f"base_model={INPUT_DATA}/{BASE_MODEL_CHANNEL}",
                     f"export_uri={outputs.bucket_uri('models', f'sagemaker/{name}/')}"]
    try:
        hyperparameters = as_hyperparameters(recipe, settings)
    except TrainConfigError as exc:
        raise ConfigError(str(exc)) from None
    if "training" not in outputs.images:
        raise ConfigError(f"stack {stack} runs no training image yet: set hoist:images.training to a digest")
    if outputs.training_jobs is None:
        raise ConfigError(f"stack {stack} exports no training_jobs role; run `pulumi up` first")
    stopping = shapes.StoppingCondition(max_runtime_in_seconds=int(jobs.max_runtime_hours * 3600))
    if jobs.spot:
        stopping = shapes.StoppingCondition(max_runtime_in_seconds=int(jobs.max_runtime_hours * 3600),
                                            max_wait_time_in_seconds=int((jobs.max_wait_hours or
                                                                          jobs.max_runtime_hours) * 3600))
    resources: dict[str, Any] = {"instance_type": jobs.instance_type, "instance_count": jobs.instance_count,
                                 "volume_size_in_gb": jobs.volume_gb}
    if not catalog.has_local_nvme(jobs.instance_type):
        resources["volume_kms_key_id"] = outputs.kms_key_arn
    return {
        "training_job_name": name,
        "role_arn": outputs.training_jobs.role_arn,
        "algorithm_specification": shapes.AlgorithmSpecification(
            training_image=outputs.images["training"], training_input_mode="File"),
        "hyper_parameters": hyperparameters,
        **({"input_data_config": channels} if channels else {}),
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
        "tags": [{"key": "hoist:stack", "value": stack}, {"key": "hoist:environment", "value": cfg.environment}],
    }


def send(operation: str, create: Any, kwargs: dict[str, Any], region: str, dry_run: bool) -> dict[str, Any]:
    """Call ``create`` (an SDK resource's ``create``) and return the request parameters botocore built;
    a dry run stops just before anything is sent. The request is checked against botocore's model."""
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


def submit(stack: str, cfg: StackConfig, outputs: StackOutputs, recipe: str, overrides: Sequence[str], *,
           dry_run: bool, inputs: JobInputs | None = None, now: dt.datetime | None = None) -> SageMakerJob:
    """Build the training job with the SDK and send it, or, for a dry run, only build it."""
    name = job_name(stack, "train", now or dt.datetime.now(dt.UTC))
    kwargs = _create_kwargs(stack, cfg, outputs, name, recipe, overrides, (inputs or JobInputs()).check())
    kwargs["tags"] = [Tag(**tag) for tag in kwargs["tags"]]
    return SageMakerJob(name, send("CreateTrainingJob", TrainingJob.create, kwargs, outputs.region, dry_run))
