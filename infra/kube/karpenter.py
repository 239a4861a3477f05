"""Karpenter's objects for one GPU pool: an EC2NodeClass (how nodes are launched) and a NodePool
(which nodes, how many GPUs at most, and when they may be taken away).

Plain dictionaries in the Kubernetes API's own shape, so the Pulumi program applies them and the
tests check them against Karpenter's CRD schemas. Values may be Pulumi outputs (ids, ARNs) in the
program and plain strings in the tests.

- Nodes run the pinned EKS AL2023 AMI (Karpenter picks its NVIDIA variant for GPU types), require
  IMDSv2 with a hop limit of 1, get no public IP and boot from an encrypted gp3 root volume.
- Every node is tainted ``nvidia.com/gpu``, so only pods that ask for GPUs land there.
- Consolidation only when a node is empty, and nodes never expire: a running job is never moved.
  Empty nodes go after ``EMPTY_AFTER``, so an idle pool costs nothing.
- An EFA pool launches in one AZ (one subnet), so its nodes share a spine for EFA traffic, and its
  nodes run containerd with unlimited locked memory (user data from ``infra.efa``): libfabric pins
  the buffers it registers with the EFA device, and Kubernetes has no ulimit field for the pod.
"""

from __future__ import annotations

from typing import Any

from infra import catalog, efa
from infra.config import GpuPoolConfig

KARPENTER_API = "karpenter.sh/v1"
NODE_CLASS_API = "karpenter.k8s.aws/v1"
GPU_RESOURCE = "nvidia.com/gpu"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
GPU_TAINT = {"key": GPU_RESOURCE, "value": "true", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
"""What GPU pods (and the GPU daemon sets) carry to land on the tainted nodes."""
POOL_LABEL = "hoist.dev/pool"
EFA_LABEL = "hoist.dev/efa"
EMPTY_AFTER = "10m"
CAPACITY_TYPES = {"on-demand": "on-demand", "spot": "spot", "reserved": "reserved"}


def node_class(pool_name: str, pool: GpuPoolConfig, *, node_role: Any, subnet_ids: list[Any],
               security_group_id: Any, kms_key_arn: Any, tags: dict[str, str]) -> dict[str, Any]:
    """The EC2NodeClass of one pool. ``subnet_ids`` are the private subnets of the pool's AZs."""
    spec: dict[str, Any] = {
        "role": node_role,
        "amiSelectorTerms": [{"alias": catalog.GPU_NODE_AMI.value}],
        "subnetSelectorTerms": [{"id": subnet} for subnet in subnet_ids],
        "securityGroupSelectorTerms": [{"id": security_group_id}],
        "associatePublicIPAddress": False,
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                            "httpPutResponseHopLimit": 1, "httpTokens": "required"},
        "blockDeviceMappings": [{
            "deviceName": "/dev/xvda", "rootVolume": True,
            "ebs": {"volumeSize": f"{pool.volume_gb}Gi", "volumeType": "gp3", "encrypted": True,
                    "kmsKeyID": kms_key_arn, "deleteOnTermination": True},
        }],
        "tags": {**tags, POOL_LABEL: pool_name},
    }
    if pool.efa:
        spec["userData"] = efa.node_user_data()
    if pool.capacity_reservation_ids:
        spec["capacityReservationSelectorTerms"] = [{"id": cr} for cr in pool.capacity_reservation_ids]
    return {"apiVersion": NODE_CLASS_API, "kind": "EC2NodeClass", "metadata": {"name": pool_name}, "spec": spec}


def node_pool(pool_name: str, pool: GpuPoolConfig, zones: tuple[str, ...]) -> dict[str, Any]:
    """The NodePool of one pool: its instance types, capacity type, zones, GPU limit and taint."""
    labels = {POOL_LABEL: pool_name}
    if pool.efa:
        labels[EFA_LABEL] = "true"
    requirements = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [CAPACITY_TYPES[pool.capacity_type]]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(zones)},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
    ]
    return {
        "apiVersion": KARPENTER_API,
        "kind": "NodePool",
        "metadata": {"name": pool_name},
        "spec": {
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool_name},
                    "requirements": requirements,
                    "taints": [GPU_TAINT],
                    # Nodes are replaced on drift (a new AMI pin) once idle, never by age mid-run.
                    "expireAfter": "Never",
                },
            },
            "limits": {GPU_RESOURCE: str(pool.max_gpus)},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": EMPTY_AFTER,
                           "budgets": [{"nodes": "10%"}]},
        },
    }
