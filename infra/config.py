"""The stack config: everything a stack may vary, typed once.

A stack file (``stacks/Pulumi.<stack>.yaml``) holds values under the ``hoist:`` namespace. They are
validated by ``StackConfig``; a bad value fails with one line naming the file, the key, the value
and what is allowed. ``parse`` is pure: it never calls AWS, reads the clock or touches Pulumi.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra import aws_shapes, catalog

NAMESPACE = "hoist"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# HOIST_STACKS_DIR lets tools and tests read stack files from elsewhere.
STACKS_DIR = Path(os.environ.get("HOIST_STACKS_DIR", PROJECT_ROOT / "stacks"))

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)
InterfaceEndpoint = Literal["ecr.api", "ecr.dkr", "sts", "logs", "sagemaker.api", "sagemaker.runtime"]
INTERFACE_ENDPOINT_SERVICES: tuple[InterfaceEndpoint, ...] = (
    "ecr.api", "ecr.dkr", "sts", "logs", "sagemaker.api", "sagemaker.runtime")
Environment = Literal["dev", "staging", "prod"]

_TAG_KEY = re.compile(r"^[\w.:/=+\-@ ]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_STACK_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def _check_stack_name(name: str) -> None:
    if not _STACK_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a stack name (lower-case letters, digits and dashes)")


class ConfigError(ValueError):
    """A stack config that cannot be used; the message is one line meant for a person."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class NetworkConfig(_Frozen):
    """The VPC: where every private workload of the stack lives."""

    cidr: str = Field("10.0.0.0/16", description="IPv4 CIDR of the VPC, a /16 to /20 block.")
    availability_zones: tuple[str, ...] = Field(
        ("us-east-1a", "us-east-1b"),
        description="AZs to spread subnets over (at least 2; prod needs 3). Must be in the stack's region.",
    )
    nat_gateways: Literal["single", "per_az"] = Field(
        "single", description="One NAT gateway for the VPC (cheap) or one per AZ (survives an AZ outage)."
    )
    interface_endpoints: tuple[InterfaceEndpoint, ...] = Field(
        INTERFACE_ENDPOINT_SERVICES,
        description="AWS services reached privately through interface VPC endpoints (S3 always has a gateway).",
    )
    flow_log_retention_days: int = Field(
        30, description="Days VPC flow logs are kept in CloudWatch Logs (a CloudWatch retention value)."
    )

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 CIDR block ({exc}); expected e.g. 10.0.0.0/16") from None
        if not 16 <= network.prefixlen <= 20:
            raise ValueError("prefix length must be /16 to /20 to leave room for 2 subnets per AZ")
        if not network.is_private:
            raise ValueError("must be a private (RFC 1918) range such as 10.0.0.0/16")
        return value

    @field_validator("availability_zones")
    @classmethod
    def _azs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) < 2:
            raise ValueError("at least 2 availability zones are required")
        if len(set(value)) != len(value):
            raise ValueError("availability zones must be distinct")
        if len(value) > 6:
            raise ValueError("at most 6 availability zones are supported")
        return value

    @field_validator("flow_log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be a CloudWatch retention value: {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value


class StorageConfig(_Frozen):
    """Buckets for datasets, checkpoints, models and access logs, and the stack's KMS key."""

    force_destroy: bool = Field(
        False, description="Let `pulumi destroy` delete non-empty buckets. Allowed only in dev."
    )
    checkpoint_noncurrent_days: int = Field(
        7, ge=1, le=3650, description="Days an overwritten or deleted checkpoint object version is kept."
    )
    abort_incomplete_multipart_days: int = Field(
        3, ge=1, le=365, description="Days before an unfinished multipart upload is aborted."
    )
    access_log_expiry_days: int = Field(
        365, ge=1, le=3650, description="Days S3 server access logs are kept."
    )
    kms_deletion_window_days: int = Field(
        30, ge=7, le=30, description="Waiting period before a scheduled KMS key deletion takes effect."
    )


class RegistryConfig(_Frozen):
    """ECR repositories for the training and serving images."""

    keep_images: int = Field(
        100, ge=1, le=10000, description="Newest images kept per repository; older ones expire."
    )
    untagged_expiry_days: int = Field(
        7, ge=1, le=3650, description="Days an untagged image (a superseded build layer) is kept."
    )
    replicate_to: tuple[str, ...] = Field(
        (), description="Stacks whose registries receive every image pushed here (ECR cross-account "
                        "replication); set on the stack CI pushes to, so the same bytes reach every stack.",
    )
    receive_from: str | None = Field(
        None, description="The stack whose registry replicates into this one; only its account is granted "
                          "ecr:ReplicateImage here.",
    )

    @field_validator("replicate_to")
    @classmethod
    def _stacks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            _check_stack_name(name)
        if len(set(value)) != len(value):
            raise ValueError("a stack is listed twice")
        return value

    @field_validator("receive_from")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is not None:
            _check_stack_name(value)
        return value


class ImagesConfig(_Frozen):
    """The images this stack runs, by digest: `hoist build` prints them; a promotion pull request sets them."""

    training: str | None = Field(
        None, description="Digest (sha256:...) of the training image in this stack's registry."
    )
    serving: str | None = Field(
        None, description="Digest (sha256:...) of the serving image in this stack's registry."
    )

    @field_validator("training", "serving")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST.fullmatch(value):
            raise ValueError("expected an image digest: sha256: followed by 64 lower-case hex digits")
        return value

    def digests(self) -> dict[str, str]:
        """The digests that are set, by part."""
        return {part: digest for part, digest in (("training", self.training), ("serving", self.serving)) if digest}


class BudgetConfig(_Frozen):
    """The stack's monthly AWS Budget, filtered to its cost-allocation tag."""

    monthly_limit_usd: float = Field(500.0, gt=0, le=10_000_000, description="Monthly budget in USD.")
    alert_threshold_percent: int = Field(
        80, ge=1, le=1000, description="Alert when actual or forecast spend passes this % of the limit."
    )
    alert_emails: tuple[str, ...] = Field(
        ("platform-team@example.com",), description="Addresses that receive budget alerts (at least one)."
    )

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one alert e-mail address is required")
        for address in value:
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value


def _require_gpu_type(instance_type: str) -> None:
    facts = catalog.EC2_INSTANCES.get(instance_type)
    if facts is None or facts.gpus == 0:
        gpu_types = sorted(t for t, f in catalog.EC2_INSTANCES.items() if f.gpus)
        raise ValueError(f"{instance_type!r} is not a GPU type in the catalog; allowed: {', '.join(gpu_types)}")


class GpuPoolConfig(_Frozen):
    """A pool of GPU capacity that scales from zero (provisioned by the cluster component)."""

    instance_types: tuple[str, ...] = Field(
        ("g5.xlarge",), description="EC2 GPU instance types the pool may launch (from the catalog)."
    )
    capacity_type: Literal["on-demand", "spot", "reserved"] = Field(
        "spot", description="How the pool buys capacity."
    )
    max_gpus: int = Field(4, ge=1, le=4096, description="Upper limit on GPUs the pool may hold at once.")
    efa: bool = Field(False, description="Attach EFA interfaces (keeps the pool in one AZ).")
    availability_zone: str | None = Field(
        None, description="The one AZ of an EFA pool (default: the stack's first AZ); other pools use every AZ.",
    )
    capacity_reservation_ids: tuple[str, ...] = Field(
        (), description="EC2 capacity reservations (cr-...) a `reserved` pool launches into; required for it.",
    )
    volume_gb: int = Field(200, ge=50, le=16384, description="Root volume of each node, GiB (images, /tmp).")

    @field_validator("instance_types")
    @classmethod
    def _instance_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one instance type is required")
        known = aws_shapes.ec2_instance_types()
        for instance_type in value:
            if instance_type not in known:
                raise ValueError(f"{instance_type!r} is not an EC2 instance type")
            _require_gpu_type(instance_type)
        return value

    @field_validator("capacity_reservation_ids")
    @classmethod
    def _reservations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for reservation in value:
            if not re.fullmatch(r"cr-[0-9a-f]{8,17}", reservation):
                raise ValueError(f"{reservation!r} is not a capacity reservation id (cr- and 8-17 hex digits)")
        return value

    @model_validator(mode="after")
    def _efa(self) -> GpuPoolConfig:
        from infra.catalog import EC2_INSTANCES

        if self.efa:
            without = [t for t in self.instance_types if EC2_INSTANCES[t].efa_interfaces == 0]
            if without:
                raise ValueError(f"efa is on but {', '.join(without)} has no EFA interface")
        elif self.availability_zone is not None:
            raise ValueError("availability_zone pins EFA pools only; other pools spread over the stack's AZs")
        if self.capacity_type == "reserved" and not self.capacity_reservation_ids:
            raise ValueError("a reserved pool needs capacity_reservation_ids")
        if self.capacity_type != "reserved" and self.capacity_reservation_ids:
            raise ValueError(f"capacity_reservation_ids apply to reserved pools, not {self.capacity_type}")
        return self

    @property
    def gpus_per_node(self) -> int:
        """GPUs on the smallest node the pool may launch (every node of a job gets this many)."""
        from infra.catalog import EC2_INSTANCES

        return min(EC2_INSTANCES[t].gpus for t in self.instance_types)


class FsxConfig(_Frozen):
    """FSx for Lustre in front of the datasets bucket, mounted into training pods at /fsx."""

    storage_gib: int = Field(1200, description="Capacity, GiB: 1200, 2400, then multiples of 2400.")
    throughput_mb_s_per_tib: Literal[125, 250, 500, 1000] = Field(
        125, description="PERSISTENT_2 throughput per TiB of storage."
    )
    import_prefix: str = Field("", description="Prefix of the datasets bucket linked at /fsx (empty: all of it).")

    @field_validator("storage_gib")
    @classmethod
    def _capacity(cls, value: int) -> int:
        if value not in (1200, 2400) and (value < 2400 or value % 2400):
            raise ValueError("PERSISTENT_2 takes 1200, 2400 or a multiple of 2400 GiB")
        return value

    @field_validator("import_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and (not re.fullmatch(r"[\w.-]+(/[\w.-]+)*/", value) or {".", ".."} & set(value.split("/"))):
            raise ValueError("a prefix of word characters, dots and dashes, ending in '/'")
        return value


class ClusterConfig(_Frozen):
    """The EKS cluster that runs distributed training; GPU capacity comes from `gpu_pools` (Karpenter)."""

    kubernetes_version: str = Field(
        "1.35", description="Kubernetes version, in EKS standard support on the catalog's date (infra/catalog.py)."
    )
    public_access_cidrs: tuple[str, ...] = Field(
        (), description="CIDRs that may reach the API endpoint from the internet; empty keeps it private "
                        "(reach it from inside the VPC). Never 0.0.0.0/0.",
    )
    system_instance_type: str = Field("m6i.large", description="Instance type of the system node group.")
    system_nodes: int = Field(2, ge=1, le=20, description="Nodes in the system node group (add-ons, Karpenter).")
    admin_role_arns: tuple[str, ...] = Field(
        (), description="IAM roles granted cluster-admin through EKS access entries (people, CI deploy roles).",
    )
    log_retention_days: int = Field(90, description="Days control-plane logs are kept (a CloudWatch retention value).")
    allowed_gpu_instance_types: tuple[str, ...] = Field(
        (), description="GPU instance types this stack's pools may launch; empty allows every GPU type in the "
                        "catalog. The policy pack enforces it on each NodePool.",
    )
    allow_on_demand_gpus: bool = Field(
        False, description="Let a dev stack buy on-demand or reserved GPU capacity (dev is spot-only otherwise).",
    )
    fsx: FsxConfig | None = Field(None, description="FSx for Lustre linked to the datasets bucket; absent: none.")
    job_max_restarts: int = Field(
        3, ge=0, le=20, description="Times a failed training job restarts all its nodes before it fails.",
    )
    job_deadline_hours: float = Field(72, gt=0, le=720, description="A training job's wall-clock limit, hours.")
    admission_timeout_minutes: int = Field(
        20, ge=1, le=240, description="How long a multi-node job may wait for all its pods to run before it "
                                      "releases every node and queues again (all-or-nothing placement).",
    )

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        supported = catalog.eks_versions_in_standard_support()
        if value not in supported:
            raise ValueError(f"not in EKS standard support as of {catalog.EKS_VERSIONS_AS_OF}; "
                             f"allowed: {', '.join(supported)}")
        return value

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                network = ipaddress.IPv4Network(cidr, strict=True)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not an IPv4 CIDR block ({exc})") from None
            if network.prefixlen < 8:
                raise ValueError(f"{cidr!r} opens the API to too much of the internet; name your networks (/8 or "
                                 "narrower), or leave the list empty for a private endpoint")
        return value

    @field_validator("system_instance_type")
    @classmethod
    def _system_type(cls, value: str) -> str:
        if value not in aws_shapes.ec2_instance_types() or value not in catalog.EC2_INSTANCES:
            raise ValueError(f"not an EC2 instance type priced in the catalog ({', '.join(catalog.EC2_INSTANCES)})")
        return value

    @field_validator("admin_role_arns")
    @classmethod
    def _admins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn):
                raise ValueError(f"{arn!r} is not an IAM role ARN")
        return value

    @field_validator("allowed_gpu_instance_types")
    @classmethod
    def _allowed_gpus(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for instance_type in value:
            _require_gpu_type(instance_type)
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch keeps logs for one of {', '.join(map(str, LOG_RETENTION_DAYS))} days")
        return value


class TrainingJobConfig(_Frozen):
    """SageMaker training jobs that run the training image (`hoist train --backend sagemaker`)."""

    instance_type: str = Field("ml.g5.12xlarge", description="SageMaker training instance type.")
    instance_count: int = Field(1, ge=1, le=64, description="Instances (nodes) per job.")
    volume_gb: int = Field(100, ge=1, le=16384, description="EBS volume per instance, in GB.")
    max_runtime_hours: float = Field(24, gt=0, le=672, description="Longest a job may train before it is stopped.")
    spot: bool = Field(False, description="Use managed spot capacity; interrupted jobs resume from checkpoints.")
    max_wait_hours: float | None = Field(
        None, gt=0, le=672, description="With spot: longest a job may wait for capacity plus train (>= max runtime)."
    )
    recipe: str = Field("gpu_single_node", description="Training recipe the job runs (training/config.py).")

    @field_validator("instance_type")
    @classmethod
    def _training_type(cls, value: str) -> str:
        if value not in aws_shapes.sagemaker_training_instance_types():
            raise ValueError("not a SageMaker training instance type known to botocore (e.g. ml.g5.12xlarge)")
        return value

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, value: str) -> str:
        from training.config import RECIPES  # pure: the training package's recipe table, no torch

        if value not in RECIPES:
            raise ValueError(f"unknown recipe; allowed: {', '.join(RECIPES)}")
        return value

    @model_validator(mode="after")
    def _spot(self) -> TrainingJobConfig:
        if self.max_wait_hours is not None and not self.spot:
            raise ValueError("max_wait_hours: only applies to spot jobs (set spot: true)")
        if self.spot and self.max_wait_hours is not None and self.max_wait_hours < self.max_runtime_hours:
            raise ValueError("max_wait_hours: must be at least max_runtime_hours")
        return self


class EndpointConfig(_Frozen):
    """The SageMaker real-time endpoint serving the model with the stack's serving image."""

    model_key: str = Field(
        description="Key of the model.tar.gz to serve in this stack's models bucket; `hoist deploy` changes it "
                    "in a promotion pull request.",
    )
    instance_type: str = Field("ml.c5.xlarge", description="SageMaker hosting instance type of the variant.")
    min_instances: int = Field(1, ge=1, le=100, description="Fewest instances autoscaling keeps (prod: 2 or more).")
    max_instances: int = Field(2, ge=1, le=100, description="Most instances autoscaling may run.")
    target_invocations_per_instance: int = Field(
        100, ge=1, le=100_000, description="Autoscaling target: invocations per instance per minute."
    )
    traffic_shifting: Literal["canary", "linear", "all_at_once"] = Field(
        "canary", description="How a blue/green rollout moves traffic to the new fleet."
    )
    step_percent: int = Field(
        10, ge=1, le=50, description="Traffic moved per step: the canary's share, or each linear step."
    )
    step_wait_s: int = Field(300, ge=0, le=3600, description="Bake time between traffic steps, in seconds.")
    final_bake_s: int = Field(
        600, ge=0, le=3600, description="Bake time on the new fleet before the old one is terminated, in seconds."
    )
    rollout_timeout_s: int = Field(
        3600, ge=600, le=14400, description="Longest a rollout may take before SageMaker rolls it back, in seconds."
    )
    data_capture_percent: int = Field(
        0, ge=0, le=100, description="Share of requests and responses captured to the models bucket (prod: > 0)."
    )
    startup_health_check_timeout_s: int = Field(
        600, ge=60, le=3600, description="Seconds a new container has to answer /ping before it is replaced."
    )
    latency_p99_alarm_ms: int = Field(
        1000, ge=1, le=600_000, description="Roll back when the variant's p99 model latency exceeds this."
    )
    errors_5xx_alarm: int = Field(
        5, ge=1, le=100_000, description="Roll back when the variant answers more 5XX errors than this in a minute."
    )
    allow_apply: bool = Field(
        False, description="Let `hoist deploy --apply` update the endpoint directly (dev only); elsewhere a "
                           "promotion is a pull request.",
    )

    @field_validator("model_key")
    @classmethod
    def _model_key(cls, value: str) -> str:
        if not re.fullmatch(r"[\w!\-.*'()]+(/[\w!\-.*'()]+)*/[\w!\-.*'()]+\.tar\.gz", value):
            raise ValueError("expected a key such as runs/2026-11-28/model.tar.gz (no leading '/', no s3://)")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if value not in aws_shapes.sagemaker_endpoint_instance_types():
            raise ValueError("not a SageMaker hosting instance type known to botocore (e.g. ml.c5.xlarge)")
        if value not in catalog.SAGEMAKER_HOSTING_USD_PER_HOUR:
            priced = ", ".join(catalog.SAGEMAKER_HOSTING_USD_PER_HOUR)
            raise ValueError(f"no price in the catalog; priced types: {priced}")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> EndpointConfig:
        if self.max_instances < self.min_instances:
            raise ValueError("max_instances: must be at least min_instances")
        return self


class StackConfig(_Frozen):
    """Everything one stack (environment) may vary."""

    environment: Environment = Field(
        "dev", description="The tier this stack serves; prod turns on the strict guardrails."
    )
    region: str = Field("us-east-1", description="AWS region of every resource in the stack.")
    allowed_account_ids: tuple[str, ...] = Field(
        description="AWS account ids this stack may touch; the provider refuses any other account."
    )
    cost_center: str = Field("ml-platform", min_length=1, max_length=128,
                             description="Value of the cost-center tag on every resource.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on every resource.")
    protect_stateful: bool = Field(
        False, description="Protect buckets and keys from deletion and retain them on delete (prod must)."
    )
    budget: BudgetConfig = Field(default_factory=BudgetConfig, description="Monthly AWS Budget and alert.")
    network: NetworkConfig = Field(default_factory=NetworkConfig, description="VPC layout.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Buckets and KMS key.")
    registry: RegistryConfig = Field(default_factory=RegistryConfig, description="ECR repositories.")
    images: ImagesConfig = Field(default_factory=ImagesConfig, description="Images the stack runs, by digest.")
    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="The EKS training cluster.")
    training_jobs: TrainingJobConfig = Field(
        default_factory=TrainingJobConfig, description="SageMaker training jobs (role, network, job shape)."
    )
    endpoint: EndpointConfig | None = Field(
        None, description="The SageMaker endpoint; absent until the stack serves a model."
    )
    gpu_pools: dict[str, GpuPoolConfig] = Field(
        default_factory=dict, description="GPU pools by name (lower-case letters, digits and dashes)."
    )

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in aws_shapes.aws_regions():
            raise ValueError("not an AWS commercial region known to botocore (e.g. us-east-1, eu-west-1)")
        return value

    @field_validator("allowed_account_ids")
    @classmethod
    def _accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one AWS account id is required")
        for account in value:
            if not re.fullmatch(r"\d{12}", account):
                raise ValueError(f"{account!r} is not a 12-digit AWS account id")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag_value in value.items():
            if not _TAG_KEY.match(key) or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r} is not a valid AWS tag key (1-128 chars, no 'aws:' prefix)")
            if len(tag_value) > 256:
                raise ValueError(f"tag {key!r} value is longer than 256 characters")
        return value

    @field_validator("gpu_pools")
    @classmethod
    def _pool_names(cls, value: dict[str, GpuPoolConfig]) -> dict[str, GpuPoolConfig]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", name):
                raise ValueError(f"pool name {name!r} must be 1-32 lower-case letters, digits and dashes")
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> StackConfig:
        for az in self.network.availability_zones:
            if not re.fullmatch(re.escape(self.region) + r"[a-z]", az):
                raise ValueError(f"network.availability_zones: {az!r} is not an AZ of region {self.region}")
        if self.environment == "prod":
            if len(self.network.availability_zones) < 3:
                raise ValueError("network.availability_zones: prod needs at least 3 availability zones")
            if self.network.nat_gateways != "per_az":
                raise ValueError("network.nat_gateways: prod needs 'per_az' so one AZ outage cannot cut egress")
            if not self.protect_stateful:
                raise ValueError("protect_stateful: prod must protect its buckets and keys (set true)")
        self._check_pools()
        if self.endpoint is not None:
            if self.images.serving is None:
                raise ValueError("images.serving: an endpoint needs the serving image's digest")
            if self.endpoint.allow_apply and self.environment != "dev":
                raise ValueError("endpoint.allow_apply: only dev may be updated directly; promote by pull request")
            if self.environment == "prod" and self.endpoint.min_instances < 2:
                raise ValueError("endpoint.min_instances: prod needs at least 2 instances (one per AZ)")
            if self.environment == "prod" and self.endpoint.data_capture_percent == 0:
                raise ValueError("endpoint.data_capture_percent: prod must capture traffic for monitoring")
        if self.storage.force_destroy and self.environment != "dev":
            raise ValueError("storage.force_destroy: allowed only in dev, where data is disposable")
        if self.storage.force_destroy and self.protect_stateful:
            raise ValueError("storage.force_destroy: cannot be true when protect_stateful is true")
        return self

    def _check_pools(self) -> None:
        allowed = self.cluster.allowed_gpu_instance_types
        for name, pool in self.gpu_pools.items():
            where = f"gpu_pools.{name}"
            outside = [t for t in pool.instance_types if allowed and t not in allowed]
            if outside:
                raise ValueError(f"{where}.instance_types: {', '.join(outside)} not in "
                                 f"cluster.allowed_gpu_instance_types ({', '.join(allowed)})")
            if self.environment == "dev" and pool.capacity_type != "spot" and not self.cluster.allow_on_demand_gpus:
                raise ValueError(f"{where}.capacity_type: dev buys GPUs as spot; set "
                                 "cluster.allow_on_demand_gpus to allow on-demand or reserved")
            if pool.availability_zone is not None and pool.availability_zone not in self.network.availability_zones:
                raise ValueError(f"{where}.availability_zone: {pool.availability_zone!r} is not one of the "
                                 f"stack's AZs ({', '.join(self.network.availability_zones)})")
            if pool.max_gpus < pool.gpus_per_node:
                raise ValueError(f"{where}.max_gpus: {pool.max_gpus} is fewer than one node's "
                                 f"{pool.gpus_per_node} GPUs")

    def pool_zones(self, pool: GpuPoolConfig) -> tuple[str, ...]:
        """The AZs a pool may launch in: one for EFA (a cluster placement group cannot span AZs)."""
        if pool.efa:
            return (pool.availability_zone or self.network.availability_zones[0],)
        return self.network.availability_zones

    @property
    def default_tags(self) -> dict[str, str]:
        """Tags the provider puts on every resource, for cost allocation and for the policy pack."""
        return {**self.tags, "hoist:project": "hoist", "hoist:environment": self.environment,
                "cost-center": self.cost_center, "managed-by": "pulumi"}


def _format_error(source: str, error: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    location = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    # Cross-field errors carry their own key at the start of the message.
    if not location and ": " in message and not message.startswith(" "):
        key, _, message = message.partition(": ")
        location = key.split(".")
    key = f"{NAMESPACE}:" + ".".join(location) if location else NAMESPACE
    if error["type"] == "extra_forbidden":
        parent = _lookup(raw, location[:-1])
        allowed = _allowed_keys(location[:-1], parent)
        return f"{source}: {key}: unknown key; allowed keys here: {', '.join(allowed)}"
    if error["type"] == "missing":
        field_info = StackConfig.model_fields.get(location[0]) if len(location) == 1 else None
        described = f" — {field_info.description}" if field_info and field_info.description else ""
        return f"{source}: {key}: required but missing{described}"
    value = _lookup(raw, location)
    shown = json.dumps(value) if value is not _MISSING else "(unset)"
    return f"{source}: {key} = {shown}: {message}"


_MISSING = object()


def _lookup(raw: Mapping[str, Any], location: list[str]) -> Any:
    node: Any = raw
    for part in location:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _allowed_keys(location: list[str], parent: Any) -> list[str]:
    model: type[BaseModel] = StackConfig
    for part in location:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        # An optional section (`X | None`) names its model inside the union.
        members = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        annotation = members[0] if members else annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif part in StackConfig.model_fields and part == "gpu_pools":
            continue
        else:
            model = GpuPoolConfig
    return sorted(model.model_fields)


def parse(raw: Mapping[str, Any], source: str) -> StackConfig:
    """Validate the ``hoist:`` values of one stack. Raises ConfigError with one line per problem."""
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        errors = exc.errors()
        first = _format_error(source, errors[0], raw)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ConfigError(first + more) from None


def read_stack_file(path: Path) -> dict[str, Any]:
    """The ``hoist:`` values of a Pulumi stack file, with the namespace stripped."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such stack file; stacks live in {STACKS_DIR}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    values = document.get("config") or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: 'config' must be a mapping of keys to values")
    raw: dict[str, Any] = {}
    for key, value in values.items():
        namespace, _, name = str(key).partition(":")
        if namespace == NAMESPACE and name:
            raw[name] = value
    return raw


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def available_stacks() -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS_DIR.glob("Pulumi.*.yaml"))


def load_stack(stack: str) -> StackConfig:
    """Read and validate ``stacks/Pulumi.<stack>.yaml``."""
    path = stack_file(stack)
    if not path.exists():
        raise ConfigError(f"unknown stack {stack!r}; available: {', '.join(available_stacks())}")
    source = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
    return parse(read_stack_file(path), source=str(source))


def from_pulumi_config(values: Mapping[str, Any], stack: str) -> StackConfig:
    """Validate the ``hoist:*`` entries of Pulumi's runtime config (object values arrive as JSON)."""
    raw: dict[str, Any] = {}
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE or not name:
            continue
        # Pulumi hands object and list values to the program as JSON text; scalars stay strings.
        if isinstance(value, str) and value[:1] in "{[":
            try:
                raw[name] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
        raw[name] = value
    return parse(raw, source=f"stacks/Pulumi.{stack}.yaml")


