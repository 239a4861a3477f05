"""Edits to stack files that keep their comments and order: the change a promotion pull request carries.

An edit is validated with the same ``StackConfig`` that ``pulumi up`` uses before it is kept; an
edit that would make the stack invalid leaves the file exactly as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML

from infra import stack_files
from infra.stack_files import NAMESPACE, ConfigError


def _yaml() -> YAML:
    yaml = YAML()  # round-trip mode: comments, key order and flow style survive
    yaml.preserve_quotes = True
    yaml.width = 120
    return yaml


def set_values(stack: str, changes: Mapping[str, Mapping[str, Any]]) -> str:
    """Set ``hoist:<section>.<key>`` for each ``{section: {key: value}}`` in the stack's file, validate
    the result, and return the file's previous text (to restore it). All changes land, or none. A dotted
    section (``inference_components.models.chat``) names a block inside one."""
    path = stack_files.stack_file(stack)
    if not path.exists():
        raise ConfigError(f"unknown stack {stack!r}; available: {', '.join(stack_files.available_stacks())}")
    original = path.read_text()
    yaml = _yaml()
    document = yaml.load(original)
    settings = document.setdefault("config", {})
    for section, values in changes.items():
        head, *inner = section.split(".")
        block = settings.setdefault(f"{NAMESPACE}:{head}", {})
        for part in inner:
            block = block.setdefault(part, {})
        for key, value in values.items():
            block[key] = value
    with path.open("w") as stream:
        yaml.dump(document, stream)
    try:
        stack_files.load_stack(stack)
    except ConfigError:
        path.write_text(original)
        raise
    return original


def restore(stack: str, text: str) -> None:
    stack_files.stack_file(stack).write_text(text)
