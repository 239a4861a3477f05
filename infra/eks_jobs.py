"""`hoist train --backend eks`: build a TrainJob for a stack's GPU pool, check it, submit it with the
kubernetes client, and follow it (`hoist train status|logs`).

Before anything is sent, the TrainJob is checked field by field against Kubeflow Trainer's own API
models (the pinned release's), and the pod each node will run (the stack's TrainingRuntime with this
job's settings applied, as the Trainer applies them) against the Kubernetes schema of the cluster's
version. A mistake is one line naming the field.
"""

from __future__ import annotations

import copy
import datetime as dt
import types
import typing
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
from pydantic import BaseModel, ValidationError

from infra.config import ConfigError, StackConfig
from infra.outputs import StackOutputs
from infra.trainjob import NODE_JOB, JobRequest, job_request, train_job, training_runtime

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"


def job_name(stack: str, now: dt.datetime) -> str:
    return f"{stack}-{now:%Y%m%d-%H%M%S}"[:63]


def build(stack: str, cfg: StackConfig, outputs: StackOutputs, request: JobRequest) -> dict[str, Any]:
    """The checked TrainJob for ``request`` on ``stack``; ConfigError names what is wrong."""
    shape = job_request(dict(cfg.gpu_pools), request)
    namespace = _namespace(outputs)
    if "training" not in outputs.images:
        raise ConfigError(f"stack {stack} runs no training image yet: set hoist:images.training to a digest")
    buckets = {role: outputs.buckets[role].name for role in ("datasets", "checkpoints", "models")}
    job = train_job(request, shape, namespace=namespace, image=outputs.images["training"],
                    buckets=buckets, cluster=cfg.cluster, stack=stack)
    problems = trainer_api_errors(job, "TrainJob")
    runtime = training_runtime(namespace, cfg.cluster, outputs.images["training"])
    problems += kubernetes_errors(node_pod(runtime, job), cfg.cluster.kubernetes_version)
    if problems:
        raise ConfigError(f"the TrainJob does not fit the pinned APIs: {problems[0]}")
    return job


def _namespace(outputs: StackOutputs) -> str:
    if outputs.cluster is None:
        raise ConfigError(f"stack {outputs.stack} exports no cluster; run `pulumi up` first")
    return outputs.cluster.namespace


def node_pod(runtime: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """The pod one node of ``job`` runs: the runtime's template with the job's trainer settings and
    runtime patches applied (containers and volumes merged by name, as the Trainer does)."""
    replicated = next(r for r in runtime["spec"]["template"]["spec"]["replicatedJobs"] if r["name"] == NODE_JOB)
    pod = copy.deepcopy(replicated["template"]["spec"]["template"])
    spec = pod["spec"]
    trainer = job["spec"]["trainer"]
    container = next(c for c in spec["containers"] if c["name"] == NODE_JOB)
    container.update({key: trainer[source] for key, source in (
        ("image", "image"), ("command", "command"), ("args", "args"), ("env", "env"),
        ("resources", "resourcesPerNode")) if source in trainer})
    for patch in job["spec"].get("runtimePatches", []):
        for patched_job in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
            if patched_job["name"] != NODE_JOB:
                continue
            patched = patched_job["template"]["spec"]["template"]["spec"]
            for key in ("nodeSelector", "tolerations"):
                if key in patched:
                    spec[key] = patched[key]
            spec["volumes"] = _merge_by_name(spec.get("volumes", []), patched.get("volumes", []))
            for patched_container in patched.get("containers", []):
                target = next(c for c in spec["containers"] if c["name"] == patched_container["name"])
                target["volumeMounts"] = _merge_by_name(target.get("volumeMounts", []),
                                                        patched_container.get("volumeMounts", []))
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {**pod.get("metadata", {}), "name": f"{job['metadata']['name']}-node-0-0",
                         "namespace": job["metadata"]["namespace"]},
            "spec": spec}


def _merge_by_name(base: list[dict[str, Any]], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = {item["name"]: item for item in base}
    merged.update({item["name"]: item for item in extra})
    return list(merged.values())


def kubernetes_errors(obj: dict[str, Any], kubernetes_version: str) -> list[str]:
    """Problems of a core Kubernetes object against the upstream schema of ``kubernetes_version`` (strict)."""
    try:
        kubernetes_validate.validate(obj, f"{kubernetes_version}.0", strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        return [f"{obj['kind']} {where or '(root)'}: {exc.message}"]
    return []


def trainer_api_errors(obj: dict[str, Any], kind: str) -> list[str]:
    """Problems of a Trainer object against the kubeflow-trainer-api models, unknown fields included
    (the generated models would silently drop them)."""
    from kubeflow_trainer_api import models

    model: type[BaseModel] = {"TrainJob": models.TrainerV1alpha1TrainJob,
                              "TrainingRuntime": models.TrainerV1alpha1TrainingRuntime}[kind]
    problems = list(_unknown_fields(obj, model, kind))
    try:
        # from_dict, not model_validate: it resolves the models' oneOf wrappers (quantities, int-or-string).
        model.from_dict(obj)  # type: ignore[attr-defined]
    except (ValidationError, ValueError) as exc:
        if not isinstance(exc, ValidationError):
            return [*problems, f"{kind}: {exc}"]
        first = exc.errors()[0]
        problems.append(f"{kind}.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    return problems


def _unknown_fields(value: Any, model: type[BaseModel], path: str) -> Iterator[str]:
    if not isinstance(value, dict):
        return
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            yield f"{path}.{key}: unknown field; allowed: {', '.join(sorted(fields))}"
            continue
        inner, container = _model_in(field.annotation)
        if inner is None:
            continue
        if container == "list" and isinstance(item, list):
            for index, element in enumerate(item):
                yield from _unknown_fields(element, inner, f"{path}.{key}[{index}]")
        elif container == "dict" and isinstance(item, dict):
            for name, element in item.items():
                yield from _unknown_fields(element, inner, f"{path}.{key}.{name}")
        else:
            yield from _unknown_fields(item, inner, f"{path}.{key}")


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds, and whether directly, in a list or as dict values."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            found = _model_in(arg)
            if found[0] is not None:
                return found
        return None, ""
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], "list"
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return args[1], "dict"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    return None, ""


def _api(outputs: StackOutputs) -> Any:
    import json

    from kubernetes import config

    if outputs.kubeconfig is None:
        raise ConfigError(f"stack {outputs.stack} exports no kubeconfig; run `pulumi up` first")
    return config.new_client_from_config_dict(json.loads(outputs.kubeconfig))


def submit(job: dict[str, Any], outputs: StackOutputs) -> None:
    from kubernetes import client

    api = client.CustomObjectsApi(_api(outputs))
    api.create_namespaced_custom_object(GROUP, VERSION, job["metadata"]["namespace"], PLURAL, job)


def status(name: str, outputs: StackOutputs) -> dict[str, Any]:
    """The TrainJob's conditions and its pods' phases."""
    from kubernetes import client

    namespace = _namespace(outputs)
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
    from kubernetes import client

    namespace = _namespace(outputs)
    core = client.CoreV1Api(_api(outputs))
    pods = core.list_namespaced_pod(namespace, label_selector=(
        f"jobset.sigs.k8s.io/jobset-name={name},batch.kubernetes.io/job-completion-index=0"))
    if not pods.items:
        raise ConfigError(f"TrainJob {name} has no running pod yet; see `hoist train status --name {name}`")
    stream = core.read_namespaced_pod_log(pods.items[0].metadata.name, namespace, container=NODE_JOB,
                                          follow=follow, _preload_content=False)
    for line in stream.stream():
        yield line.decode(errors="replace")
