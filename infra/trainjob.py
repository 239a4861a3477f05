"""Distributed training on the cluster: Kubeflow Trainer v2 objects and the Kueue queues in front of them.

- ``training_runtime``: the namespace's TrainingRuntime (torch), installed by the Pulumi program. It
  holds what every job shares: the service account bound to the training role, a non-root security
  context, ``/dev/shm`` as memory, the do-not-disrupt annotation, and restarts as a whole (any pod's
  failure restarts every node, up to ``max_restarts`` times; the trainer resumes from its newest
  checkpoint).
- ``train_job``: one TrainJob built by ``hoist train --backend eks``: the image by digest, one pod per
  node with every GPU (and EFA interface) of the pool's instance type, the pool's node selector and
  toleration, the bucket URIs, a deadline, and the pool's Kueue queue.
- All-or-nothing placement: Kueue admits a job only when its pool's GPU quota (equal to the
  NodePool's GPU limit) can hold every node of it, and with ``waitForPodsReady`` it evicts and
  requeues a job whose pods are not all running within the admission timeout, releasing every node.
  ``blockAdmission`` admits one job at a time until its pods run, so two half-placed jobs can never
  hold GPUs waiting for each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra import catalog
from infra.config import ClusterConfig, ConfigError, GpuPoolConfig
from infra.karpenter import EFA_RESOURCE, GPU_RESOURCE, GPU_TOLERATION, POOL_LABEL

TRAINER_API = "trainer.kubeflow.org/v1alpha1"
KUEUE_API = "kueue.x-k8s.io/v1beta2"
RUNTIME_NAME = "hoist-torch"
SERVICE_ACCOUNT = "trainer"
NODE_JOB = "node"
"""The torch runtime's replicated job and container: the Trainer injects PET_* variables into it."""
RUN_AS_USER = 10001
"""The training image's non-root user."""
FSX_MOUNT = "/fsx"
FSX_CLAIM = "fsx"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
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


def node_shape(pool: GpuPoolConfig, *, efa: bool) -> NodeShape:
    """Every node of a job gets the smallest instance type's GPUs, EFA interfaces, CPUs and memory."""
    facts = [catalog.EC2_INSTANCES[t] for t in pool.instance_types]
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


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    """What `hoist train --backend eks` was asked for, checked against the stack."""

    name: str
    pool_name: str
    nodes: int
    efa: bool | None
    recipe: str
    data: str | None = None
    """A prefix of the datasets bucket holding token shards (read through /fsx where the stack has FSx);
    None keeps the recipe's own data."""
    overrides: tuple[str, ...] = ()


def job_request(pools: dict[str, GpuPoolConfig], request: JobRequest) -> NodeShape:
    """The node shape of a request on its pool; a ConfigError names what is wrong and what is allowed."""
    pool = pools.get(request.pool_name)
    if pool is None:
        allowed = ", ".join(sorted(pools)) or "none (the stack has no gpu_pools)"
        raise ConfigError(f"--pool {request.pool_name!r}: no such GPU pool; allowed: {allowed}")
    if request.efa and not pool.efa:
        efa_pools = ", ".join(sorted(n for n, p in pools.items() if p.efa)) or "none"
        raise ConfigError(f"--efa: pool {request.pool_name!r} has no EFA; pools with EFA: {efa_pools}")
    shape = node_shape(pool, efa=pool.efa if request.efa is None else request.efa)
    max_nodes = pool.max_gpus // shape.gpus
    if not 1 <= request.nodes <= max_nodes:
        raise ConfigError(f"--nodes {request.nodes}: pool {request.pool_name!r} holds at most {pool.max_gpus} "
                          f"GPUs, {shape.gpus} per node, so 1 to {max_nodes} nodes")
    if request.data is not None and (not re.fullmatch(r"[\w.-]+(/[\w.-]+)*/", request.data)
                                     or {".", ".."} & set(request.data.split("/"))):
        raise ConfigError(f"--data {request.data!r}: a prefix of the datasets bucket, like prepared/corpus-v1/")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", request.name):
        raise ConfigError(f"--name {request.name!r}: 1-63 lower-case letters, digits and dashes")
    return shape


def train_job(request: JobRequest, shape: NodeShape, *, namespace: str, image: str, buckets: dict[str, str],
              cluster: ClusterConfig, stack: str) -> dict[str, Any]:
    """The TrainJob for ``request``. ``buckets`` maps datasets/checkpoints/models to bucket names."""
    prefix = f"eks/{request.name}/"
    args = ["--recipe", request.recipe,
            "--set", f"checkpoint_uri=s3://{buckets['checkpoints']}/{prefix}",
            "--set", f"export_uri=s3://{buckets['models']}/{prefix}",
            "--set", f"output_dir=/tmp/{request.name}"]
    if request.data is not None:
        source = f"{FSX_MOUNT}/datasets/" if cluster.fsx is not None else f"s3://{buckets['datasets']}/"
        args += ["--set", f"data={source}{request.data}"]
    for override in request.overrides:
        args += ["--set", override]
    pod_spec: dict[str, Any] = {
        "nodeSelector": {POOL_LABEL: request.pool_name},
        "tolerations": [dict(GPU_TOLERATION)],
    }
    if cluster.fsx is not None:
        pod_spec["volumes"] = [{"name": FSX_CLAIM, "persistentVolumeClaim": {"claimName": FSX_CLAIM}}]
        pod_spec["containers"] = [{"name": NODE_JOB,
                                   "volumeMounts": [{"name": FSX_CLAIM, "mountPath": FSX_MOUNT, "readOnly": True}]}]
    return {
        "apiVersion": TRAINER_API,
        "kind": "TrainJob",
        "metadata": {"name": request.name, "namespace": namespace,
                     "labels": {QUEUE_LABEL: request.pool_name, "hoist.dev/stack": stack}},
        "spec": {
            "runtimeRef": {"name": RUNTIME_NAME, "kind": "TrainingRuntime", "apiGroup": "trainer.kubeflow.org"},
            "activeDeadlineSeconds": int(cluster.job_deadline_hours * 3600),
            "trainer": {
                "image": image,
                "command": ["python", "-m", "training.launch"],
                "args": args,
                "numNodes": request.nodes,
                "numProcPerNode": shape.gpus,
                "resourcesPerNode": shape.resources(),
            },
            "runtimePatches": [{
                "manager": "hoist.dev/cli",
                "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{
                    "name": NODE_JOB, "template": {"spec": {"template": {"spec": pod_spec}}},
                }]}}},
            }],
        },
    }


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
        shape = node_shape(pool, efa=True)
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
