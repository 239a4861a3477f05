"""The cluster's in-cluster side: Helm releases, Karpenter's GPU pools, Kueue's queues, the training
namespace and its service account, and the FSx for Lustre volume where the stack has one.

Releases (charts pinned in ``catalog.HELM_CHARTS``): Karpenter (its feature gates pinned too), the
NVIDIA device plugin (the EKS AL2023 NVIDIA AMI already carries the driver and container toolkit, so
the GPU operator's driver management would only fight it), the EFA device plugin where a pool has
EFA, Kubeflow Trainer (with JobSet) and Kueue. GPU metrics come from the CloudWatch observability
add-on's own DCGM exporter (see ``cluster.py``), so no second exporter runs.

This is the in-cluster project (``infra/in_cluster/``): Kubernetes objects only. Every AWS resource,
the trainer role and FSx included, is the AWS side's (``infra/components/training_access.py``); what
it needs from there comes in one typed output (``infra/contract.py``).

Teardown order is carried by dependencies, since ``pulumi destroy`` deletes dependents first: the
training namespace (its TrainJobs and pods) goes first, then each NodePool (Karpenter terminates
its nodes), then each EC2NodeClass (its finalizer waits for the last instance), and only then the
Karpenter release. The teardown workflow destroys this project before the AWS side, so Karpenter's
IAM and the cluster outlive every GPU instance. No GPU instance or ENI is left behind.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import catalog
from infra.components.cluster import kubeconfig
from infra.config import ClusterConfig, FsxConfig, GpuPoolConfig
from infra.contract import InClusterInputs
from infra.kube.karpenter import GPU_TOLERATION, node_class, node_pool
from infra.kube.kueue import cluster_queue, kueue_manager_config, local_queue, resource_flavor
from infra.kube.training_runtime import FSX_CLAIM, SERVICE_ACCOUNT, training_runtime

SYSTEM_NODES = {"hoist.dev/role": "system"}


@dataclass(frozen=True, kw_only=True)
class InClusterArgs:
    cluster: ClusterConfig
    contract: pulumi.Output[InClusterInputs]
    """The AWS side's outputs (infra/contract.py), read through a StackReference."""
    pools: dict[str, GpuPoolConfig]
    pool_zones: dict[str, tuple[str, ...]]
    namespace: str
    with_training_image: bool
    """The stack names a training image (its URL by digest comes in the contract)."""
    tags: dict[str, str]


def _subnet(pool_name: str, index: int, contract: InClusterInputs) -> str:
    return contract.pool_subnets[pool_name][index]


def _field(contract: pulumi.Output[InClusterInputs], get: Callable[[InClusterInputs], Any]) -> pulumi.Output[Any]:
    return contract.apply(get)


def _release(name: str, chart_key: str, values: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    # The chart's namespace is the catalog's: the CI preview role reads Helm's Secrets there alone.
    chart = catalog.HELM_CHARTS[chart_key]
    return k8s.helm.v3.Release(
        name, name=chart_key, chart=chart.chart, version=chart.version, namespace=chart.namespace,
        repository_opts={"repo": chart.repository} if chart.repository else None,
        create_namespace=chart.namespace != "kube-system", values=values,
        # A failed upgrade rolls back rather than leaving a half-applied controller.
        atomic=True, cleanup_on_fail=True, opts=opts)


class InCluster(pulumi.ComponentResource):
    provider: k8s.Provider
    karpenter: k8s.helm.v3.Release
    node_classes: dict[str, k8s.apiextensions.CustomResource]
    node_pools: dict[str, k8s.apiextensions.CustomResource]
    namespace: k8s.core.v1.Namespace

    def __init__(self, name: str, args: InClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:in_cluster:InCluster", name, None, opts)
        contract = args.contract
        # The kubeconfig authenticates with the runner's AWS credentials (aws eks get-token), so it holds
        # no secret and is built here from the AWS side's plain outputs.
        config = contract.apply(lambda c: kubeconfig(c.cluster_name, c.endpoint, c.certificate_authority, c.region))
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=config, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self))
        kube = pulumi.ResourceOptions(parent=self, provider=self.provider)

        self.karpenter = _release(f"{name}-karpenter", "karpenter", {
            "settings": {"clusterName": _field(contract, lambda c: c.cluster_name),
                         "clusterEndpoint": _field(contract, lambda c: c.endpoint),
                         "interruptionQueue": _field(contract, lambda c: c.interruption_queue),
                         "featureGates": {gate[0].lower() + gate[1:]: on
                                          for gate, on in catalog.KARPENTER_FEATURE_GATES.items()}},
            "serviceAccount": {"name": "karpenter"},
            "replicas": 2,
            # Karpenter never runs on capacity it manages.
            "nodeSelector": SYSTEM_NODES,
            "dnsPolicy": "Default",
        }, kube)
        gpu_daemon = {"tolerations": [GPU_TOLERATION],
                      "nodeSelector": {"karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia"}}
        device_plugins = [_release(f"{name}-nvidia-device-plugin", "nvidia-device-plugin", gpu_daemon, kube)]
        if any(pool.efa for pool in args.pools.values()):
            device_plugins.append(_release(f"{name}-efa-device-plugin", "aws-efa-k8s-device-plugin",
                                           {"tolerations": [GPU_TOLERATION],
                                            "nodeSelector": {"hoist.dev/efa": "true"}}, kube))
        trainer = _release(f"{name}-kubeflow-trainer", "kubeflow-trainer",
                           {"runtimes": {"defaultEnabled": False}}, kube)
        kueue = _release(f"{name}-kueue", "kueue", {"managerConfig": {
            "controllerManagerConfigYaml": json.dumps(kueue_manager_config(args.cluster))}},
            pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[trainer])))

        self._pools(name, args, kube, kueue, device_plugins)
        self._namespace(name, args, kube, trainer, kueue)
        if args.cluster.fsx:
            self._fsx_volume(name, args, args.cluster.fsx, kube)
        self.register_outputs({"namespace": args.namespace})

    def _pools(self, name: str, args: InClusterArgs, kube: pulumi.ResourceOptions, kueue: k8s.helm.v3.Release,
               device_plugins: list[k8s.helm.v3.Release]) -> None:
        self.node_classes, self.node_pools = {}, {}
        self._queues: list[pulumi.Resource] = []
        contract = args.contract
        for pool_name, pool in args.pools.items():
            nodeclass = node_class(pool_name, pool, node_role=_field(contract, lambda c: c.karpenter_node_role),
                                   subnet_ids=[_field(contract, functools.partial(_subnet, pool_name, index))
                                               for index in range(len(args.pool_zones[pool_name]))],
                                   security_group_id=_field(contract, lambda c: c.cluster_security_group_id),
                                   kms_key_arn=_field(contract, lambda c: c.kms_key_arn), tags=args.tags)
            self.node_classes[pool_name] = _custom(f"{name}-nodeclass-{pool_name}", nodeclass, kube,
                                                   depends_on=[self.karpenter])
            self.node_pools[pool_name] = _custom(
                f"{name}-nodepool-{pool_name}", node_pool(pool_name, pool, args.pool_zones[pool_name]), kube,
                depends_on=[self.karpenter, self.node_classes[pool_name], *device_plugins])
            flavor = _custom(f"{name}-flavor-{pool_name}", resource_flavor(pool_name), kube, depends_on=[kueue])
            queue = _custom(f"{name}-clusterqueue-{pool_name}", cluster_queue(pool_name, pool, args.namespace), kube,
                            depends_on=[kueue, flavor])
            self._queues.append(queue)

    def _namespace(self, name: str, args: InClusterArgs, kube: pulumi.ResourceOptions,
                   trainer: k8s.helm.v3.Release, kueue: k8s.helm.v3.Release) -> None:
        # Created after (so deleted before) the pools and controllers its jobs run on.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-{args.namespace}",
            metadata={"name": args.namespace, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"}},
            opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(
                depends_on=[trainer, kueue, *self.node_pools.values(), *self._queues])))
        in_namespace = pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[self.namespace]))
        # Its Pod Identity association (the trainer role) is the AWS side's, made for this name.
        k8s.core.v1.ServiceAccount(f"{name}-{SERVICE_ACCOUNT}", metadata={
            "name": SERVICE_ACCOUNT, "namespace": args.namespace}, automount_service_account_token=False,
            opts=in_namespace)
        for pool_name in args.pools:
            _custom(f"{name}-localqueue-{pool_name}", local_queue(pool_name, args.namespace), kube,
                    depends_on=[self.namespace, *self._queues])
        image = args.contract.apply(lambda c: c.training_image)
        if args.with_training_image:
            _custom(f"{name}-runtime", training_runtime(args.namespace, args.cluster, image), kube,
                    depends_on=[self.namespace, trainer])

    def _fsx_volume(self, name: str, args: InClusterArgs, fsx: FsxConfig, kube: pulumi.ResourceOptions) -> None:
        filesystem = args.contract.apply(lambda c: c.fsx)
        volume = k8s.core.v1.PersistentVolume(f"{name}-fsx", metadata={"name": f"{args.namespace}-fsx"}, spec={
            "capacity": {"storage": f"{fsx.storage_gib}Gi"}, "volumeMode": "Filesystem",
            "accessModes": ["ReadWriteMany"], "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
            "csi": {"driver": "fsx.csi.aws.com", "volumeHandle": filesystem.apply(lambda f: f.id if f else ""),
                    "volumeAttributes": {"dnsname": filesystem.apply(lambda f: f.dns_name if f else ""),
                                         "mountname": filesystem.apply(lambda f: f.mount_name if f else "")}}},
            opts=kube)
        k8s.core.v1.PersistentVolumeClaim(f"{name}-fsx", metadata={"name": FSX_CLAIM, "namespace": args.namespace},
                                          spec={"accessModes": ["ReadWriteMany"], "storageClassName": "",
                                                "volumeName": volume.metadata["name"],
                                                "resources": {"requests": {"storage": f"{fsx.storage_gib}Gi"}}},
                                          opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(
                                              depends_on=[self.namespace])))


def _custom(name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions,
            depends_on: list[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
    """A custom resource from an object built by infra.karpenter or infra.trainjob."""
    return k8s.apiextensions.CustomResource(
        name, api_version=obj["apiVersion"], kind=obj["kind"], metadata=obj["metadata"], spec=obj["spec"],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=depends_on)))
