"""The AWS side's Pulumi program (project ``hoist``): one stack's AWS resources, composed from the
components. The in-cluster side is its own project (``infra/in_cluster/``), fed by the output
``in_cluster`` exported here (``infra/contract.py``).

``infra/__main__.py`` calls ``main()`` under the Pulumi engine; the offline plan calls it under
Pulumi's mock runtime. Both run this same code.
"""

from __future__ import annotations

import functools
import sys

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native
from pulumi.runtime import config as runtime_config

from infra.components.budget import Budget, BudgetArgs
from infra.components.ci_runners import CiRunners, CiRunnersArgs
from infra.components.cluster import GpuCluster, GpuClusterArgs
from infra.components.endpoint import VARIANT, Endpoint, EndpointArgs
from infra.components.inference_components import SharedEndpoint, SharedEndpointArgs, component_name
from infra.components.network import Network, NetworkArgs, subnet_layout
from infra.components.registry import Registry, RegistryArgs, ReplicationDestination, image_by_digest
from infra.components.storage import Storage, StorageArgs
from infra.components.training_access import TrainingAccess, TrainingAccessArgs
from infra.components.training_jobs import TrainingJobs, TrainingJobsArgs
from infra.config import SERVING_IMAGES, StackConfig
from infra.contract import IN_CLUSTER_OUTPUT, TRAINING_NAMESPACE
from infra.stack_files import ConfigError, from_pulumi_config, load_stack

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


def _peer(stack: str, peer: str, key: str) -> tuple[ReplicationDestination, StackConfig]:
    if peer == stack:
        raise ConfigError(f"hoist:registry.{key}: {peer!r} is this stack; name another stack")
    peer_cfg = load_stack(peer)
    if len(peer_cfg.allowed_account_ids) != 1:
        raise ConfigError(f"hoist:registry.{key}: stack {peer!r} allows {len(peer_cfg.allowed_account_ids)} "
                          "accounts; replication needs a stack with exactly one")
    return ReplicationDestination(peer, peer_cfg.allowed_account_ids[0], peer_cfg.region), peer_cfg


def replication_peers(
    stack: str, cfg: StackConfig
) -> tuple[tuple[ReplicationDestination, ...], ReplicationDestination | None]:
    """The stacks this stack's registry replicates to and the one it receives from, read from their
    stack files. Both ends must agree, or the destination would refuse the images."""
    destinations = []
    for name in cfg.registry.replicate_to:
        destination, peer_cfg = _peer(stack, name, "replicate_to")
        if peer_cfg.registry.receive_from != stack:
            raise ConfigError(f"hoist:registry.replicate_to: stack {name!r} does not set "
                              f"hoist:registry.receive_from: {stack}, so its registry would refuse the images")
        if destination.account_id in cfg.allowed_account_ids:
            raise ConfigError(f"hoist:registry.replicate_to: stack {name!r} is in this stack's account; "
                              "give each stack its own account")
        destinations.append(destination)
    source = None
    if cfg.registry.receive_from is not None:
        source, source_cfg = _peer(stack, cfg.registry.receive_from, "receive_from")
        if stack not in source_cfg.registry.replicate_to:
            raise ConfigError(f"hoist:registry.receive_from: stack {source.stack!r} does not list {stack!r} "
                              "in hoist:registry.replicate_to")
    return tuple(destinations), source


def define_stack(cfg: StackConfig) -> None:
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
    replicate_to, receive_from = replication_peers(stack, cfg)
    registry = Registry(name, RegistryArgs(config=cfg.registry, kms_key_arn=storage.key.arn,
                                           force_delete=cfg.storage.force_destroy, account_id=account_id,
                                           region=cfg.region, partition=partition, replicate_to=replicate_to,
                                           receive_from=receive_from), opts=with_provider)
    budget = Budget(name, BudgetArgs(config=cfg.budget, stack_tag=(tag_key, tag_value), kms_key_arn=storage.key.arn,
                                     account_id=account_id), opts=with_provider)
    cluster = GpuCluster(name, GpuClusterArgs(
        config=cfg.cluster, cluster_name=name, kms_key_arn=storage.key.arn,
        private_subnet_ids=[s.id for s in network.private_subnets], account_id=account_id, region=cfg.region,
        partition=partition, tags={**cfg.default_tags, tag_key: tag_value}), opts=with_provider)
    private_subnets = dict(zip(cfg.network.availability_zones, network.private_subnets, strict=True))
    pool_zones = {pool_name: cfg.pool_zones(pool) for pool_name, pool in cfg.gpu_pools.items()}
    # Lustre sits in the AZ of the first EFA pool (its heaviest reader), else in the first AZ.
    fsx_zone = next((zones[0] for pool_name, zones in pool_zones.items() if cfg.gpu_pools[pool_name].efa),
                    cfg.network.availability_zones[0])
    training_image = (registry.repositories["training"].repository_url.apply(
        functools.partial(image_by_digest, digest=cfg.images.training)) if cfg.images.training else None)
    access = TrainingAccess(name, TrainingAccessArgs(
        cluster_name=cluster.cluster.name, namespace=TRAINING_NAMESPACE, buckets=storage.buckets,
        kms_key_arn=storage.key.arn, account_id=account_id, vpc_id=network.vpc.id, fsx=cfg.cluster.fsx,
        fsx_subnet_id=private_subnets[fsx_zone].id,
        private_subnet_cidrs=subnet_layout(cfg.network.cidr, len(cfg.network.availability_zones))[0]),
        opts=pulumi.ResourceOptions(parent=cluster))
    cluster_security_group = cluster.cluster.vpc_config.cluster_security_group_id
    runners = None
    if cfg.ci_runner is not None:
        runners = CiRunners(name, CiRunnersArgs(
            config=cfg.ci_runner, stack=stack, cluster_security_group_id=cluster_security_group, vpc_id=network.vpc.id,
            private_subnet_ids=[s.id for s in network.private_subnets], kms_key_arn=storage.key.arn,
            log_retention_days=cfg.cluster.log_retention_days, account_id=account_id, region=cfg.region,
            partition=partition), opts=with_provider)
    training_jobs = TrainingJobs(name, TrainingJobsArgs(
        buckets=storage.buckets, repository_arn=registry.repositories["training"].arn, kms_key_arn=storage.key.arn,
        vpc_id=network.vpc.id, vpc_cidr=cfg.network.cidr,
        s3_prefix_list_id=network.s3_endpoint.prefix_list_id, account_id=account_id, region=cfg.region,
        partition=partition), opts=with_provider)
    endpoint = None
    serving_digest = cfg.images.serving_digest(cfg.endpoint.engine) if cfg.endpoint else None
    if cfg.endpoint is not None and serving_digest is not None:
        # CloudFormation's endpoint resource can retain variant properties on update; pulumi-aws's cannot.
        native = aws_native.Provider("aws-native", region=cfg.region, allowed_account_ids=list(cfg.allowed_account_ids),
                                     default_tags={"tags": {**cfg.default_tags, tag_key: tag_value}})
        serving = registry.repositories[SERVING_IMAGES[cfg.endpoint.engine]]
        models = storage.buckets["models"]
        endpoint = Endpoint(name, EndpointArgs(
            config=cfg.endpoint, endpoint_name=name, alerts_topic_arn=budget.alerts.arn,
            image_uri=serving.repository_url.apply(functools.partial(image_by_digest, digest=serving_digest)),
            repository_arn=serving.arn, models_bucket=models.bucket, models_bucket_arn=models.arn,
            kms_key_arn=storage.key.arn, vpc_id=network.vpc.id, vpc_cidr=cfg.network.cidr,
            s3_prefix_list_id=network.s3_endpoint.prefix_list_id,
            private_subnet_ids=[s.id for s in network.private_subnets], account_id=account_id, region=cfg.region,
            partition=partition, native_provider=native), opts=with_provider)

    shared = None
    if cfg.inference_components is not None:
        native = aws_native.Provider("aws-native", region=cfg.region, allowed_account_ids=list(cfg.allowed_account_ids),
                                     default_tags={"tags": {**cfg.default_tags, tag_key: tag_value}})
        engines = sorted({m.engine for m in cfg.inference_components.models.values()})
        repositories = {engine: registry.repositories[SERVING_IMAGES[engine]] for engine in engines}
        # The config refuses a model whose engine's image digest is missing.
        digests = {engine: cfg.images.serving_digest(engine) or "" for engine in engines}
        models = storage.buckets["models"]
        shared = SharedEndpoint(name, SharedEndpointArgs(
            config=cfg.inference_components, endpoint_name=name, alerts_topic_arn=budget.alerts.arn,
            image_uris={engine: repo.repository_url.apply(functools.partial(image_by_digest, digest=digests[engine]))
                        for engine, repo in repositories.items()},
            repository_arns=[repo.arn for repo in repositories.values()], models_bucket=models.bucket,
            models_bucket_arn=models.arn, kms_key_arn=storage.key.arn, vpc_id=network.vpc.id,
            vpc_cidr=cfg.network.cidr, s3_prefix_list_id=network.s3_endpoint.prefix_list_id,
            private_subnet_ids=[s.id for s in network.private_subnets], account_id=account_id, region=cfg.region,
            partition=partition, native_provider=native), opts=with_provider)

    pulumi.export("stack", stack)
    pulumi.export("region", cfg.region)
    pulumi.export("account_id", account_id)
    pulumi.export("kms_key_arn", storage.key.arn)
    pulumi.export("vpc_id", network.vpc.id)
    pulumi.export("private_subnet_ids", [s.id for s in network.private_subnets])
    pulumi.export("public_subnet_ids", [s.id for s in network.public_subnets])
    pulumi.export("buckets", {role: {"name": b.bucket, "arn": b.arn} for role, b in storage.buckets.items()})
    pulumi.export("repositories", {part: r.repository_url for part, r in registry.repositories.items()})
    pulumi.export("cluster", {
        "name": cluster.cluster.name, "endpoint": cluster.cluster.endpoint, "namespace": TRAINING_NAMESPACE,
        "kubernetes_version": cfg.cluster.kubernetes_version, "fsx": cfg.cluster.fsx is not None,
        "pools": {pool: {"instance_types": list(p.instance_types), "max_gpus": p.max_gpus, "efa": p.efa,
                         "capacity_type": p.capacity_type} for pool, p in cfg.gpu_pools.items()},
    })
    pulumi.export("kubeconfig", cluster.kubeconfig)
    # The in-cluster project's one input (infra/contract.py); plain values, so reading it needs no
    # secrets provider.
    pulumi.export(IN_CLUSTER_OUTPUT, {
        "cluster_name": cluster.cluster.name, "endpoint": cluster.cluster.endpoint,
        "certificate_authority": cluster.cluster.certificate_authority.apply(lambda ca: ca.data if ca else ""),
        "region": cfg.region, "cluster_security_group_id": cluster_security_group,
        "pool_subnets": {pool_name: [private_subnets[zone].id for zone in zones]
                         for pool_name, zones in pool_zones.items()},
        "karpenter_node_role": cluster.karpenter_node_role.name,
        "interruption_queue": cluster.interruption_queue.name, "kms_key_arn": storage.key.arn,
        "training_image": training_image,
        "fsx": None if access.fsx is None else {"id": access.fsx.id, "dns_name": access.fsx.dns_name,
                                                  "mount_name": access.fsx.mount_name},
    })
    if runners is not None:
        pulumi.export("ci_runners", {kind: project.name for kind, project in runners.projects.items()})
    pulumi.export("training_jobs", {"role_arn": training_jobs.role.arn,
                                    "security_group_id": training_jobs.security_group.id})
    if endpoint is not None:
        pulumi.export("endpoint", {"name": endpoint.endpoint.endpoint_name, "variant": VARIANT})
    if shared is not None and cfg.inference_components is not None:
        pulumi.export("endpoint", {"name": shared.endpoint.endpoint_name, "variant": VARIANT, "components": {
            model: component_name(name, model) for model in cfg.inference_components.models}})
    # The images the stack runs, by digest from its config; jobs and endpoints take them from here.
    pulumi.export("images", {part: pulumi.Output.from_input(registry.repositories[part].repository_url).apply(
        functools.partial(image_by_digest, digest=digest)) for part, digest in cfg.images.digests().items()})


def current_config() -> StackConfig:
    """The stack's config as Pulumi hands it to the program (explicit config over PULUMI_CONFIG)."""
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return from_pulumi_config(values, pulumi.get_stack())


def config_or_exit() -> StackConfig:
    try:
        return current_config()
    except ConfigError as exc:
        # One line for the person reading `pulumi preview`, not a Python traceback.
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def main() -> None:
    define_stack(config_or_exit())
