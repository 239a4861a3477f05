"""The offline plan: run the real programs under Pulumi's mock runtime and record what they create.

A stack is two Pulumi projects (``infra/contract.py``): the AWS side runs first, then the in-cluster
side, whose StackReference reads the AWS side's recorded outputs. One Plan holds both parts'
resources; a resource's URN names its project, and ``PART`` labels it.

No credentials and no Pulumi CLI are needed. The recording carries what the Pulumi engine would see
for every resource (type, inputs, parent, provider, dependencies, protect, retain-on-delete), which
is what the policy pack, the cost model and the diff work from.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from hoist.errors import CommandFailed
from hoist.plan.mocks import StackMocks
from infra import program
from infra.config import StackConfig
from infra.contract import AWS_PROJECT, IN_CLUSTER_PROJECT, aws_stack_name
from infra.in_cluster import program as in_cluster_program
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
    ignore_changes: tuple[str, ...] = ()
    """Input paths an update leaves as the cloud has them (the resource's ``ignore_changes``)."""

    @property
    def project(self) -> str:
        return self.urn.split("::")[1]

    @property
    def part(self) -> str:
        """Which of the stack's two projects holds the resource: "aws" or "in-cluster"."""
        return PARTS[self.project]

    @property
    def component(self) -> str:
        """The hoist component this resource belongs to (its top-level ancestor's type)."""
        qualified = self.urn.split("::")[2]
        top = qualified.split("$")[0]
        return top if top.startswith("hoist:") else ("(provider)" if top.startswith("pulumi:") else "(stack)")


PARTS = {AWS_PROJECT: "aws", IN_CLUSTER_PROJECT: "in-cluster"}
ORGANIZATION = "organization"
"""What ``pulumi.get_organization()`` returns with a self-managed backend, and so under mocks."""


@dataclass
class Plan:
    stack: str
    config: StackConfig
    preview: bool
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    """The AWS side's stack outputs."""
    in_cluster_outputs: dict[str, Any] = field(default_factory=dict)

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
        self.made_by: dict[str, str] = {}
        """URN of the resource each computed value (id, ARN, generated name) came from."""

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
            if response.id:
                self.made_by.setdefault(response.id, response.urn)
            outputs = rpc.deserialize_properties(response.object, keep_unknowns=True)
            for value in _computed_strings(outputs, inputs):
                self.made_by.setdefault(value, response.urn)
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
                ignore_changes=tuple(request.ignoreChanges),
            ))
        return response


def _computed_strings(outputs: Any, inputs: Any) -> list[str]:
    """The strings in ``outputs`` that the resource computed rather than was given."""
    if isinstance(outputs, dict):
        given = inputs if isinstance(inputs, dict) else {}
        return [v for k, out in outputs.items() if not k.startswith("__")
                for v in _computed_strings(out, given.get(k, _GIVEN_NOTHING))]
    if inputs is not _GIVEN_NOTHING:
        return []
    if isinstance(outputs, list):
        return [v for item in outputs for v in _computed_strings(item, _GIVEN_NOTHING)]
    return [outputs] if isinstance(outputs, str) and len(outputs) >= 8 else []


_GIVEN_NOTHING = object()


def _across_projects(resource: PlannedResource, made_by: dict[str, str]) -> PlannedResource:
    """The in-cluster side gets AWS values through a StackReference, which hides where they came from;
    name the AWS resources whose ids, ARNs and names its inputs carry, as the engine names a dependency
    within one project, so the policies and the graph see the edge across the two."""
    found = {key: sorted({made_by[v] for v in _strings(value) if v in made_by})
             for key, value in resource.inputs.items()}
    found = {key: urns for key, urns in found.items() if urns}
    if not found:
        return resource
    deps = {**resource.property_dependencies}
    for key, urns in found.items():
        deps[key] = tuple(dict.fromkeys([*deps.get(key, ()), *urns]))
    every = dict.fromkeys([*resource.dependencies, *(u for urns in found.values() for u in urns)])
    return dataclasses.replace(resource, property_dependencies=deps, dependencies=tuple(every))


def _before_the_split(resource: PlannedResource) -> PlannedResource:
    """Until the stack split into two projects, the in-cluster objects were the AWS project's, under
    the cluster component; the one-time `pulumi state move` (README) carries them over unchanged, so a
    diff against a revision before the split follows them there as it follows an alias."""
    prefix, qualified, name = _split_urn(resource.urn)
    old_prefix = prefix.replace(f"::{IN_CLUSTER_PROJECT}", f"::{AWS_PROJECT}")
    if qualified == IN_CLUSTER_COMPONENT:
        qualified = f"hoist:cluster:GpuCluster${qualified}"
    elif not qualified.startswith(f"{IN_CLUSTER_COMPONENT}$"):
        return resource
    return dataclasses.replace(resource, aliases=(*resource.aliases, f"{old_prefix}::{qualified}::{name}"))


IN_CLUSTER_COMPONENT = "hoist:in_cluster:InCluster"


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


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
    """Run both programs for ``stack`` under mocks. Raises ConfigError for a bad stack file."""
    cfg = load_stack(stack)
    plan = Plan(stack=stack, config=cfg, preview=preview)
    plan.outputs, made_by = contextvars.Context().run(_run_isolated, plan, program.main, AWS_PROJECT, {})
    # The in-cluster side runs against an applied AWS side: in a preview it reads the outputs an
    # apply would have made, as a real in-cluster preview reads the AWS stack's state.
    applied = plan.outputs
    if preview:
        applied, made_by = contextvars.Context().run(
            _run_isolated, Plan(stack=stack, config=cfg, preview=False), program.main, AWS_PROJECT, {})
    aws_side = len(plan.resources)
    references = {aws_stack_name(ORGANIZATION, stack): applied}
    try:
        plan.in_cluster_outputs, _ = contextvars.Context().run(
            _run_isolated, plan, in_cluster_program.main, IN_CLUSTER_PROJECT, references)
    except pulumi.RunError as error:
        # What `pulumi up` of the in-cluster side would print on one line (a contract mismatch).
        raise CommandFailed(f"in-cluster side of {stack}: {error}") from None
    plan.resources[aws_side:] = [_before_the_split(_across_projects(r, made_by)) for r in plan.resources[aws_side:]]
    return plan


def _run_isolated(plan: Plan, main: Callable[[], None], project: str,
                  references: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Run one project's program into ``plan``: its stack outputs, and which resource made each value."""
    cfg = plan.config
    mocks = StackMocks(account_id=cfg.allowed_account_ids[0], region=cfg.region, preview=plan.preview,
                       stack_outputs=references)
    monitor = _RecordingMonitor(mocks, plan)
    pulumi.runtime.set_mocks(mocks, project=project, stack=plan.stack, preview=plan.preview, monitor=monitor,
                             organization=ORGANIZATION)
    pulumi.runtime.set_all_config(_pulumi_config(plan.stack))
    try:
        _sync_await(run_pulumi_func(main))
    except BaseException:
        _drop_pending_tasks()
        raise
    outputs: dict[str, Any] = {}
    root = pulumi.runtime.get_root_resource()
    if root is not None:
        for key, output in getattr(root, "outputs", {}).items():
            outputs[key] = _sync_await(_resolve(output))
    return outputs, monitor.made_by


def _drop_pending_tasks() -> None:
    """A failed program leaves its outputs' tasks (failed or waiting) in the runtime's set, which the
    next recording in this process would await and fail on with this one's error: drop them."""
    with SETTINGS.lock:
        SETTINGS.outputs.clear()
    loop = asyncio.get_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


async def _resolve(value: Any) -> Any:
    resolved = await pulumi.Output.from_input(value).future(with_unknowns=True)
    return _plain(resolved)
