"""The training namespace's Kubeflow Trainer v2 TrainingRuntime, installed by the Pulumi program.

It holds what every hoist TrainJob shares: the service account bound to the training role, a
non-root security context, ``/dev/shm`` as memory, the do-not-disrupt annotation, and restarts as a
whole (any pod's failure restarts every node, up to ``job_max_restarts`` times; the trainer resumes
from its newest checkpoint). ``node_shape`` is what one training pod asks of a node of a pool; the
jobs that `hoist train eks` submits and the Kueue quotas both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra import catalog
from infra.config import ClusterConfig
from infra.kube.karpenter import EFA_RESOURCE, GPU_RESOURCE

TRAINER_API = "trainer.kubeflow.org/v1alpha1"
RUNTIME_NAME = "hoist-torch"
SERVICE_ACCOUNT = "trainer"
NODE_JOB = "node"
"""The torch runtime's replicated job and container: the Trainer injects PET_* variables into it."""
RUN_AS_USER = 10001
"""The training image's non-root user."""
FSX_MOUNT = "/fsx"
FSX_CLAIM = "fsx"
SHARE_OF_NODE = 0.8
"""The share of a node's CPUs and memory a training pod requests; the rest is for the kubelet, the VM's
overhead and the daemon sets (CNI, device plugins, metrics agents)."""
DO_NOT_DISRUPT = {"karpenter.sh/do-not-disrupt": "true"}


@dataclass(frozen=True)
class NodeShape:
    """What one training pod asks for on a node of the pool."""

    gpus: int
    efa: int
    cpus: int
    memory_gib: int

    def resources(self) -> dict[str, dict[str, str]]:
        requests = {"cpu": str(self.cpus), "memory": f"{self.memory_gib}Gi", GPU_RESOURCE: str(self.gpus)}
        # No CPU limit: throttling stalls data loading; memory and devices are capped at the request.
        limits = {"memory": f"{self.memory_gib}Gi", GPU_RESOURCE: str(self.gpus)}
        if self.efa:
            requests[EFA_RESOURCE] = limits[EFA_RESOURCE] = str(self.efa)
        return {"requests": requests, "limits": limits}


def node_shape(instance_types: Sequence[str], *, efa: bool) -> NodeShape:
    """Every node of a job gets the smallest instance type's GPUs, EFA interfaces, CPUs and memory."""
    facts = [catalog.EC2_INSTANCES[t] for t in instance_types]
    return NodeShape(gpus=min(f.gpus for f in facts), efa=min(f.efa_interfaces for f in facts) if efa else 0,
                     cpus=max(1, int(min(f.vcpus for f in facts) * SHARE_OF_NODE)),
                     memory_gib=max(1, int(min(f.memory_gib for f in facts) * SHARE_OF_NODE)))


def training_runtime(namespace: str, cluster: ClusterConfig, image: Any) -> dict[str, Any]:
    """The TrainingRuntime every hoist TrainJob in ``namespace`` runs on; each job names its image."""
    container = {
        "name": NODE_JOB,
        "image": image,
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],  # noqa: S108 (a mount point, not a file)
    }
    pod = {
        "metadata": {"annotations": dict(DO_NOT_DISRUPT)},
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_USER,
                                "fsGroup": RUN_AS_USER, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
            # NCCL and data loaders share memory through /dev/shm; a memory-backed volume counts
            # against the pod's memory limit, so it needs no size of its own.
            "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
        },
    }
    return {
        "apiVersion": TRAINER_API,
        "kind": "TrainingRuntime",
        "metadata": {"name": RUNTIME_NAME, "namespace": namespace,
                     "labels": {"trainer.kubeflow.org/framework": "torch"}},
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {"spec": {
                # Any failure restarts every node together; the trainer resumes from its checkpoint.
                "failurePolicy": {"maxRestarts": cluster.job_max_restarts},
                "replicatedJobs": [{
                    "name": NODE_JOB, "replicas": 1,
                    "template": {
                        "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                        "spec": {"backoffLimit": 0, "template": pod},
                    },
                }],
            }},
        },
    }
