"""The plan's view of a shared endpoint: each model's copies, the instances they need, and the idle floor."""

from __future__ import annotations

import math
from typing import Any

from infra import catalog
from infra.config import InferenceComponentsConfig


def summary(shared: InferenceComponentsConfig | None) -> dict[str, Any] | None:
    """Per model: copies (floor, at creation, maximum), copies per instance and instances at each; and the
    endpoint's instances when idle and right after its components are created (a component cannot be
    created with zero copies)."""
    if shared is None:
        return None
    hourly = catalog.sagemaker_hour(shared.instance_type).usd
    models: dict[str, dict[str, Any]] = {}
    for name, model in shared.models.items():
        per_instance = shared.copies_per_instance(model)
        at_floor, at_max = math.ceil(model.min_copies / per_instance), math.ceil(model.max_copies / per_instance)
        models[name] = {
            "engine": model.engine, "cpu_cores": model.cpu_cores, "memory_mb": model.memory_mb_per_copy,
            "gpus": model.gpus_per_copy, "min_copies": model.min_copies, "max_copies": model.max_copies,
            "copies_at_creation": model.initial_copies, "copies_per_instance": per_instance,
            "instances_at_max": at_max, "instances_at_floor": at_floor,
            "monthly_floor_usd": round(hourly * catalog.HOURS_PER_MONTH * at_floor, 2),
            "monthly_max_usd": round(hourly * catalog.HOURS_PER_MONTH * at_max, 2),
        }
    idle = shared.instances_at_floor
    return {"instance_type": shared.instance_type, "min_instances": shared.min_instances,
            "max_instances": shared.max_instances, "idle_instances": idle,
            "instances_after_creation": shared.instances_at_creation,
            "scale_in_minutes": catalog.SCALE_IN_TO_ZERO_MINUTES if shared.scales_to_zero else 0,
            "models": models}


def lines(found: dict[str, Any]) -> list[str]:
    """The summary in words, for `hoist plan`."""
    out = []
    for name, m in found["models"].items():
        out.append(f"{name} ({m['engine']}): {m['min_copies']}-{m['max_copies']} copies of {m['cpu_cores']:g} CPU, "
                   f"{m['memory_mb']} MiB, {m['gpus']} GPU; {m['copies_per_instance']} per {found['instance_type']}; "
                   f"${m['monthly_floor_usd']:,.2f}-${m['monthly_max_usd']:,.2f}/month")
    out.append(f"idle floor: {found['idle_instances']} instance(s) ({found['min_instances']}-"
               f"{found['max_instances']} managed)")
    if found["scale_in_minutes"]:
        out.append(f"after a component is created (first apply, or a replacement): "
                   f"{found['instances_after_creation']} instance(s) run (each model starts with at least one "
                   f"copy) until idle models scale in, about {found['scale_in_minutes']} minutes without requests "
                   "(an estimate); an update keeps autoscaling's copies; after that a first request fails while an "
                   "instance starts (README)")
    return out
