"""`hoist deploy --model NAME`: promote one model of a shared endpoint (one inference component).

The artifact is checked exactly as for a single-model endpoint; then the model's ``model_key`` under
``hoist:inference_components.models.<NAME>`` is written into the stack's file. ``--apply`` (dev only) runs
``pulumi up``, which updates that one component with a rolling update; the component is followed until it
settles, and when SageMaker rolls it back (its artifact, or for an LLM its model's data source, is not the
promoted one) the file is restored and the component's rollback alarm named.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

from hoist import stack_edits
from hoist.outputs import StackOutputs
from hoist.release.deploy import DeployError, firing_alarms, pulumi_up
from infra.components.inference_components import rollback_alarm_names
from infra.config import SERVING_IMAGES, ComponentModelConfig, InferenceComponentsConfig, StackConfig

IN_PROGRESS = frozenset({"Creating", "Updating"})


def model_named(models: Collection[str], stack: str, name: str | None, error: type[Exception]) -> str:
    """The model ``--model`` names among ``models``; a stack serving one model needs no name."""
    if name is None:
        if len(models) == 1:
            return next(iter(models))
        raise error(f"stack {stack} serves {len(models)} models; name one with --model ({', '.join(models)})")
    if name not in models:
        raise error(f"--model {name}: stack {stack} serves {', '.join(models)}")
    return name


def chosen_model(shared: InferenceComponentsConfig, stack: str, name: str | None) -> tuple[str, ComponentModelConfig]:
    """The model ``--model`` names; a stack serving one model needs no name."""
    chosen = model_named(list(shared.models), stack, name, DeployError)
    return chosen, shared.models[chosen]


def check_image_digest(shared: InferenceComponentsConfig, name: str, digest: str | None) -> None:
    """An image digest is the engine's, shared by every model on it: refuse it when it would roll others."""
    engine = shared.models[name].engine
    others = [other for other, model in shared.models.items() if other != name and model.engine == engine]
    if digest is not None and others:
        raise DeployError(f"--image-digest: the {engine} image also serves {', '.join(others)}, whose components "
                          f"it would roll too; change images.{SERVING_IMAGES[engine]} "
                          "in a pull request instead")


def promote(stack: str, model: str, key: str, digest: str | None, engine: str,
            llm: dict[str, Any] | None = None) -> str:
    """Write one model's promotion into the stack's file; returns the previous text."""
    values: dict[str, Any] = {"model_key": key}
    if llm is not None:
        values["llm"] = llm
    changes: dict[str, dict[str, Any]] = {f"inference_components.models.{model}": values}
    if digest is not None:
        changes["images"] = {SERVING_IMAGES[engine]: digest}
    return stack_edits.set_values(stack, changes)


@dataclass(frozen=True)
class ComponentRollout:
    component: str
    statuses: tuple[str, ...]
    artifact: str
    """What the component serves once it settled: its ArtifactUrl, or its model's name for an LLM (which `apply`
    resolves to that model's S3 data source)."""


def follow(sagemaker: Any, component: str, poll_s: float = 15.0, timeout_s: float = 4 * 3600,
           sleep: Callable[[float], None] = time.sleep) -> ComponentRollout:
    """Poll the component until its update settles; every status seen is kept."""
    statuses: list[str] = []
    deadline = time.monotonic() + timeout_s
    while True:
        described = sagemaker.describe_inference_component(InferenceComponentName=component)
        statuses.append(described.get("InferenceComponentStatus", ""))
        if statuses[-1] not in IN_PROGRESS:
            spec = described.get("Specification") or {}
            served = (spec.get("Container") or {}).get("ArtifactUrl") or spec.get("ModelName", "")
            return ComponentRollout(component, tuple(statuses), served)
        if time.monotonic() > deadline:
            raise DeployError(f"inference component {component} still {statuses[-1]} after {timeout_s / 3600:.0f} h")
        sleep(poll_s)


def model_data_uri(sagemaker: Any, model_name: str) -> str:
    """The S3 location a SageMaker model serves: its uncompressed data source, or its ModelDataUrl."""
    if not model_name:
        return ""
    described = sagemaker.describe_model(ModelName=model_name)
    container: dict[str, Any] = described.get("PrimaryContainer") or next(iter(described.get("Containers") or []), {})
    source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
    return str(source.get("S3Uri") or container.get("ModelDataUrl") or "")


def apply(stack: str, cfg: StackConfig, outputs: StackOutputs, model: str, previous_text: str, *, sagemaker: Any,
          cloudwatch: Any, up: Callable[[str], None] = pulumi_up, poll_s: float = 15.0,
          sleep: Callable[[float], None] = time.sleep) -> ComponentRollout:
    """Apply one model's promotion and follow its component; restore the file when it is rolled back."""
    shared = cfg.inference_components
    if shared is None or not shared.allow_apply:
        raise DeployError(f"stack {stack} does not allow --apply (hoist:inference_components.allow_apply); "
                          "open a pull request with the change instead")
    if outputs.endpoint is None or model not in outputs.endpoint.components:
        raise DeployError(f"stack {stack} exports no inference component for {model}; run `pulumi up` once first")
    component = outputs.endpoint.components[model]
    promoted = shared.models[model]
    up(stack)
    rollout = follow(sagemaker, component, poll_s=poll_s, sleep=sleep)
    wanted = f"s3://{outputs.buckets['models'].name}/{promoted.model_key}"
    if rollout.statuses[-1] == "InService" and promoted.llm is not None:
        # A rolled-back LLM component is InService again, on its previous model: compare what that model reads.
        rollout = replace(rollout, artifact=model_data_uri(sagemaker, rollout.artifact))
    kept = rollout.statuses[-1] == "InService" and rollout.artifact == wanted
    if not kept:
        stack_edits.restore(stack, previous_text)
        fired = firing_alarms(cloudwatch, rollback_alarm_names(outputs.endpoint.name, model, promoted.engine))
        cause = f"alarm {', '.join(fired)} fired" if fired else "no rollback alarm is in ALARM now"
        raise DeployError(f"SageMaker rolled {component} back ({' -> '.join(rollout.statuses)}; it serves "
                          f"{rollout.artifact or 'nothing'}): {cause}; restored stacks/Pulumi.{stack}.yaml")
    return rollout
