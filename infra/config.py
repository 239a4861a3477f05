"""The stack config's schema: everything a stack may vary, typed once.

Every field has a description and a default that suits dev. Validation is pure: it never calls
AWS, reads the clock or touches Pulumi (instance types come from botocore's offline service models,
prices and versions from the dated catalog). Reading stack files and turning a validation error into
one line is ``infra.stack_files``' job.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from infra import aws_shapes, catalog
from infra.fields import (
    AccountId,
    EmailAddress,
    ImageDigest,
    Ipv4Cidr,
    LogRetentionDays,
    RoleArn,
    S3Prefix,
    StackName,
    TagKey,
)
from training.config import RECIPES  # the training package's recipe table: pure Python, no torch

InterfaceEndpoint = Literal["ecr.api", "ecr.dkr", "sts", "logs", "sagemaker.api", "sagemaker.runtime"]
INTERFACE_ENDPOINT_SERVICES: tuple[InterfaceEndpoint, ...] = (
    "ecr.api", "ecr.dkr", "sts", "logs", "sagemaker.api", "sagemaker.runtime")
Environment = Literal["dev", "staging", "prod"]

class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class NetworkConfig(_Frozen):
    """The VPC: where every private workload of the stack lives."""

    cidr: Ipv4Cidr = Field("10.0.0.0/16", description="IPv4 CIDR of the VPC, a /16 to /20 block.")
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
    flow_log_retention_days: LogRetentionDays = Field(
        30, description="Days VPC flow logs are kept in CloudWatch Logs (a CloudWatch retention value)."
    )

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        network = ipaddress.IPv4Network(value)
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
    replicate_to: tuple[StackName, ...] = Field(
        (), description="Stacks whose registries receive every image pushed here (ECR cross-account "
                        "replication); set on the stack CI pushes to, so the same bytes reach every stack.",
    )
    receive_from: StackName | None = Field(
        None, description="The stack whose registry replicates into this one; only its account is granted "
                          "ecr:ReplicateImage here.",
    )

    @field_validator("replicate_to")
    @classmethod
    def _stacks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a stack is listed twice")
        return value


SERVING_IMAGES: dict[str, Literal["serving", "llm"]] = {"classic": "serving", "vllm": "llm"}
"""The image each serving engine runs in: its ``images`` key and its repository in the registry."""


class ImagesConfig(_Frozen):
    """The images this stack runs, by digest: `hoist build` prints them; a promotion pull request sets them."""

    training: ImageDigest | None = Field(
        None, description="Digest (sha256:...) of the training image in this stack's registry."
    )
    serving: ImageDigest | None = Field(
        None, description="Digest (sha256:...) of the serving image in this stack's registry."
    )
    llm: ImageDigest | None = Field(
        None, description="Digest (sha256:...) of the LLM serving image (vLLM) in this stack's registry."
    )

    def digests(self) -> dict[str, str]:
        """The digests that are set, by part."""
        parts = (("training", self.training), ("serving", self.serving), ("llm", self.llm))
        return {part: digest for part, digest in parts if digest}

    def serving_digest(self, engine: str) -> str | None:
        """The digest of the image that serves ``engine``."""
        return self.digests().get(SERVING_IMAGES[engine])


class BudgetConfig(_Frozen):
    """The stack's monthly AWS Budget, filtered to its cost-allocation tag."""

    monthly_limit_usd: float = Field(500.0, gt=0, le=10_000_000, description="Monthly budget in USD.")
    alert_threshold_percent: int = Field(
        80, ge=1, le=1000, description="Alert when actual or forecast spend passes this % of the limit."
    )
    alert_emails: tuple[EmailAddress, ...] = Field(
        ("platform-team@example.com",), description="Addresses that receive budget alerts (at least one)."
    )

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one alert e-mail address is required")
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
        if self.efa:
            without = [t for t in self.instance_types if catalog.EC2_INSTANCES[t].efa_interfaces == 0]
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
        return min(catalog.EC2_INSTANCES[t].gpus for t in self.instance_types)


class FsxConfig(_Frozen):
    """FSx for Lustre in front of the datasets bucket, mounted into training pods at /fsx."""

    storage_gib: int = Field(1200, description="Capacity, GiB: 1200, 2400, then multiples of 2400.")
    throughput_mb_s_per_tib: Literal[125, 250, 500, 1000] = Field(
        125, description="PERSISTENT_2 throughput per TiB of storage."
    )
    import_prefix: S3Prefix = Field("", description="Prefix of the datasets bucket linked at /fsx (empty: all of it).")

    @field_validator("storage_gib")
    @classmethod
    def _capacity(cls, value: int) -> int:
        if value not in (1200, 2400) and (value < 2400 or value % 2400):
            raise ValueError("PERSISTENT_2 takes 1200, 2400 or a multiple of 2400 GiB")
        return value



class ClusterConfig(_Frozen):
    """The EKS cluster that runs distributed training; GPU capacity comes from `gpu_pools` (Karpenter)."""

    kubernetes_version: str = Field(
        "1.35", description="Kubernetes version, in EKS standard support on the catalog's date (infra/catalog.py)."
    )
    public_access_cidrs: tuple[Ipv4Cidr, ...] = Field(
        (), description="CIDRs that may reach the API endpoint from the internet; empty keeps it private "
                        "(reach it from inside the VPC). Never 0.0.0.0/0.",
    )
    system_instance_type: str = Field("m6i.large", description="Instance type of the system node group.")
    system_nodes: int = Field(2, ge=1, le=20, description="Nodes in the system node group (add-ons, Karpenter).")
    admin_role_arns: tuple[RoleArn, ...] = Field(
        (), description="IAM roles granted cluster-admin through EKS access entries (people; CI roles: ci_*).",
    )
    ci_deploy_role_arn: RoleArn | None = Field(
        None, description="The CI role `pulumi up` and `pulumi destroy` run as (deploy-stack.yml, teardown.yml; on the "
                          "deploy runner in the VPC too, by OIDC): cluster-admin through an access entry.")
    ci_preview_role_arn: RoleArn | None = Field(
        None, description="The CI role previews and drift checks run as (preview.yml, drift.yml; on the preview "
                          "runner in the VPC too, by OIDC): read-only through an access entry (AmazonEKSViewPolicy "
                          "cluster-wide, AmazonEKSAdminViewPolicy only in the Helm releases' namespaces, whose "
                          "release Secrets a preview reads).")
    log_retention_days: LogRetentionDays = Field(
        90, description="Days control-plane logs are kept (a CloudWatch retention value).")
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

    @model_validator(mode="after")
    def _one_entry_per_role(self) -> ClusterConfig:
        # A cluster holds one access entry per IAM principal; a second for the same role is refused.
        roles = [*self.admin_role_arns, self.ci_deploy_role_arn, self.ci_preview_role_arn]
        named = [r for r in roles if r is not None]
        repeated = sorted({r for r in named if named.count(r) > 1})
        if repeated:
            raise ValueError(f"{repeated[0]} is named twice among admin_role_arns, ci_deploy_role_arn and "
                             "ci_preview_role_arn; each role gets one access entry (one level of access)")
        return self

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
            if ipaddress.IPv4Network(cidr).prefixlen < 8:
                raise ValueError(f"{cidr!r} opens the API to too much of the internet; name your networks (/8 or "
                                 "narrower), or leave the list empty for a private endpoint")
        return value

    @field_validator("system_instance_type")
    @classmethod
    def _system_type(cls, value: str) -> str:
        if value not in aws_shapes.ec2_instance_types() or value not in catalog.EC2_INSTANCES:
            raise ValueError(f"not an EC2 instance type priced in the catalog ({', '.join(catalog.EC2_INSTANCES)})")
        return value

    @field_validator("allowed_gpu_instance_types")
    @classmethod
    def _allowed_gpus(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for instance_type in value:
            _require_gpu_type(instance_type)
        return value


class CiRunnerConfig(_Frozen):
    """CodeBuild-hosted GitHub Actions runners inside the VPC, from which CI reaches the private EKS API
    (the in-cluster side's preview, deploy and teardown). Absent: no runner; run the in-cluster side
    from wherever the API is reachable (README, "Reaching a private API")."""

    connection_arn: str = Field(
        description="ARN of the AWS CodeConnections connection to GitHub (created once in the console, "
                    "which completes GitHub's OAuth handshake), in the stack's account.")
    repository_url: str = Field(
        description="HTTPS URL of this repository on GitHub (https://github.com/<owner>/<repo>); its "
                    "workflow jobs are the only ones the runners' webhooks accept.")
    compute_type: Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM"] = Field(
        "BUILD_GENERAL1_SMALL", description="CodeBuild compute type of both runners (Pulumi and Helm need "
                                            "little: 3 GB small, 7 GB medium).")

    @field_validator("connection_arn")
    @classmethod
    def _connection(cls, value: str) -> str:
        if not CONNECTION_ARN.fullmatch(value):
            raise ValueError(f"{value!r} is not a CodeConnections connection ARN "
                             "(arn:aws:codeconnections:<region>:<account>:connection/<id>)")
        return value

    @field_validator("repository_url")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not REPOSITORY_URL.fullmatch(value):
            raise ValueError(f"{value!r} is not a GitHub repository URL (https://github.com/<owner>/<repo>)")
        return value

    def connection_account(self) -> str:
        return self.connection_arn.split(":")[4]


CONNECTION_ARN = re.compile(r"arn:aws[\w-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:"
                            r"connection/[0-9a-f-]{36}")
REPOSITORY_URL = re.compile(r"https://github\.com/[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}")


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


LLM_MODEL_DIR = "/opt/ml/model"
"""Where SageMaker places the uncompressed model prefix; the engine reads it from here."""


class LlmEngineConfig(_Frozen):
    """The vLLM engine's settings for an LLM endpoint, passed to the container as ``SM_VLLM_*`` variables."""

    model_gb: float = Field(
        gt=0, le=10_000, description="Size of the artifact's files in GB (10^9 bytes), as `hoist deploy` read it "
                                     "from the manifest; sets the download and start-up timeouts.",
    )
    kv_bytes_per_token: int | None = Field(
        None, ge=1, le=100_000_000, description="KV-cache bytes one token takes (all layers), as `hoist deploy` "
                                                "computed it from the artifact's config.json; with it the stack "
                                                "checks the fit and the plan shows the sizing.",
    )
    max_model_len: int = Field(4096, ge=16, le=1_048_576, description="Longest prompt plus completion, in tokens.")
    gpu_memory_utilization: float = Field(
        0.9, ge=0.5, le=0.98, description="Share of each GPU's memory the engine may use (weights, KV cache).",
    )
    dtype: Literal["auto", "bfloat16", "float16"] = Field(
        "auto", description="Activation and unquantised weight dtype; auto takes the checkpoint's.",
    )
    quantization: Literal["compressed-tensors", "fp8"] | None = Field(
        None, description="How the weights are quantised (the artifact's manifest says); absent: not quantised.",
    )
    tensor_parallel_size: Literal[1, 2, 4, 8] = Field(
        1, description="GPUs one model replica is split over (tensor parallelism).",
    )
    max_num_seqs: int = Field(64, ge=1, le=4096, description="Most sequences the engine batches at once.")
    enable_prefix_caching: bool = Field(True, description="Reuse the KV cache of shared prompt prefixes.")

    def environment(self) -> dict[str, str]:
        """The container's ``SM_VLLM_*`` variables (serving/llm/entrypoint.py turns them into vLLM flags)."""
        env = {"SM_VLLM_MODEL": LLM_MODEL_DIR, "SM_VLLM_MAX_MODEL_LEN": str(self.max_model_len),
               "SM_VLLM_GPU_MEMORY_UTILIZATION": str(self.gpu_memory_utilization), "SM_VLLM_DTYPE": self.dtype,
               "SM_VLLM_TENSOR_PARALLEL_SIZE": str(self.tensor_parallel_size),
               "SM_VLLM_MAX_NUM_SEQS": str(self.max_num_seqs),
               "SM_VLLM_ENABLE_PREFIX_CACHING": "true" if self.enable_prefix_caching else "false"}
        if self.quantization is not None:
            env["SM_VLLM_QUANTIZATION"] = self.quantization
        return env

    @property
    def download_timeout_s(self) -> int:
        """Seconds SageMaker may take to copy the model prefix onto the instance."""
        return max(catalog.STARTUP_TIMEOUT_RANGE_S[0], math.ceil(
            catalog.DOWNLOAD_MARGIN_S + self.model_gb * 1000 / catalog.MODEL_DOWNLOAD_MB_S))

    @property
    def startup_timeout_s(self) -> int:
        """Seconds the engine may take to load the weights and answer /ping."""
        return max(catalog.STARTUP_TIMEOUT_RANGE_S[0], math.ceil(
            catalog.ENGINE_WARMUP_S + self.model_gb * 1000 / catalog.MODEL_LOAD_MB_S))

    @model_validator(mode="after")
    def _loads_in_time(self) -> LlmEngineConfig:
        limit = catalog.STARTUP_TIMEOUT_RANGE_S[1]
        for what, seconds in (("download", self.download_timeout_s), ("start-up", self.startup_timeout_s)):
            if seconds > limit:
                raise ValueError(f"model_gb: a {self.model_gb:g} GB model needs a {seconds} s {what} timeout; "
                                 f"SageMaker allows at most {limit} s (quantise it or split it)")
        return self


def check_model_key(value: str) -> str:
    """A key in the models bucket: a model.tar.gz, or an LLM artifact's prefix ending in '/'."""
    part = r"[\w!\-.*'()]+"
    if not re.fullmatch(rf"{part}(/{part})*/({part}\.tar\.gz)?", value):
        raise ValueError("expected a key such as runs/2026-11-28/model.tar.gz, or an LLM prefix such as "
                         "llm/2026-11-28/ (no leading '/', no s3://)")
    if any(p in (".", "..") for p in value.split("/")):
        raise ValueError("'.' and '..' are not allowed in the path (SageMaker refuses them)")
    return value


def check_engine_artifact(engine: str, model_key: str, llm: LlmEngineConfig | None) -> None:
    """The artifact's form follows the engine: a model.tar.gz for classic, an uncompressed prefix for vLLM."""
    if engine == "vllm":
        if not model_key.endswith("/"):
            raise ValueError("model_key: a vLLM endpoint serves an uncompressed LLM artifact; name its "
                             "prefix, ending in '/' (e.g. llm/2026-11-28/)")
        if llm is None:
            raise ValueError("llm: a vLLM endpoint needs its engine settings (at least model_gb)")
    else:
        if model_key.endswith("/"):
            raise ValueError("model_key: the classic engine serves a model.tar.gz; a prefix needs engine: vllm")
        if llm is not None:
            raise ValueError("llm: engine settings apply to engine: vllm only")


def llm_fit_error(llm: LlmEngineConfig, instance_type: str, gpus: catalog.HostingGpus) -> str | None:
    """Weights (the artifact's size) plus a full KV cache for max_num_seqs sequences of max_model_len tokens
    must fit the share of the TP degree's GPUs the engine may use."""
    if llm.kv_bytes_per_token is None:
        return None
    needed = llm.model_gb + llm.kv_bytes_per_token * llm.max_model_len * llm.max_num_seqs / 1e9
    usable = llm.tensor_parallel_size * gpus.gpu_memory_gb * llm.gpu_memory_utilization
    if needed <= usable:
        return None
    return (f"llm: does not fit {instance_type}: needs {needed:.1f} GB (weights {llm.model_gb:g} GB + KV cache "
            f"{needed - llm.model_gb:.1f} GB), {llm.tensor_parallel_size} GPU(s) give {usable:.1f} GB; lower "
            "max_num_seqs or max_model_len, raise tensor_parallel_size or choose a larger instance type")


class EndpointConfig(_Frozen):
    """The SageMaker real-time endpoint serving the model with the stack's serving image (classic), or an LLM
    with the vLLM image."""

    engine: Literal["classic", "vllm"] = Field(
        "classic", description="What serves the model: the classic serving image (a model.tar.gz) or the vLLM "
                               "image (an uncompressed LLM artifact prefix); `hoist deploy` checks the artifact.",
    )
    model_key: str = Field(
        description="Classic: key of the model.tar.gz in this stack's models bucket. vLLM: the LLM artifact's "
                    "prefix, ending in '/'. `hoist deploy` changes it in a promotion pull request.",
    )
    llm: LlmEngineConfig | None = Field(None, description="The vLLM engine's settings; required for engine vllm.")
    instance_type: str = Field("ml.c5.xlarge", description="SageMaker hosting instance type of the variant.")
    min_instances: int = Field(
        1, ge=1, le=100, description="Fewest instances autoscaling keeps (prod: 2 or more); only "
                                     "inference_components may scale to zero.",
    )
    max_instances: int = Field(2, ge=1, le=100, description="Most instances autoscaling may run.")
    target_invocations_per_instance: int = Field(
        100, ge=1, le=100_000, description="Autoscaling target: invocations per instance per minute."
    )
    target_concurrent_requests_per_model: int = Field(
        8, ge=1, le=4096, description="vLLM autoscaling target: requests in flight per model copy (a streamed "
                                      "request counts until its last token); classic endpoints track invocations.",
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
        1000, ge=1, le=600_000, description="Classic: roll back when the variant's p99 model latency exceeds this.",
    )
    ttft_p99_alarm_ms: int = Field(
        2000, ge=1, le=600_000, description="vLLM: roll back when the engine's p99 time to first token exceeds "
                                            "this (its Prometheus metric, published by SageMaker).",
    )
    inter_token_p99_alarm_ms: int = Field(
        200, ge=1, le=60_000, description="vLLM: roll back when the engine's p99 latency between output tokens "
                                          "exceeds this.",
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
        return check_model_key(value)

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
        check_engine_artifact(self.engine, self.model_key, self.llm)
        if self.llm is not None:
            gpus = catalog.SAGEMAKER_HOSTING_GPUS.get(self.instance_type)
            if gpus is None:
                raise ValueError(f"instance_type: {self.instance_type} has no GPU in the catalog; a vLLM endpoint "
                                 f"runs on one of {', '.join(catalog.SAGEMAKER_HOSTING_GPUS)}")
            if self.llm.tensor_parallel_size > gpus.gpus:
                raise ValueError(f"llm.tensor_parallel_size: {self.llm.tensor_parallel_size} is more than "
                                 f"{self.instance_type}'s {gpus.gpus} GPUs")
            problem = llm_fit_error(self.llm, self.instance_type, gpus)
            if problem:
                raise ValueError(problem)
        return self

    @property
    def model_data_timeouts_s(self) -> tuple[int, int]:
        """(download, start-up health check) seconds: derived from the model's size for an LLM."""
        if self.llm is not None:
            return self.llm.download_timeout_s, self.llm.startup_timeout_s
        return self.startup_health_check_timeout_s, self.startup_health_check_timeout_s

    @property
    def inference_ami_version(self) -> str | None:
        """The inference AMI whose NVIDIA driver runs the engine's CUDA; None keeps SageMaker's default."""
        return catalog.inference_ami_for() if self.engine == "vllm" else None


class ComponentModelConfig(_Frozen):
    """One model of the shared endpoint (an inference component): artifact, engine, resources per copy, copies."""

    engine: Literal["classic", "vllm"] = Field(
        "classic", description="What serves this model: the classic serving image (a model.tar.gz) or the vLLM "
                               "image (an uncompressed LLM artifact prefix).",
    )
    model_key: str = Field(
        description="Classic: key of the model.tar.gz in the models bucket. vLLM: the LLM artifact's prefix, "
                    "ending in '/'. `hoist deploy --model NAME` changes it.",
    )
    llm: LlmEngineConfig | None = Field(None, description="The vLLM engine's settings; required for engine vllm.")
    cpu_cores: float = Field(1, ge=0.25, le=192, description="CPU cores reserved for each copy.")
    memory_mb: int | None = Field(
        None, ge=128, le=2_097_152, description="Memory reserved for each copy, MiB; default: 2048 for classic, "
                                                "an LLM's weights plus 2048 for vLLM.",
    )
    accelerators: int | None = Field(
        None, ge=0, le=8, description="GPUs reserved for each copy; default: none for classic, the LLM's "
                                      "tensor_parallel_size for vLLM (which must equal it).",
    )
    min_copies: int = Field(
        1, ge=0, le=100, description="Fewest copies autoscaling keeps; 0 lets an idle model release its instance "
                                     "(needs inference_components.min_instances 0).",
    )
    max_copies: int = Field(2, ge=1, le=100, description="Most copies autoscaling may run.")
    target_concurrent_requests_per_copy: int = Field(
        4, ge=1, le=4096, description="Autoscaling target: requests in flight per copy (high resolution).",
    )
    ttft_p99_alarm_ms: int = Field(
        2000, ge=1, le=600_000, description="vLLM: roll the model's update back when the engine's p99 time to first "
                                            "token exceeds this (its Prometheus metric, published by SageMaker).",
    )
    inter_token_p99_alarm_ms: int = Field(
        200, ge=1, le=60_000, description="vLLM: roll the model's update back when the engine's p99 latency between "
                                          "output tokens exceeds this.",
    )

    @field_validator("model_key")
    @classmethod
    def _model_key(cls, value: str) -> str:
        return check_model_key(value)

    @model_validator(mode="after")
    def _shape(self) -> ComponentModelConfig:
        if self.max_copies < self.min_copies:
            raise ValueError("max_copies: must be at least min_copies")
        check_engine_artifact(self.engine, self.model_key, self.llm)
        if self.llm is not None and self.accelerators is not None \
                and self.accelerators != self.llm.tensor_parallel_size:
            raise ValueError(f"accelerators: {self.accelerators} differs from llm.tensor_parallel_size "
                             f"{self.llm.tensor_parallel_size}; each copy needs one GPU per tensor-parallel rank")
        return self

    @property
    def gpus_per_copy(self) -> int:
        if self.accelerators is not None:
            return self.accelerators
        return self.llm.tensor_parallel_size if self.llm is not None else 0

    @property
    def memory_mb_per_copy(self) -> int:
        if self.memory_mb is not None:
            return self.memory_mb
        if self.llm is not None:
            return math.ceil(self.llm.model_gb * 1e9 / 2**20) + catalog.LLM_HOST_OVERHEAD_MB
        return 2048

    @property
    def initial_copies(self) -> int:
        """Copies at creation: CreateInferenceComponent refuses zero, so a model that may idle at zero starts
        with one and scales in later."""
        return max(1, self.min_copies)

    @property
    def model_data_timeouts_s(self) -> tuple[int, int]:
        """(download, start-up health check) seconds: derived from the model's size for an LLM."""
        if self.llm is not None:
            return self.llm.download_timeout_s, self.llm.startup_timeout_s
        return catalog.STARTUP_TIMEOUT_RANGE_S[0] * 10, catalog.STARTUP_TIMEOUT_RANGE_S[0] * 10


class InferenceComponentsConfig(_Frozen):
    """One SageMaker endpoint whose instances several models share; it scales with their copies, to zero if allowed."""

    instance_type: str = Field("ml.c5.xlarge", description="SageMaker hosting instance type of the endpoint.")
    min_instances: int = Field(
        0, ge=0, le=100, description="Fewest instances managed instance scaling keeps; 0 lets an idle endpoint cost "
                                     "nothing (prod: 2 or more).",
    )
    max_instances: int = Field(2, ge=1, le=100, description="Most instances managed instance scaling may run.")
    models: dict[str, ComponentModelConfig] = Field(
        description="The models the endpoint serves, by name (1-20 lower-case letters, digits and dashes); "
                    "`hoist invoke --model NAME` calls one.",
    )
    rollout_batch_percent: int = Field(
        50, ge=5, le=50, description="Share of a model's copies replaced per step of a rolling update.",
    )
    rollout_wait_s: int = Field(300, ge=0, le=3600, description="Bake time per rolling step, in seconds.")
    rollout_timeout_s: int = Field(
        3600, ge=600, le=28800, description="Longest a model's rolling update may take before it is rolled back.",
    )
    errors_5xx_alarm: int = Field(
        5, ge=1, le=100_000, description="Roll a model's update back when it answers more 5XX errors than this in "
                                         "a minute.",
    )
    data_capture_percent: int = Field(
        0, ge=0, le=100, description="Share of requests and responses captured to the models bucket (prod: > 0).",
    )
    cache_model_data: bool = Field(
        True, description="Cache each model's artifact and image on the instances SageMaker provisions, so a copy "
                          "added by autoscaling (or from zero) starts without downloading them again.",
    )
    allow_apply: bool = Field(
        False, description="Let `hoist deploy --model NAME --apply` update a model directly (dev only).",
    )

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if value not in aws_shapes.sagemaker_endpoint_instance_types():
            raise ValueError("not a SageMaker hosting instance type known to botocore (e.g. ml.c5.xlarge)")
        if value not in catalog.SAGEMAKER_HOSTING_USD_PER_HOUR or value not in catalog.SAGEMAKER_HOSTING_SHAPES:
            known = ", ".join(t for t in catalog.SAGEMAKER_HOSTING_SHAPES
                              if t in catalog.SAGEMAKER_HOSTING_USD_PER_HOUR)
            raise ValueError(f"no price or CPU/memory figures in the catalog; known types: {known}")
        return value

    @field_validator("models")
    @classmethod
    def _names(cls, value: dict[str, ComponentModelConfig]) -> dict[str, ComponentModelConfig]:
        if not value:
            raise ValueError("at least one model is required")
        for name in value:
            if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?", name):
                raise ValueError(f"model name {name!r} must be 1-20 lower-case letters, digits and dashes")
        return value

    @model_validator(mode="after")
    def _fits(self) -> InferenceComponentsConfig:
        if self.max_instances < self.min_instances:
            raise ValueError("max_instances: must be at least min_instances")
        vcpus, memory_gib = catalog.SAGEMAKER_HOSTING_SHAPES[self.instance_type]
        gpus = catalog.SAGEMAKER_HOSTING_GPUS.get(self.instance_type)
        for name, model in self.models.items():
            where = f"models.{name}"
            if model.min_copies == 0 and self.min_instances > 0:
                raise ValueError(f"{where}.min_copies: 0 idles the model, but min_instances {self.min_instances} "
                                 "keeps instances running anyway; set min_instances 0 or min_copies 1")
            if model.gpus_per_copy and gpus is None:
                raise ValueError(f"{where}: needs GPUs, but {self.instance_type} has none in the catalog")
            if gpus is not None and model.gpus_per_copy > gpus.gpus:
                raise ValueError(f"{where}: a copy needs {model.gpus_per_copy} GPUs; {self.instance_type} has "
                                 f"{gpus.gpus}")
            if model.llm is not None and gpus is not None:
                problem = llm_fit_error(model.llm, self.instance_type, gpus)
                if problem:
                    raise ValueError(f"{where}.{problem}")
            if model.cpu_cores > vcpus:
                raise ValueError(f"{where}.cpu_cores: {model.cpu_cores:g} is more than {self.instance_type}'s "
                                 f"{vcpus} vCPUs")
            usable_mb = memory_gib * 1024 - catalog.COMPONENT_HOST_RESERVE_MB
            if model.memory_mb_per_copy > usable_mb:
                raise ValueError(f"{where}.memory_mb: a copy needs {model.memory_mb_per_copy} MiB; "
                                 f"{self.instance_type} leaves {usable_mb} MiB for models")
        if self.min_instances == 0 and all(m.min_copies > 0 for m in self.models.values()):
            raise ValueError("min_instances: 0 needs a model with min_copies 0, or the endpoint never idles")
        self._placeable()
        return self

    def _placeable(self) -> None:
        """Copies SageMaker could never place are refused here: each model's copies at creation (at least one
        each; the floor of min_copies is within them) packed together, and each model's max_copies alone."""
        needed = self.instances_at_creation
        if needed > self.max_instances:
            copies = ", ".join(f"{n} {m.initial_copies}" for n, m in self.models.items())
            raise ValueError(f"max_instances: the copies every model starts with ({copies}; at least one each, "
                             f"min_copies above that) need {needed} {self.instance_type} instances, "
                             f"{needed - self.max_instances} more than it allows")
        for name, model in self.models.items():
            per_instance = self.copies_per_instance(model)
            alone = math.ceil(model.max_copies / per_instance)
            if alone > self.max_instances:
                raise ValueError(f"models.{name}.max_copies: {per_instance} copies fit one "
                                 f"{self.instance_type}, so these need {alone} instances; max_instances "
                                 f"{self.max_instances} holds at most {per_instance * self.max_instances}")

    def instances_for(self, copies: dict[str, int]) -> int:
        """Instances that hold ``copies`` (by model) packed together."""
        return catalog.instances_for(self.instance_type, [
            (self.models[name].cpu_cores, self.models[name].memory_mb_per_copy, self.models[name].gpus_per_copy)
            for name, count in copies.items() for _ in range(count)])

    @property
    def instances_at_creation(self) -> int:
        """Instances running right after every component is created (each with its initial copies)."""
        return max(1, self.min_instances, self.instances_for({n: m.initial_copies for n, m in self.models.items()}))

    @property
    def instances_at_floor(self) -> int:
        """Instances the copies' floors (min_copies) hold, packed together; at least min_instances."""
        return max(self.min_instances, self.instances_for({n: m.min_copies for n, m in self.models.items()}))

    @property
    def scales_to_zero(self) -> bool:
        return self.min_instances == 0

    def copies_per_instance(self, model: ComponentModelConfig) -> int:
        """How many copies of ``model`` one instance holds on its own (the tightest of CPU, memory and GPUs)."""
        return catalog.copies_per_instance(self.instance_type, model.cpu_cores, model.memory_mb_per_copy,
                                           model.gpus_per_copy)


class StackConfig(_Frozen):
    """Everything one stack (environment) may vary."""

    environment: Environment = Field(
        "dev", description="The tier this stack serves; prod turns on the strict guardrails."
    )
    region: str = Field("us-east-1", description="AWS region of every resource in the stack.")
    allowed_account_ids: tuple[AccountId, ...] = Field(
        description="AWS account ids this stack may touch; the provider refuses any other account."
    )
    cost_center: str = Field("ml-platform", min_length=1, max_length=128,
                             description="Value of the cost-center tag on every resource.")
    tags: dict[TagKey, str] = Field(default_factory=dict, description="Extra tags on every resource.")
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
        None, description="The SageMaker endpoint serving one model; absent until the stack serves a model."
    )
    inference_components: InferenceComponentsConfig | None = Field(
        None, description="A SageMaker endpoint serving several models as inference components, scaling to zero "
                          "where allowed; instead of `endpoint`.",
    )
    gpu_pools: dict[str, GpuPoolConfig] = Field(
        default_factory=dict, description="GPU pools by name (lower-case letters, digits and dashes)."
    )
    ci_runner: CiRunnerConfig | None = Field(
        None, description="CodeBuild-hosted GitHub Actions runners in the VPC for the in-cluster side; required while "
                    "the cluster's API is private (no cluster.public_access_cidrs)."
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
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag_value in value.items():
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
            if self.endpoint.engine == "classic" and self.images.serving is None:
                raise ValueError("images.serving: an endpoint needs the serving image's digest")
            if self.endpoint.engine == "vllm" and self.images.llm is None:
                raise ValueError("images.llm: a vLLM endpoint needs the LLM serving image's digest")
            if self.endpoint.allow_apply and self.environment != "dev":
                raise ValueError("endpoint.allow_apply: only dev may be updated directly; promote by pull request")
            if self.environment == "prod" and self.endpoint.min_instances < 2:
                raise ValueError("endpoint.min_instances: prod needs at least 2 instances (one per AZ)")
            if self.environment == "prod" and self.endpoint.data_capture_percent == 0:
                raise ValueError("endpoint.data_capture_percent: prod must capture traffic for monitoring")
        self._check_components()
        if self.ci_runner is None and not self.cluster.public_access_cidrs:
            # Every workflow sends the stack's in-cluster job to its runner's label; none would answer.
            raise ValueError("ci_runner: required while the cluster's API is private (cluster.public_access_cidrs "
                             "unset): CI runs the in-cluster side on the stack's runner in the VPC, and without "
                             "one those jobs wait forever")
        if self.ci_runner is not None:
            account = self.ci_runner.connection_account()
            if account not in self.allowed_account_ids:
                raise ValueError(f"ci_runner.connection_arn: the connection is in account {account}; the runners "
                                 f"use a connection of the stack's account ({', '.join(self.allowed_account_ids)})")
        if self.storage.force_destroy and self.environment != "dev":
            raise ValueError("storage.force_destroy: allowed only in dev, where data is disposable")
        if self.storage.force_destroy and self.protect_stateful:
            raise ValueError("storage.force_destroy: cannot be true when protect_stateful is true")
        return self

    def _check_components(self) -> None:
        shared = self.inference_components
        if shared is None:
            return
        if self.endpoint is not None:
            raise ValueError("inference_components: the stack's endpoint is either `endpoint` (one model) or "
                             "`inference_components` (several); set one")
        engines = {m.engine for m in shared.models.values()}
        if "classic" in engines and self.images.serving is None:
            raise ValueError("images.serving: a classic model needs the serving image's digest")
        if "vllm" in engines and self.images.llm is None:
            raise ValueError("images.llm: a vLLM model needs the LLM serving image's digest")
        if shared.allow_apply and self.environment != "dev":
            raise ValueError("inference_components.allow_apply: only dev may be updated directly; promote by pull "
                             "request")
        if self.environment == "prod" and shared.min_instances < 2:
            raise ValueError("inference_components.min_instances: prod keeps at least 2 instances (one per AZ) "
                             "and never scales to zero")
        if self.environment == "prod" and shared.data_capture_percent == 0:
            raise ValueError("inference_components.data_capture_percent: prod must capture traffic for monitoring")

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
