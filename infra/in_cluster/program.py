"""The in-cluster side's Pulumi program (project ``hoist-in-cluster``): Kubernetes objects only.

It reads the same stack file as the AWS side (the ``hoist:`` namespace, shared through
``stackConfigDir``) and the AWS side's output ``in_cluster`` through a StackReference to the stack of
the same name in project ``hoist``. ``hoist plan`` runs it under mocks after the AWS side, with that
output taken from the AWS side's recording.
"""

from __future__ import annotations

import pulumi

from infra.components.in_cluster import InCluster, InClusterArgs
from infra.config import StackConfig
from infra.contract import IN_CLUSTER_OUTPUT, TRAINING_NAMESPACE, ContractError, InClusterInputs, aws_stack_name
from infra.program import config_or_exit, stack_tag


def contract_or_fail(value: object) -> InClusterInputs:
    """The AWS side's output as the contract. A mismatch is one line: Pulumi prints a RunError's message
    alone, where any other exception in an apply comes with its traceback."""
    try:
        return InClusterInputs.parse(value)
    except ContractError as error:
        raise pulumi.RunError(str(error)) from None


def define_stack(cfg: StackConfig) -> None:
    stack = pulumi.get_stack()
    aws_side = pulumi.StackReference(aws_stack_name(pulumi.get_organization(), stack))
    # get_output, not require_output: a missing output reaches parse, whose message says to apply the
    # AWS side first, instead of require_output's own error.
    contract = aws_side.get_output(IN_CLUSTER_OUTPUT).apply(contract_or_fail)
    tag_key, tag_value = stack_tag()
    cluster = InCluster(f"hoist-{stack}", InClusterArgs(
        cluster=cfg.cluster, contract=contract, pools=dict(cfg.gpu_pools),
        pool_zones={pool_name: cfg.pool_zones(pool) for pool_name, pool in cfg.gpu_pools.items()},
        namespace=TRAINING_NAMESPACE, with_training_image=cfg.images.training is not None,
        # Karpenter tags what it launches itself, outside the AWS side's default tags.
        tags={**cfg.default_tags, tag_key: tag_value}))
    pulumi.export("namespace", TRAINING_NAMESPACE)
    pulumi.export("node_pools", sorted(cluster.node_pools))


def main() -> None:
    define_stack(config_or_exit())
