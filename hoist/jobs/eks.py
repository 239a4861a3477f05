"""`hoist train eks`: a TrainJob on one GPU pool of a stack's cluster, checked, submitted with the
kubernetes client, and followed (`hoist train status|logs`).

The pool comes from the stack's outputs (what is deployed), not from its file: an unapplied edit
cannot shape a job for a pool the cluster lacks. Every node gets all the GPUs (and EFA interfaces)
of the pool's smallest instance type, the pool's node selector and toleration, the stack's bucket
URIs, a deadline, and the pool's Kueue queue. Before anything is sent the trainer's settings are
checked by ``training.config``, the TrainJob by the Trainer's API models, and the pod each node will
run by the Kubernetes schema of the cluster's version; a mistake is one line naming what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config

from hoist.jobs.api_checks import kubernetes_errors, node_pod, trainer_api_errors
from hoist.jobs.inputs import JobInputs
from hoist.outputs import ClusterOutput, PoolOutput, StackOutputs
from infra import efa
from infra.config import StackConfig
from infra.kube.karpenter import GPU_TOLERATION, POOL_LABEL
from infra.kube.kueue import QUEUE_LABEL
from infra.kube.training_runtime import (
    FSX_CLAIM,
    FSX_MOUNT,
    NODE_JOB,
    RUNTIME_NAME,
    TRAINER_API,
    NodeShape,
    node_shape,
    training_runtime,
)
from infra.stack_files import ConfigError
from training.config import TrainConfigError, as_arguments

LAUNCH = ("python", "-m", "training.launch")
GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
NAME = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"


@dataclass(frozen=True, kw_only=True)
class TrainJobRequest:
    """What `hoist train eks` was asked for, before it is checked against the stack."""

    name: str
    pool: str
    nodes: int
    efa: bool | None
    """None: EFA when the pool has it."""
    recipe: str
    inputs: JobInputs = field(default_factory=JobInputs)
    """Shards (read through /fsx where the stack has FSx) and the base checkpoint to fine-tune."""
    overrides: tuple[str, ...] = ()


def cluster_of(outputs: StackOutputs) -> ClusterOutput:
    if outputs.cluster is None:
        raise ConfigError(f"stack {outputs.stack} exports no cluster; run `pulumi up` first")
    return outputs.cluster


def deployed_pool(cfg: StackConfig, outputs: StackOutputs, name: str) -> PoolOutput:
    """The deployed pool ``name``; a pool only the stack file names is refused until it is applied."""
    pools = cluster_of(outputs).pools
    if name in pools:
        return pools[name]
    if name in cfg.gpu_pools:
        raise ConfigError(f"--pool {name!r}: in stacks/Pulumi.{outputs.stack}.yaml but not in the deployed "
                          f"stack's outputs; run `pulumi up` for {outputs.stack} first")
    allowed = ", ".join(sorted(pools)) or "none (the stack has no gpu_pools)"
    raise ConfigError(f"--pool {name!r}: no such GPU pool; allowed: {allowed}")


def node_shape_of(request: TrainJobRequest, pool: PoolOutput, pools: dict[str, PoolOutput]) -> NodeShape:
    """The node shape of a request on its pool; a ConfigError names what is wrong and what is allowed."""
    if request.efa and not pool.efa:
        efa_pools = ", ".join(sorted(n for n, p in pools.items() if p.efa)) or "none"
        raise ConfigError(f"--efa: pool {request.pool!r} has no EFA; pools with EFA: {efa_pools}")
    shape = node_shape(pool.instance_types, efa=pool.efa if request.efa is None else request.efa)
    max_nodes = pool.max_gpus // shape.gpus
    if not 1 <= request.nodes <= max_nodes:
        raise ConfigError(f"--nodes {request.nodes}: pool {request.pool!r} holds at most {pool.max_gpus} "
                          f"GPUs, {shape.gpus} per node, so 1 to {max_nodes} nodes")
    request.inputs.check()
    return shape


def fabric_environment(pool: PoolOutput, shape: NodeShape) -> dict[str, str]:
    """What NCCL and libfabric need on the pool's instance family (``infra.efa``); nothing without EFA."""
    if not shape.efa:
        return {}
    settings = {t: efa.nccl_environment(t) for t in pool.instance_types}
    first = next(iter(settings.values()))
    if any(other != first for other in settings.values()):
        raise ConfigError(f"the pool's instance types need different NCCL settings ({settings}); give each "
                          f"family a pool of its own")
    return first


def trainer_arguments(request: TrainJobRequest, *, buckets: dict[str, str], fsx: bool) -> list[str]:
    """The launcher's arguments: the request's settings plus where this job's checkpoints, export and
    data live, checked by the training config before the job is built."""
    prefix = f"eks/{request.name}/"
    settings = [f"checkpoint_uri=s3://{buckets['checkpoints']}/{prefix}",
                f"export_uri=s3://{buckets['models']}/{prefix}", f"output_dir=/tmp/{request.name}"]
    if request.inputs.data is not None:
        source = f"{FSX_MOUNT}/datasets/" if fsx else f"s3://{buckets['datasets']}/"
        settings.append(f"data={source}{request.inputs.data}")
    if request.inputs.base_model is not None:
        # Each node's first rank copies the checkpoint from S3 into the node's cache once.
        settings.append(f"base_model=s3://{buckets['models']}/{request.inputs.base_model}")
    try:
        return as_arguments(request.recipe, [*settings, *request.overrides])
    except TrainConfigError as exc:
        raise ConfigError(str(exc)) from None


def render_train_job(request: TrainJobRequest, shape: NodeShape, *, namespace: str, image: str,
                     arguments: list[str], fsx: bool, deadline_hours: float, stack: str,
                     environment: dict[str, str] | None = None, command: tuple[str, ...] = LAUNCH) -> dict[str, Any]:
    """The TrainJob object for ``request`` (not yet checked); ``environment`` is the fabric's settings."""
    pod_spec: dict[str, Any] = {
        "nodeSelector": {POOL_LABEL: request.pool},
        "tolerations": [dict(GPU_TOLERATION)],
    }
    if fsx:
        pod_spec["volumes"] = [{"name": FSX_CLAIM, "persistentVolumeClaim": {"claimName": FSX_CLAIM}}]
        pod_spec["containers"] = [{"name": NODE_JOB,
                                   "volumeMounts": [{"name": FSX_CLAIM, "mountPath": FSX_MOUNT, "readOnly": True}]}]
    trainer: dict[str, Any] = {
        "image": image,
        "command": list(command),
        "args": arguments,
        "numNodes": request.nodes,
        "numProcPerNode": shape.gpus,
        "resourcesPerNode": shape.resources(),
    }
    if environment:
        trainer["env"] = [{"name": name, "value": value} for name, value in sorted(environment.items())]
    return {
        "apiVersion": TRAINER_API,
        "kind": "TrainJob",
        "metadata": {"name": request.name, "namespace": namespace,
                     "labels": {QUEUE_LABEL: request.pool, "hoist.dev/stack": stack}},
        "spec": {
            "runtimeRef": {"name": RUNTIME_NAME, "kind": "TrainingRuntime", "apiGroup": "trainer.kubeflow.org"},
            "activeDeadlineSeconds": int(deadline_hours * 3600),
            "trainer": trainer,
            "runtimePatches": [{
                "manager": "hoist.dev/cli",
                "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{
                    "name": NODE_JOB, "template": {"spec": {"template": {"spec": pod_spec}}},
                }]}}},
            }],
        },
    }


def train_job(cfg: StackConfig, outputs: StackOutputs, request: TrainJobRequest) -> dict[str, Any]:
    """The checked TrainJob for ``request`` on the deployed stack; ConfigError names what is wrong."""
    if not re.fullmatch(NAME, request.name):
        raise ConfigError(f"--name {request.name!r}: 1-63 lower-case letters, digits and dashes")
    cluster = cluster_of(outputs)
    pool = deployed_pool(cfg, outputs, request.pool)
    shape = node_shape_of(request, pool, cluster.pools)
    if "training" not in outputs.images:
        raise ConfigError(f"stack {outputs.stack} runs no training image yet: set hoist:images.training to a digest")
    image = outputs.images["training"]
    buckets = {role: outputs.buckets[role].name for role in ("datasets", "checkpoints", "models")}
    job = render_train_job(request, shape, namespace=cluster.namespace, image=image,
                           arguments=trainer_arguments(request, buckets=buckets, fsx=cluster.fsx),
                           fsx=cluster.fsx, deadline_hours=cfg.cluster.job_deadline_hours, stack=outputs.stack,
                           environment=fabric_environment(pool, shape))
    check_job(job, cfg, cluster, image)
    return job


def check_job(job: dict[str, Any], cfg: StackConfig, cluster: ClusterOutput, image: str) -> None:
    """The TrainJob against the Trainer's API models, and the pod each node runs against the Kubernetes schema."""
    problems = trainer_api_errors(job, "TrainJob")
    runtime = training_runtime(cluster.namespace, cfg.cluster, image)
    version = cluster.kubernetes_version or cfg.cluster.kubernetes_version
    problems += kubernetes_errors(node_pod(runtime, job), version)
    if problems:
        raise ConfigError(f"the TrainJob does not fit the pinned APIs: {problems[0]}")


def _api(outputs: StackOutputs) -> Any:
    if outputs.kubeconfig is None:
        raise ConfigError(f"stack {outputs.stack} exports no kubeconfig; run `pulumi up` first")
    return config.new_client_from_config_dict(json.loads(outputs.kubeconfig))


def submit(job: dict[str, Any], outputs: StackOutputs) -> None:
    api = client.CustomObjectsApi(_api(outputs))
    api.create_namespaced_custom_object(GROUP, VERSION, job["metadata"]["namespace"], PLURAL, job)


def status(name: str, outputs: StackOutputs) -> dict[str, Any]:
    """The TrainJob's conditions and its pods' phases."""
    namespace = cluster_of(outputs).namespace
    api_client = _api(outputs)
    job = client.CustomObjectsApi(api_client).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        namespace, label_selector=f"jobset.sigs.k8s.io/jobset-name={name}")
    return {
        "name": name,
        "suspended": job.get("spec", {}).get("suspend", False),
        "conditions": [{key: c.get(key) for key in ("type", "status", "reason", "message")}
                       for c in job.get("status", {}).get("conditions", [])],
        "pods": {pod.metadata.name: {"phase": pod.status.phase, "node": pod.spec.node_name} for pod in pods.items},
    }


def logs(name: str, outputs: StackOutputs, *, follow: bool) -> Iterator[str]:
    """Lines of rank 0's log (the first node's pod)."""
    namespace = cluster_of(outputs).namespace
    core = client.CoreV1Api(_api(outputs))
    pods = core.list_namespaced_pod(namespace, label_selector=(
        f"jobset.sigs.k8s.io/jobset-name={name},batch.kubernetes.io/job-completion-index=0"))
    if not pods.items:
        raise ConfigError(f"TrainJob {name} has no running pod yet; see `hoist train status --name {name}`")
    stream = core.read_namespaced_pod_log(pods.items[0].metadata.name, namespace, container=NODE_JOB,
                                          follow=follow, _preload_content=False)
    for line in stream.stream():
        yield line.decode(errors="replace")
