"""The cluster's in-cluster side: Helm releases, Karpenter's GPU pools, Kueue's queues, the training
namespace and its role, and optional FSx for Lustre.

Releases (charts pinned in ``catalog.HELM_CHARTS``): Karpenter (its feature gates pinned too), the
NVIDIA device plugin (the EKS AL2023 NVIDIA AMI already carries the driver and container toolkit, so
the GPU operator's driver management would only fight it), the EFA device plugin where a pool has
EFA, Kubeflow Trainer (with JobSet) and Kueue. GPU metrics come from the CloudWatch observability
add-on's own DCGM exporter (see ``cluster.py``), so no second exporter runs.

Teardown order is carried by dependencies, since ``pulumi destroy`` deletes dependents first: the
training namespace (its TrainJobs and pods) goes first, then each NodePool (Karpenter terminates
its nodes), then each EC2NodeClass (its finalizer waits for the last instance), and only then the
Karpenter release, its IAM and the cluster. No GPU instance or ENI is left behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import catalog
from infra.components.iam import document, pod_identity_trust, training_data_access
from infra.config import ClusterConfig, FsxConfig, GpuPoolConfig
from infra.kube.karpenter import GPU_TOLERATION, node_class, node_pool
from infra.kube.kueue import cluster_queue, kueue_manager_config, local_queue, resource_flavor
from infra.kube.training_runtime import FSX_CLAIM, SERVICE_ACCOUNT, training_runtime

LUSTRE_PORTS = ((988, 988), (1018, 1023))
SYSTEM_NODES = {"hoist.dev/role": "system"}


@dataclass(frozen=True, kw_only=True)
class InClusterArgs:
    cluster: ClusterConfig
    cluster_name: pulumi.Input[str]
    cluster_endpoint: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    kubeconfig: pulumi.Input[str]
    pools: dict[str, GpuPoolConfig]
    pool_subnets: dict[str, list[pulumi.Input[str]]]
    """Private subnet ids each pool may launch into (one for an EFA pool)."""
    pool_zones: dict[str, tuple[str, ...]]
    karpenter_node_role: pulumi.Input[str]
    interruption_queue: pulumi.Input[str]
    karpenter_ready: list[pulumi.Resource]
    """What the controller needs first: nodes to run on, its Pod Identity association and policy."""
    namespace: str
    training_image: pulumi.Input[str] | None
    buckets: dict[str, aws.s3.Bucket]
    kms_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    fsx_subnet_id: pulumi.Input[str]
    private_subnet_cidrs: list[str]
    tags: dict[str, str]


def _release(name: str, chart_key: str, namespace: str, values: dict[str, Any],
             opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    chart = catalog.HELM_CHARTS[chart_key]
    return k8s.helm.v3.Release(
        name, name=chart_key, chart=chart.chart, version=chart.version, namespace=namespace,
        repository_opts={"repo": chart.repository} if chart.repository else None,
        create_namespace=namespace != "kube-system", values=values,
        # A failed upgrade rolls back rather than leaving a half-applied controller.
        atomic=True, cleanup_on_fail=True, opts=opts)


class InCluster(pulumi.ComponentResource):
    provider: k8s.Provider
    karpenter: k8s.helm.v3.Release
    node_classes: dict[str, k8s.apiextensions.CustomResource]
    node_pools: dict[str, k8s.apiextensions.CustomResource]
    namespace: k8s.core.v1.Namespace
    training_role: aws.iam.Role
    fsx: aws.fsx.LustreFileSystem | None

    def __init__(self, name: str, args: InClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # The token was hoist:cluster:InCluster before the component had its own module; the alias keeps
        # deployed stacks (and every child URN) from being replaced by the rename.
        renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="hoist:cluster:InCluster")])
        opts = pulumi.ResourceOptions.merge(opts, renamed)
        super().__init__("hoist:in_cluster:InCluster", name, None, opts)
        aws_child = pulumi.ResourceOptions(parent=self)
        # The kubeconfig authenticates with the deployer's AWS credentials (aws eks get-token).
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=args.kubeconfig, enable_server_side_apply=True,
                                     opts=aws_child)
        kube = pulumi.ResourceOptions(parent=self, provider=self.provider)

        self.karpenter = _release(f"{name}-karpenter", "karpenter", "kube-system", {
            "settings": {"clusterName": args.cluster_name, "clusterEndpoint": args.cluster_endpoint,
                         "interruptionQueue": args.interruption_queue,
                         "featureGates": {gate[0].lower() + gate[1:]: on
                                          for gate, on in catalog.KARPENTER_FEATURE_GATES.items()}},
            "serviceAccount": {"name": "karpenter"},
            "replicas": 2,
            # Karpenter never runs on capacity it manages.
            "nodeSelector": SYSTEM_NODES,
            "dnsPolicy": "Default",
        }, pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=args.karpenter_ready)))
        gpu_daemon = {"tolerations": [GPU_TOLERATION],
                      "nodeSelector": {"karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia"}}
        device_plugins = [_release(f"{name}-nvidia-device-plugin", "nvidia-device-plugin", "kube-system",
                                   gpu_daemon, kube)]
        if any(pool.efa for pool in args.pools.values()):
            device_plugins.append(_release(f"{name}-efa-device-plugin", "aws-efa-k8s-device-plugin", "kube-system",
                                           {"tolerations": [GPU_TOLERATION],
                                            "nodeSelector": {"hoist.dev/efa": "true"}}, kube))
        trainer = _release(f"{name}-kubeflow-trainer", "kubeflow-trainer", "kubeflow-system",
                           {"runtimes": {"defaultEnabled": False}}, kube)
        kueue = _release(f"{name}-kueue", "kueue", "kueue-system", {"managerConfig": {
            "controllerManagerConfigYaml": json.dumps(kueue_manager_config(args.cluster))}},
            pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[trainer])))

        self._pools(name, args, kube, kueue, device_plugins)
        self._namespace(name, args, aws_child, kube, trainer, kueue)
        self.fsx = self._fsx(name, args, args.cluster.fsx, aws_child, kube) if args.cluster.fsx else None
        self.register_outputs({"namespace": args.namespace})

    def _pools(self, name: str, args: InClusterArgs, kube: pulumi.ResourceOptions, kueue: k8s.helm.v3.Release,
               device_plugins: list[k8s.helm.v3.Release]) -> None:
        self.node_classes, self.node_pools = {}, {}
        self._queues: list[pulumi.Resource] = []
        for pool_name, pool in args.pools.items():
            nodeclass = node_class(pool_name, pool, node_role=args.karpenter_node_role,
                                   subnet_ids=args.pool_subnets[pool_name],
                                   security_group_id=args.cluster_security_group_id,
                                   kms_key_arn=args.kms_key_arn, tags=args.tags)
            self.node_classes[pool_name] = _custom(f"{name}-nodeclass-{pool_name}", nodeclass, kube,
                                                   depends_on=[self.karpenter])
            self.node_pools[pool_name] = _custom(
                f"{name}-nodepool-{pool_name}", node_pool(pool_name, pool, args.pool_zones[pool_name]), kube,
                depends_on=[self.karpenter, self.node_classes[pool_name], *device_plugins])
            flavor = _custom(f"{name}-flavor-{pool_name}", resource_flavor(pool_name), kube, depends_on=[kueue])
            queue = _custom(f"{name}-clusterqueue-{pool_name}", cluster_queue(pool_name, pool, args.namespace), kube,
                            depends_on=[kueue, flavor])
            self._queues.append(queue)

    def _namespace(self, name: str, args: InClusterArgs, aws_child: pulumi.ResourceOptions,
                   kube: pulumi.ResourceOptions, trainer: k8s.helm.v3.Release, kueue: k8s.helm.v3.Release) -> None:
        # Created after (so deleted before) the pools and controllers its jobs run on.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-{args.namespace}",
            metadata={"name": args.namespace, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"}},
            opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(
                depends_on=[trainer, kueue, *self.node_pools.values(), *self._queues])))
        in_namespace = pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[self.namespace]))
        k8s.core.v1.ServiceAccount(f"{name}-{SERVICE_ACCOUNT}", metadata={
            "name": SERVICE_ACCOUNT, "namespace": args.namespace}, automount_service_account_token=False,
            opts=in_namespace)
        for pool_name in args.pools:
            _custom(f"{name}-localqueue-{pool_name}", local_queue(pool_name, args.namespace), kube,
                    depends_on=[self.namespace, *self._queues])
        if args.training_image is not None:
            _custom(f"{name}-runtime", training_runtime(args.namespace, args.cluster, args.training_image), kube,
                    depends_on=[self.namespace, trainer])

        self.training_role = aws.iam.Role(f"{name}-trainer", assume_role_policy=pod_identity_trust(args.account_id),
                                          opts=aws_child)
        aws.iam.RolePolicy(f"{name}-trainer", role=self.training_role.id,
                           policy=document(*training_data_access(args.buckets, args.kms_key_arn)), opts=aws_child)
        aws.eks.PodIdentityAssociation(f"{name}-trainer", cluster_name=args.cluster_name, namespace=args.namespace,
                                       service_account=SERVICE_ACCOUNT, role_arn=self.training_role.arn,
                                       opts=aws_child)

    def _fsx(self, name: str, args: InClusterArgs, fsx: FsxConfig, aws_child: pulumi.ResourceOptions,
             kube: pulumi.ResourceOptions) -> aws.fsx.LustreFileSystem:
        ingress: list[aws.ec2.SecurityGroupIngressArgsDict] = [
            {"protocol": "tcp", "from_port": low, "to_port": high, "cidr_blocks": args.private_subnet_cidrs,
             "description": "Lustre from the private subnets"} for low, high in LUSTRE_PORTS]
        ingress += [{"protocol": "tcp", "from_port": low, "to_port": high, "self": True,
                     "description": "Lustre servers to each other"} for low, high in LUSTRE_PORTS]
        group = aws.ec2.SecurityGroup(
            f"{name}-fsx", description="FSx for Lustre: the Lustre ports from the private subnets only",
            vpc_id=args.vpc_id, ingress=ingress,
            egress=[{"protocol": "tcp", "from_port": low, "to_port": high, "cidr_blocks": args.private_subnet_cidrs,
                     "description": "Lustre to the private subnets"} for low, high in LUSTRE_PORTS],
            opts=aws_child)
        filesystem = aws.fsx.LustreFileSystem(
            f"{name}-fsx", deployment_type="PERSISTENT_2", storage_capacity=fsx.storage_gib,
            per_unit_storage_throughput=fsx.throughput_mb_s_per_tib, subnet_ids=args.fsx_subnet_id,
            security_group_ids=[group.id], kms_key_id=args.kms_key_arn, data_compression_type="LZ4",
            file_system_type_version="2.15", opts=aws_child)
        datasets = args.buckets["datasets"]
        aws.fsx.DataRepositoryAssociation(
            f"{name}-fsx-datasets", file_system_id=filesystem.id, file_system_path="/datasets",
            data_repository_path=pulumi.Output.format("s3://{0}/{1}", datasets.bucket, fsx.import_prefix),
            batch_import_meta_data_on_create=True,
            # Datasets flow in from S3 only; nothing written on Lustre is exported back.
            s3={"auto_import_policy": {"events": ["NEW", "CHANGED", "DELETED"]}}, opts=aws_child)
        volume = k8s.core.v1.PersistentVolume(f"{name}-fsx", metadata={"name": f"{args.namespace}-fsx"}, spec={
            "capacity": {"storage": f"{fsx.storage_gib}Gi"}, "volumeMode": "Filesystem",
            "accessModes": ["ReadWriteMany"], "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
            "csi": {"driver": "fsx.csi.aws.com", "volumeHandle": filesystem.id, "volumeAttributes": {
                "dnsname": filesystem.dns_name, "mountname": filesystem.mount_name}}}, opts=kube)
        k8s.core.v1.PersistentVolumeClaim(f"{name}-fsx", metadata={"name": FSX_CLAIM, "namespace": args.namespace},
                                          spec={"accessModes": ["ReadWriteMany"], "storageClassName": "",
                                                "volumeName": volume.metadata["name"],
                                                "resources": {"requests": {"storage": f"{fsx.storage_gib}Gi"}}},
                                          opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(
                                              depends_on=[self.namespace])))
        return filesystem


def _custom(name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions,
            depends_on: list[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
    """A custom resource from an object built by infra.karpenter or infra.trainjob."""
    return k8s.apiextensions.CustomResource(
        name, api_version=obj["apiVersion"], kind=obj["kind"], metadata=obj["metadata"], spec=obj["spec"],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=depends_on)))
