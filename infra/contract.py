"""What the AWS side hands the in-cluster side: one stack output, typed once.

The stack's resources live in two Pulumi projects that share the stack files in ``stacks/``: the AWS
side (``hoist``, root ``Pulumi.yaml``) and the in-cluster side (``hoist-in-cluster``,
``infra/in_cluster/Pulumi.yaml``), which needs the cluster's API and so runs where it can reach it.
The AWS side exports ``IN_CLUSTER_OUTPUT`` as this model; the in-cluster side reads it through a
StackReference and validates it, so a mismatch between the two fails with the field's name.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

AWS_PROJECT = "hoist"
IN_CLUSTER_PROJECT = "hoist-in-cluster"
IN_CLUSTER_OUTPUT = "in_cluster"
TRAINING_NAMESPACE = "training"


class ContractError(ValueError):
    """The AWS side's output does not match what this in-cluster side expects."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FsxOutputs(_Frozen):
    id: str = Field(min_length=1)
    dns_name: str = Field(min_length=1)
    mount_name: str = Field(min_length=1)


class InClusterInputs(_Frozen):
    """Everything the in-cluster side takes from the AWS side; pools, zones and versions it reads from
    the shared stack file itself."""

    cluster_name: str = Field(min_length=1)
    endpoint: str = Field(pattern=r"^https://")
    certificate_authority: str = Field(min_length=1)
    region: str = Field(min_length=1)
    cluster_security_group_id: str = Field(pattern=r"^sg-")
    pool_subnets: dict[str, list[str]]
    """Private subnet ids each GPU pool may launch into (one for an EFA pool)."""
    karpenter_node_role: str = Field(min_length=1)
    interruption_queue: str = Field(min_length=1)
    kms_key_arn: str = Field(pattern=r"^arn:")
    training_image: str | None = None
    fsx: FsxOutputs | None = None
    """Absent where the stack has no FSx (Pulumi drops null members of an output)."""

    @classmethod
    def parse(cls, value: Any) -> InClusterInputs:
        """The contract from the AWS stack's output, or one line naming what is wrong."""
        if not isinstance(value, dict):
            raise ContractError(f"stack output {IN_CLUSTER_OUTPUT!r} of project {AWS_PROJECT!r} is missing; "
                                "apply the AWS side first (pulumi up in the repository root)")
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ContractError(f"stack output {IN_CLUSTER_OUTPUT}.{where}: {first['msg']}; re-apply the AWS side "
                                "from the same commit") from None


def aws_stack_name(organization: str, stack: str) -> str:
    """The fully qualified name of the AWS side's stack that a StackReference reads."""
    return f"{organization}/{AWS_PROJECT}/{stack}"
