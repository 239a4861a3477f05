"""IAM and resource policies as grants: one (effect, principal, action, resource, condition) tuple
per combination a statement allows or denies, so two versions of a policy compare as sets and a
reviewer reads exactly what was granted or revoked.

The principal is empty for identity policies (a role's inline policy applies to the role); in
trust and resource policies it is who the statement is about, which is what a reviewer must see.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

POLICY_INPUTS: dict[str, tuple[str, str]] = {
    "aws:iam/role:Role": ("assumeRolePolicy", "trust policy"),
    "aws:iam/rolePolicy:RolePolicy": ("policy", "inline policy"),
    "aws:iam/policy:Policy": ("policy", "managed policy"),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy", "bucket policy"),
    "aws:kms/key:Key": ("policy", "key policy"),
    "aws:ecr/registryPolicy:RegistryPolicy": ("policy", "registry policy"),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy", "repository policy"),
    "aws:sqs/queuePolicy:QueuePolicy": ("policy", "queue policy"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("policy", "endpoint policy"),
}
"""Resource type -> (the input holding its policy document as JSON, what kind of policy it is)."""

ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
UNREADABLE = "(document known only after apply)"


@dataclass(frozen=True, order=True)
class Grant:
    effect: str
    principal: str
    action: str
    resource: str
    condition: str

    @property
    def wildcards(self) -> tuple[str, ...]:
        """The parts of an Allow that match more than one thing (a Deny's wildcards only deny more)."""
        if self.effect != "Allow":
            return ()
        parts = {"principal": self.principal, "action": self.action, "resource": self.resource}
        return tuple(name for name, value in parts.items() if "*" in value)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "wildcards": list(self.wildcards)}


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _principals(statement: Mapping[str, Any]) -> Iterator[str]:
    for key in ("Principal", "NotPrincipal"):
        if key not in statement:
            continue
        prefix = "NotPrincipal " if key == "NotPrincipal" else ""
        value = statement[key]
        if value == "*":
            yield f"{prefix}*"
            return
        for kind, ids in sorted(dict(value).items()):
            for one in _listed(ids):
                yield f"{prefix}{kind} {one}"
        return
    yield ""


def _condition(statement: Mapping[str, Any]) -> str:
    parts = []
    for operator, tests in sorted(dict(statement.get("Condition") or {}).items()):
        for key, value in sorted(dict(tests).items()):
            values = _listed(value)
            shown = str(values[0]) if len(values) == 1 else "[" + ", ".join(map(str, values)) + "]"
            parts.append(f"{operator} {key} = {shown}")
    return "; ".join(parts)


def _either(statement: Mapping[str, Any], key: str) -> list[str]:
    """Action or NotAction (Resource or NotResource), the negated form marked."""
    if key in statement:
        return [str(v) for v in _listed(statement[key])]
    negated = f"Not{key}"
    if negated in statement:
        return [f"{negated} {v}" for v in _listed(statement[negated])]
    return [""]


def document_grants(document: Any) -> set[Grant]:
    """Every tuple a policy document's statements allow or deny."""
    if isinstance(document, str):
        document = json.loads(document)
    found = set()
    for statement in _listed(dict(document).get("Statement")):
        condition = _condition(statement)
        for principal in _principals(statement):
            for action in _either(statement, "Action"):
                for resource in _either(statement, "Resource"):
                    found.add(Grant(str(statement.get("Effect", "Allow")), principal, action, resource, condition))
    return found


def grants(resource: Mapping[str, Any]) -> set[Grant] | None:
    """The grants of a planned resource's policy; None for a resource that carries no policy."""
    source = POLICY_INPUTS.get(resource["type"])
    if source is None:
        return None
    raw = resource["inputs"].get(source[0])
    if raw is None:
        return set()
    try:
        return document_grants(raw)
    except (ValueError, TypeError, AttributeError):
        return {Grant("", "", UNREADABLE, "", "")}


@dataclass(frozen=True)
class PolicyChange:
    """What one policy (or managed-policy attachment) grants and revokes."""

    urn: str
    name: str
    type: str
    kind: str
    added: tuple[Grant, ...]
    removed: tuple[Grant, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"urn": self.urn, "name": self.name, "type": self.type, "kind": self.kind,
                "added": [g.as_dict() for g in self.added], "removed": [g.as_dict() for g in self.removed]}


def _attachment_grants(resource: Mapping[str, Any]) -> set[Grant]:
    """A managed policy attached to a role grants whatever that policy allows; named, not expanded."""
    arn = str(resource["inputs"].get("policyArn", ""))
    return {Grant("Allow", "", f"everything in managed policy {arn.rsplit('/', 1)[-1]}", arn, "")}


def change(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> PolicyChange | None:
    """The grants added and removed between two versions of one resource (either may be absent:
    a new policy grants everything it says, a removed one revokes it). None when nothing changed
    or the resource carries no policy."""
    current = after if after is not None else before
    assert current is not None
    if current["type"] == ATTACHMENT:
        kind = "managed policy attachment"
        old = _attachment_grants(before) if before is not None else set()
        new = _attachment_grants(after) if after is not None else set()
    else:
        if current["type"] not in POLICY_INPUTS:
            return None
        kind = POLICY_INPUTS[current["type"]][1]
        old = (grants(before) or set()) if before is not None else set()
        new = (grants(after) or set()) if after is not None else set()
    if old == new:
        return None
    return PolicyChange(current["urn"], current["name"], current["type"], kind,
                        tuple(sorted(new - old)), tuple(sorted(old - new)))


def changes(pairs: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]) -> list[PolicyChange]:
    found = [c for before, after in pairs if (c := change(before, after)) is not None]
    return sorted(found, key=lambda c: (c.kind, c.name, c.urn))
