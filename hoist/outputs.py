"""StackOutputs: what the `hoist` CLI knows about a deployed (or planned) stack.

The program exports exactly these keys. The CLI fills the model from
``pulumi stack output --json --show-secrets``, from a file (``--outputs FILE``), or from the offline
plan for dry runs (``--offline``); it never learns about a deployed stack any other way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.stack_files import PROJECT_ROOT, ConfigError


class BucketOutput(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    arn: str


class EndpointOutput(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    variant: str
    components: dict[str, str] = Field(
        default_factory=dict, description="Inference component names by model, when the endpoint serves several.")


class PoolOutput(BaseModel):
    model_config = ConfigDict(frozen=True)
    instance_types: list[str]
    max_gpus: int
    efa: bool
    capacity_type: str


class ClusterOutput(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    endpoint: str
    namespace: str
    pools: dict[str, PoolOutput]
    kubernetes_version: str | None = None
    fsx: bool = False
    """Whether the training namespace has the FSx for Lustre claim (datasets at /fsx)."""


class TrainingJobsOutput(BaseModel):
    model_config = ConfigDict(frozen=True)
    role_arn: str
    security_group_id: str


class StackOutputs(BaseModel):
    """The contract between `infra/__main__.py` (pulumi.export) and the `hoist` CLI."""

    # Outputs added by later components are ignored by older CLIs rather than rejected.
    model_config = ConfigDict(frozen=True, extra="ignore")

    stack: str = Field(description="Stack name.")
    region: str = Field(description="AWS region.")
    account_id: str = Field(description="AWS account the stack is deployed in.")
    kms_key_arn: str = Field(description="The stack's customer-managed KMS key.")
    vpc_id: str
    private_subnet_ids: list[str]
    public_subnet_ids: list[str]
    buckets: dict[str, BucketOutput] = Field(description="datasets, checkpoints, models, access-logs.")
    repositories: dict[str, str] = Field(description="ECR repository URLs by part (training, serving).")
    cluster: ClusterOutput | None = Field(None, description="The EKS training cluster and its GPU pools.")
    kubeconfig: str | None = Field(None, description="Kubeconfig (JSON) using `aws eks get-token`; secret.")
    training_jobs: TrainingJobsOutput | None = Field(None, description="Role and security group of SageMaker jobs.")
    endpoint: EndpointOutput | None = Field(None, description="The SageMaker endpoint, when the stack serves one.")
    images: dict[str, str] = Field(default_factory=dict,
                                   description="Images the stack runs by part, as repository@sha256:digest.")

    def bucket_uri(self, role: str, prefix: str = "") -> str:
        return f"s3://{self.buckets[role].name}/{prefix}"


def from_mapping(values: dict[str, Any], source: str) -> StackOutputs:
    try:
        return StackOutputs.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{source}: stack output {key!r}: {first['msg']}") from None


def from_file(path: Path) -> StackOutputs:
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such outputs file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    return from_mapping(values, str(path))


def from_pulumi(stack: str, cwd: Path) -> StackOutputs:
    """Read a deployed stack's outputs through the Pulumi CLI."""
    pulumi_cli = shutil.which("pulumi")
    if pulumi_cli is None:
        raise ConfigError("the Pulumi CLI is not installed; pass --outputs FILE or install it "
                          "(https://www.pulumi.com/docs/install/)")
    result = subprocess.run(
        [pulumi_cli, "stack", "output", "--json", "--show-secrets", "--stack", stack],
        cwd=cwd, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"pulumi stack output --stack {stack} failed: {last}")
    return from_mapping(json.loads(result.stdout), f"pulumi stack output --stack {stack}")


def load(stack: str, *, outputs_file: str | None = None, offline: bool = False) -> StackOutputs:
    """A stack's outputs: from ``outputs_file``, from the offline plan (``offline``), or from Pulumi."""
    if outputs_file:
        return from_file(Path(outputs_file))
    if offline:
        return offline_outputs(stack)
    return from_pulumi(stack, PROJECT_ROOT)


def offline_outputs(stack: str) -> StackOutputs:
    """What the offline plan says the stack would export: names for dry runs, where nothing is sent."""
    from hoist.plan import recording  # the Pulumi runtime is imported only when a plan is made

    return from_mapping(recording.record(stack).outputs, f"offline plan of {stack}")
