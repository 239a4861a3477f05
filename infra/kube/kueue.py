"""Kueue's objects in front of the GPU pools: all-or-nothing placement of multi-node jobs.

Kueue admits a job only when its pool's GPU quota (equal to the NodePool's GPU limit) can hold every
node of it, and with ``waitForPodsReady`` it evicts and requeues a job whose pods are not all running
within the admission timeout, releasing every node. ``blockAdmission`` admits one job at a time until
its pods run, so two half-placed jobs can never hold GPUs waiting for each other.
"""

from __future__ import annotations

from typing import Any

from infra.config import ClusterConfig, GpuPoolConfig
from infra.kube.karpenter import EFA_RESOURCE, GPU_RESOURCE, GPU_TOLERATION, POOL_LABEL
from infra.kube.training_runtime import node_shape

KUEUE_API = "kueue.x-k8s.io/v1beta2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
"""The label a job carries to name its pool's LocalQueue."""


def resource_flavor(pool_name: str) -> dict[str, Any]:
    """Kueue's view of a pool: its nodes carry the pool label and the GPU taint."""
    return {"apiVersion": KUEUE_API, "kind": "ResourceFlavor", "metadata": {"name": pool_name},
            "spec": {"nodeLabels": {POOL_LABEL: pool_name},
                     "tolerations": [dict(GPU_TOLERATION)]}}


def cluster_queue(pool_name: str, pool: GpuPoolConfig, namespace: str) -> dict[str, Any]:
    """The pool's quota: exactly the NodePool's GPU limit (and its EFA interfaces), for one namespace."""
    resources = [{"name": GPU_RESOURCE, "nominalQuota": str(pool.max_gpus)}]
    covered = [GPU_RESOURCE]
    if pool.efa:
        shape = node_shape(pool.instance_types, efa=True)
        resources.append({"name": EFA_RESOURCE, "nominalQuota": str(pool.max_gpus // shape.gpus * shape.efa)})
        covered.append(EFA_RESOURCE)
    return {
        "apiVersion": KUEUE_API, "kind": "ClusterQueue", "metadata": {"name": pool_name},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [{"coveredResources": covered,
                                "flavors": [{"name": pool_name, "resources": resources}]}],
        },
    }


def local_queue(pool_name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": KUEUE_API, "kind": "LocalQueue", "metadata": {"name": pool_name, "namespace": namespace},
            "spec": {"clusterQueue": pool_name}}


def kueue_manager_config(cluster: ClusterConfig) -> dict[str, Any]:
    """Kueue's controller configuration: TrainJobs only, all-or-nothing admission, GPUs as the quota."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration",
        "integrations": {"frameworks": ["trainer.kubeflow.org/trainjob"]},
        "waitForPodsReady": {
            "enable": True, "blockAdmission": True, "timeout": f"{cluster.admission_timeout_minutes}m",
            "requeuingStrategy": {"timestamp": "Eviction", "backoffLimitCount": 5, "backoffBaseSeconds": 60},
        },
        # Quota is counted in GPUs and EFA interfaces; a job takes whole nodes, so CPU and memory follow.
        "resources": {"excludeResourcePrefixes": ["cpu", "memory", "ephemeral-storage", "hugepages-"]},
    }
