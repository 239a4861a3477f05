"""The Pulumi program: one stack's resources, composed from the components.

``infra/__main__.py`` calls ``main()`` under the Pulumi engine; the offline plan calls it under
Pulumi's mock runtime. Both run this same code.
"""

from __future__ import annotations

import sys

import pulumi
import pulumi_aws as aws
from pulumi.runtime import config as runtime_config

from infra.components.budget import Budget, BudgetArgs
from infra.components.network import Network, NetworkArgs
from infra.components.registry import Registry, RegistryArgs
from infra.components.storage import Storage, StorageArgs
from infra.config import ConfigError, StackConfig, from_pulumi_config

STATEFUL_TYPES = frozenset({
    "aws:s3/bucket:Bucket",
    "aws:kms/key:Key",
    "aws:ecr/repository:Repository",
})
"""Resources whose deletion loses data. In protected stacks they are protected and retained."""


def protect_stateful(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """Protect and retain every stateful resource, whichever component created it.

    ``retain_on_delete`` is invisible to policy packs, so this transformation is the one place it is
    enforced: a component cannot forget it.
    """
    if args.type_ not in STATEFUL_TYPES:
        return None
    opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(protect=True, retain_on_delete=True))
    return pulumi.ResourceTransformationResult(props=args.props, opts=opts)


def stack_tag() -> tuple[str, str]:
    return ("hoist:stack", pulumi.get_stack())


def build(cfg: StackConfig) -> None:
    """Create every resource of the stack described by ``cfg`` and export its outputs."""
    stack = pulumi.get_stack()
    if cfg.protect_stateful:
        pulumi.runtime.register_stack_transformation(protect_stateful)

    tag_key, tag_value = stack_tag()
    provider = aws.Provider(
        "aws",
        region=cfg.region,
        # The provider refuses to run against any other account: a wrong profile cannot touch prod.
        allowed_account_ids=list(cfg.allowed_account_ids),
        default_tags={"tags": {**cfg.default_tags, tag_key: tag_value}},
    )
    with_provider = pulumi.ResourceOptions(providers={"aws": provider})
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    account_id = aws.get_caller_identity_output(opts=invoke).account_id
    partition = aws.get_partition_output(opts=invoke).partition

    name = f"hoist-{stack}"
    storage = Storage(name, StorageArgs(config=cfg.storage, account_id=account_id, region=cfg.region,
                                        partition=partition), opts=with_provider)
    network = Network(name, NetworkArgs(config=cfg.network, region=cfg.region, account_id=account_id,
                                        kms_key_arn=storage.key.arn, cluster_name=name), opts=with_provider)
    registry = Registry(name, RegistryArgs(config=cfg.registry, kms_key_arn=storage.key.arn,
                                           force_delete=cfg.storage.force_destroy), opts=with_provider)
    Budget(name, BudgetArgs(config=cfg.budget, stack_tag=(tag_key, tag_value)), opts=with_provider)

    pulumi.export("stack", stack)
    pulumi.export("region", cfg.region)
    pulumi.export("account_id", account_id)
    pulumi.export("kms_key_arn", storage.key.arn)
    pulumi.export("vpc_id", network.vpc.id)
    pulumi.export("private_subnet_ids", [s.id for s in network.private_subnets])
    pulumi.export("public_subnet_ids", [s.id for s in network.public_subnets])
    pulumi.export("buckets", {role: {"name": b.bucket, "arn": b.arn} for role, b in storage.buckets.items()})
    pulumi.export("repositories", {part: r.repository_url for part, r in registry.repositories.items()})


def current_config() -> StackConfig:
    """The stack's config as Pulumi hands it to the program (explicit config over PULUMI_CONFIG)."""
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return from_pulumi_config(values, pulumi.get_stack())


def main() -> None:
    try:
        cfg = current_config()
    except ConfigError as exc:
        # One line for the person reading `pulumi preview`, not a Python traceback.
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    build(cfg)
