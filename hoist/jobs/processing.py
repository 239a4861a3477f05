"""`hoist data prepare --backend sagemaker`: ``python -m training.prepare`` as a SageMaker Processing job
on the training image.

The input is split across the instances by S3 key; each instance writes ``<output>/<host>/``, merged
afterwards with ``python -m training.prepare --merge``. The job runs network-isolated in the stack's
private subnets with its training role; the preparation settings are checked by
``training.prepare.Settings`` before anything is sent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sagemaker.core import shapes
from sagemaker.core.resources import ProcessingJob

from hoist.jobs import job_name
from hoist.jobs.sagemaker import SageMakerJob, send
from hoist.outputs import StackOutputs
from infra import aws_shapes, catalog
from infra.config import StackConfig
from infra.stack_files import ConfigError
from training.prepare import PrepareError, Settings

PROCESSING_INPUT = "/opt/ml/processing/input"
PROCESSING_OUTPUT = "/opt/ml/processing/output"


def prepare_job(stack: str, cfg: StackConfig, outputs: StackOutputs, input_uri: str, output_uri: str,
                settings: Settings, *, instances: int, instance_type: str, dry_run: bool,
                now: dt.datetime | None = None) -> SageMakerJob:
    """The processing job for ``settings`` over ``input_uri``; ConfigError names what is wrong."""
    try:
        arguments = settings.arguments()
    except PrepareError as exc:
        raise ConfigError(str(exc)) from None
    datasets = outputs.bucket_uri("datasets")
    if not input_uri.startswith(datasets) or not output_uri.startswith(f"{datasets}prepared/"):
        raise ConfigError(f"--input must be under {datasets} and --output under {datasets}prepared/ "
                          "(the buckets the job's role may read and write)")
    if instance_type not in aws_shapes.enum_values("sagemaker", "ProcessingInstanceType"):
        raise ConfigError(f"--instance-type {instance_type}: not a SageMaker Processing instance type")
    if "training" not in outputs.images or outputs.training_jobs is None:
        raise ConfigError(f"stack {stack} has no training image digest or job role yet")
    name = job_name(stack, "prepare", now or dt.datetime.now(dt.UTC))
    cluster = {"instance_count": instances, "instance_type": instance_type,
               "volume_size_in_gb": cfg.training_jobs.volume_gb}
    if not catalog.has_local_nvme(instance_type):
        cluster["volume_kms_key_id"] = outputs.kms_key_arn
    kwargs: dict[str, Any] = {
        "processing_job_name": name,
        "role_arn": outputs.training_jobs.role_arn,
        "processing_resources": shapes.ProcessingResources(cluster_config=shapes.ProcessingClusterConfig(**cluster)),
        "app_specification": shapes.AppSpecification(
            image_uri=outputs.images["training"], container_entrypoint=["python", "-m", "training.prepare"],
            container_arguments=["--input", PROCESSING_INPUT, "--output", PROCESSING_OUTPUT, *arguments]),
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
    return SageMakerJob(name, send("CreateProcessingJob", ProcessingJob.create, kwargs, outputs.region, dry_run))
