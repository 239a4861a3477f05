"""The offline plan: run the real program under Pulumi's mock runtime and record what it creates.

No credentials and no Pulumi CLI are needed. The recording carries what the Pulumi engine would see
for every resource (type, inputs, parent, provider, dependencies, protect, retain-on-delete), which
is what the policy pack, the cost model and the diff work from.
"""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from hoist.plan.mocks import StackMocks
from infra import program
from infra.config import StackConfig
from infra.stack_files import NAMESPACE, load_stack, read_stack_file, stack_file


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    parent: str
    provider: str
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    protect: bool
    retain_on_delete: bool
    aliases: tuple[str, ...] = ()
    """URNs this resource had before a rename (its own alias or one of its ancestors'); the engine
    treats a resource at one of them as this one, so a diff must too."""

    @property
    def component(self) -> str:
        """The hoist component this resource belongs to (its top-level ancestor's type)."""
        qualified = self.urn.split("::")[2]
        top = qualified.split("$")[0]
        return top if top.startswith("hoist:") else ("(provider)" if top.startswith("pulumi:") else "(stack)")


@dataclass
class Plan:
    stack: str
    config: StackConfig
    preview: bool
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == typ]

    def by_urn(self) -> dict[str, PlannedResource]:
        return {r.urn: r for r in self.resources}


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock resource monitor, also keeping the resource options the engine would receive."""

    def __init__(self, mocks: pulumi.runtime.Mocks, plan: Plan) -> None:
        super().__init__(mocks)
        self.plan = plan
        self.aliases: dict[str, tuple[str, ...]] = {}

    def _aliases(self, request: Any, urn: str) -> tuple[str, ...]:
        """The old URNs of a resource, as the engine derives them: its own type or name aliases, and
        the same resource under each old URN of its parent."""
        prefix, qualified, name = _split_urn(urn)
        parent_type = qualified.rsplit("$", 1)[0] if "$" in qualified else ""
        found = []
        for alias in request.aliases:
            spec = alias.spec if alias.HasField("spec") else None
            if spec is None or not (spec.type or spec.name):
                continue
            own_type = spec.type or request.type
            found.append(f"{prefix}::{parent_type + '$' if parent_type else ''}{own_type}::{spec.name or name}")
        for old_parent in self.aliases.get(request.parent, ()):
            # The child's type chain starts with its parent's (whole, or its last type only, as the
            # mock monitor writes it): swap in the old parent's the same way.
            parent_now, parent_then = _split_urn(request.parent)[1], _split_urn(old_parent)[1]
            then = parent_then if parent_type == parent_now else parent_then.rsplit("$", 1)[-1]
            found.append(f"{prefix}::{then}${request.type}::{name}")
        return tuple(found)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            aliases = self._aliases(request, response.urn)
            if aliases:
                self.aliases[response.urn] = aliases
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            self.plan.resources.append(PlannedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                inputs=_plain(inputs),
                custom=bool(request.custom),
                parent=request.parent,
                provider=request.provider,
                dependencies=tuple(request.dependencies),
                property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()},
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                aliases=aliases,
            ))
        return response


def _split_urn(urn: str) -> tuple[str, str, str]:
    """``urn:pulumi:<stack>::<project>::<qualified type>::<name>`` as (prefix, qualified type, name)."""
    head, qualified, name = urn.rsplit("::", 2)
    return head, qualified, name


def _plain(value: Any) -> Any:
    """Deep-copy deserialized inputs into plain dicts and lists (unknowns stay as rpc.UNKNOWN)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _pulumi_config(stack: str) -> dict[str, str]:
    """The stack file's values as the Pulumi engine passes them: objects and lists as JSON text."""
    raw = read_stack_file(stack_file(stack))
    return {f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def record(stack: str, *, preview: bool = False) -> Plan:
    """Run the program for ``stack`` under mocks. Raises ConfigError for a bad stack file."""
    cfg = load_stack(stack)
    return contextvars.Context().run(_run_isolated, stack, cfg, preview)


def _run_isolated(stack: str, cfg: StackConfig, preview: bool) -> Plan:
    plan = Plan(stack=stack, config=cfg, preview=preview)
    mocks = StackMocks(account_id=cfg.allowed_account_ids[0], region=cfg.region, preview=preview)
    pulumi.runtime.set_mocks(mocks, project="hoist", stack=stack, preview=preview,
                             monitor=_RecordingMonitor(mocks, plan))
    pulumi.runtime.set_all_config(_pulumi_config(stack))
    _sync_await(run_pulumi_func(program.main))
    root = pulumi.runtime.get_root_resource()
    if root is not None:
        for key, output in getattr(root, "outputs", {}).items():
            plan.outputs[key] = _sync_await(_resolve(output))
    return plan


async def _resolve(value: Any) -> Any:
    resolved = await pulumi.Output.from_input(value).future(with_unknowns=True)
    return _plain(resolved)
