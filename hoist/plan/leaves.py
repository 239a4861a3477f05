"""Input changes at the level a reviewer reads them: the dotted path of every value that differs
(``spec.blockDeviceMappings[0].ebs.volumeSize``), not the whole input it sits in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Leaf:
    path: str
    before: Any
    after: Any


def _decoded(value: Any) -> Any:
    """JSON text holding an object or a list (a dashboard body, an event pattern), decoded."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def leaf_changes(before: Any, after: Any, path: str = "") -> list[Leaf]:
    """Where two values differ, as paths from their root; objects and equal-length lists are compared
    member by member, anything else as a whole."""
    before, after = _decoded(before), _decoded(after)
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after)):
            found += leaf_changes(before.get(key), after.get(key), f"{path}.{key}" if path else key)
        return found
    if (isinstance(before, list) and isinstance(after, list) and len(before) == len(after)
            and any(isinstance(item, dict | list) for item in before + after)):
        found = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            found += leaf_changes(old, new, f"{path}[{index}]")
        return found
    return [Leaf(path, before, after)]


def under(leaves: list[Leaf], prefix: str) -> list[Leaf]:
    """The leaves at ``prefix`` or below it."""
    return [leaf for leaf in leaves if leaf.path == prefix or leaf.path.startswith((prefix + ".", prefix + "["))]
