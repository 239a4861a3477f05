"""The plan as data (``--json``) and as a terminal report: inventory, policy report, cost."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc
from rich.console import Console
from rich.table import Table

from hoist import sizing
from hoist.plan import components as shared_endpoint
from hoist.plan import placement, reachability
from hoist.plan.cost import CostEstimate
from hoist.plan.policies import PolicyReport
from hoist.plan.recording import Plan
from policy.reachability import Reach

COMPUTED = "(known after apply)"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Unknown):
        return COMPUTED
    # Pulumi's gRPC protocol carries every number as a double; show whole numbers as integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str) and value == rpc.UNKNOWN:
        return COMPUTED
    return value


def as_dict(plan: Plan, policy: PolicyReport, cost: CostEstimate,
            reach: list[Reach] | None = None) -> dict[str, Any]:
    components: dict[str, list[dict[str, Any]]] = {}
    for r in plan.resources:
        if not r.custom:
            continue
        components.setdefault(r.component, []).append({
            "urn": r.urn, "part": r.part, "type": r.type, "name": r.name, "protect": r.protect,
            "retain_on_delete": r.retain_on_delete, "inputs": _jsonable(r.inputs),
            **({"aliases": list(r.aliases)} if r.aliases else {}),
            # Inputs the engine keeps at their applied value: a diff shows no change to them.
            **({"ignore_changes": list(r.ignore_changes)} if r.ignore_changes else {}),
            # Which resources each input is computed from: a diff follows a replacement through them.
            **({"input_sources": {k: list(v) for k, v in sorted(r.property_dependencies.items()) if v}}
               if any(r.property_dependencies.values()) else {}),
        })
    return {
        "stack": plan.stack,
        "environment": plan.config.environment,
        "resource_count": sum(len(v) for v in components.values()),
        "components": components,
        "policy": {
            "passed": policy.passed,
            "policies": policy.policies,
            "violations": [{"policy": v.policy, "urn": v.urn, "message": v.message} for v in policy.violations],
            "not_applicable": policy.not_applicable,
        },
        "cost": {
            "monthly_max_usd": cost.monthly_max_usd,
            "monthly_idle_usd": cost.monthly_idle_usd,
            "lines": [{"component": line.component, "subject": line.subject, "item": line.item,
                       "quantity": line.quantity,
                       "unit_usd": line.unit_price.usd, "unit": line.unit_price.unit,
                       "monthly_max_usd": round(line.monthly_max_usd, 2),
                       "monthly_idle_usd": round(line.monthly_idle_usd, 2),
                       "source": line.unit_price.cite()} for line in cost.lines],
        },
        "reachability": reachability.as_dicts(reach),
        "llm_sizing": _llm_sizing(plan),
        "inference_components": shared_endpoint.summary(plan.config.inference_components),
        "outputs": _jsonable(plan.outputs),
    }


def _llm_sizing(plan: Plan) -> dict[str, Any] | None:
    found = sizing.endpoint_sizing(plan.config.endpoint)
    return None if found is None else found.as_dict()


def sizing_lines(found: dict[str, Any]) -> list[str]:
    """The LLM endpoint's sizing in words: what the model needs, what the GPUs give, what it costs."""
    kv = ("KV cache per token unknown until `hoist deploy` writes llm.kv_bytes_per_token"
          if found["kv_bytes_per_token"] is None else
          f"KV cache {found['kv_bytes_per_token']:,} bytes a token × {found['cache_tokens']:,} tokens = "
          f"{found['kv_cache_gb']:.1f} GB")
    fit = {None: "fit unknown", True: "fits", False: "DOES NOT FIT"}[found["fits"]]
    needed = "" if found["needed_gb"] is None else f"needs {found['needed_gb']:.1f} GB of "
    price = "" if found["price_verified"] else " (hourly price an UNVERIFIED estimate; see the catalog)"
    lines = [f"weights {found['model_gb']:g} GB; {kv}",
             f"{fit}: {needed}{found['usable_gb']:.1f} GB usable on {found['instance_type']} at tensor-parallel "
             f"degree {found['tensor_parallel_size']} ({found['gpu_model']})",
             f"${found['monthly_min_usd']:,.2f} to ${found['monthly_max_usd']:,.2f} a month{price}"]
    if found["warning"]:
        lines.append(f"warning: {found['warning']}")
    return lines


def print_plan(console: Console, plan: Plan, policy: PolicyReport, cost: CostEstimate,
               reach: list[Reach] | None = None) -> None:
    inventory = Table(title=f"Stack {plan.stack} ({plan.config.environment}): resources by component")
    inventory.add_column("part")
    inventory.add_column("component")
    inventory.add_column("resources", justify="right")
    inventory.add_column("types")
    by_component: dict[tuple[str, str], Counter[str]] = {}
    for r in plan.resources:
        if r.custom:
            by_component.setdefault((r.part, r.component), Counter())[r.type.rsplit(":", 1)[-1]] += 1
    for (part, component), counts in by_component.items():
        inventory.add_row(part, component, str(sum(counts.values())),
                          ", ".join(f"{n}×{t}" if n > 1 else t for t, n in sorted(counts.items())))
    console.print(inventory)
    pools = placement.placements(plan)
    if pools:
        console.print("GPU pools, where their nodes land:", highlight=False)
        for pool in pools:
            console.print(f"  {placement.describe(pool)}", highlight=False, soft_wrap=True)

    if policy.passed:
        console.print(f"[green]policy: {len(policy.policies)} policies, 0 violations[/green]")
    else:
        violations = Table(title="policy violations", style="red")
        violations.add_column("policy")
        violations.add_column("resource")
        violations.add_column("message")
        for v in policy.violations:
            violations.add_row(v.policy, v.urn.rsplit("::", 1)[-1], v.message)
        console.print(violations)
    reachability.print_table(console, plan.stack, reach)

    costs = Table(title=f"Monthly cost estimate, {plan.stack}")
    costs.add_column("component")
    costs.add_column("line")
    costs.add_column("quantity")
    costs.add_column("at maximum", justify="right")
    costs.add_column("idle", justify="right")
    costs.add_column("src", justify="right")
    sources: list[str] = []
    for line in cost.lines:
        cite = line.unit_price.cite()
        if cite not in sources:
            sources.append(cite)
        costs.add_row(line.component.removeprefix("hoist:").split(":")[0], line.subject,
                      f"{line.quantity:g} × {line.item}", f"${line.monthly_max_usd:,.2f}",
                      f"${line.monthly_idle_usd:,.2f}",
                      f"[{sources.index(cite) + 1}]")
    costs.add_row("[bold]total[/bold]", "", "", f"[bold]${cost.monthly_max_usd:,.2f}[/bold]",
                  f"[bold]${cost.monthly_idle_usd:,.2f}[/bold]", "")
    console.print(costs)
    for number, cite in enumerate(sources, start=1):
        console.print(f"  [{number}] {cite}", highlight=False)
    found = _llm_sizing(plan)
    if found is not None:
        console.print("LLM endpoint sizing:")
        for text in sizing_lines(found):
            console.print(f"  {text}", highlight=False)
    shared = shared_endpoint.summary(plan.config.inference_components)
    if shared is not None:
        console.print("Inference components (one endpoint, several models):")
        for text in shared_endpoint.lines(shared):
            console.print(f"  {text}", highlight=False, soft_wrap=True)
    console.print(f"budget: ${plan.config.budget.monthly_limit_usd:,.0f}/month "
                  f"(alert at {plan.config.budget.alert_threshold_percent}%)")
