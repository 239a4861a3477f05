"""Checks of a TrainJob before it is sent: the Trainer's own API models and the Kubernetes schemas.

``node_pod`` merges the TrainingRuntime's pod template with a job's trainer settings and runtime
patches as the Trainer does, so the pod each node will really run can be checked against the
Kubernetes schema of the cluster's version. The Trainer objects are checked field by field against
the pinned kubeflow-trainer-api models, unknown fields included (the generated models would
silently drop them).
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
from kubeflow_trainer_api import models
from pydantic import BaseModel, ValidationError

from infra.kube.training_runtime import NODE_JOB


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
