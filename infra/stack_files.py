"""Stack files: where they are, how they are read, and the one-line error a bad value becomes.

A stack file (``stacks/Pulumi.<stack>.yaml``) holds values under the ``hoist:`` namespace. They are
validated by ``infra.config.StackConfig``; a bad value fails with one line naming the file, the key,
the value and what is allowed. Reading never calls AWS, reads the clock or touches Pulumi.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from infra.config import GpuPoolConfig, StackConfig

NAMESPACE = "hoist"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# HOIST_STACKS_DIR lets tools and tests read stack files from elsewhere.
STACKS_DIR = Path(os.environ.get("HOIST_STACKS_DIR", PROJECT_ROOT / "stacks"))


class ConfigError(ValueError):
    """A stack config (or a request against one) that cannot be used; the message is one line for a person."""


def _format_error(source: str, error: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    location = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    # Cross-field errors carry their own key at the start of the message.
    if not location and ": " in message and not message.startswith(" "):
        key, _, message = message.partition(": ")
        location = key.split(".")
    elif ": " in message:
        # A section's own cross-field error names the key inside it, when that key is in the file.
        key, _, rest = message.partition(": ")
        if " " not in key and _lookup(raw, [*location, *key.split(".")]) is not _MISSING:
            location, message = [*location, *key.split(".")], rest
    key = f"{NAMESPACE}:" + ".".join(location) if location else NAMESPACE
    if error["type"] == "extra_forbidden":
        parent = _lookup(raw, location[:-1])
        allowed = _allowed_keys(location[:-1], parent)
        return f"{source}: {key}: unknown key; allowed keys here: {', '.join(allowed)}"
    if error["type"] == "missing":
        field_info = StackConfig.model_fields.get(location[0]) if len(location) == 1 else None
        described = f" — {field_info.description}" if field_info and field_info.description else ""
        return f"{source}: {key}: required but missing{described}"
    value = _lookup(raw, location)
    shown = json.dumps(value) if value is not _MISSING else "(unset)"
    return f"{source}: {key} = {shown}: {message}"


_MISSING = object()


def _lookup(raw: Mapping[str, Any], location: list[str]) -> Any:
    node: Any = raw
    for part in location:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _allowed_keys(location: list[str], parent: Any) -> list[str]:
    model: type[BaseModel] = StackConfig
    for part in location:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        # An optional section (`X | None`) names its model inside the union.
        members = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        annotation = members[0] if members else annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif part in StackConfig.model_fields and part == "gpu_pools":
            continue
        else:
            model = GpuPoolConfig
    return sorted(model.model_fields)


def parse(raw: Mapping[str, Any], source: str) -> StackConfig:
    """Validate the ``hoist:`` values of one stack. Raises ConfigError with one line per problem."""
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        errors = exc.errors()
        first = _format_error(source, errors[0], raw)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ConfigError(first + more) from None


def read_stack_file(path: Path) -> dict[str, Any]:
    """The ``hoist:`` values of a Pulumi stack file, with the namespace stripped."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such stack file; stacks live in {STACKS_DIR}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    values = document.get("config") or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: 'config' must be a mapping of keys to values")
    raw: dict[str, Any] = {}
    for key, value in values.items():
        namespace, _, name = str(key).partition(":")
        if namespace == NAMESPACE and name:
            raw[name] = value
    return raw


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def available_stacks() -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS_DIR.glob("Pulumi.*.yaml"))


def load_stack(stack: str) -> StackConfig:
    """Read and validate ``stacks/Pulumi.<stack>.yaml``."""
    path = stack_file(stack)
    if not path.exists():
        raise ConfigError(f"unknown stack {stack!r}; available: {', '.join(available_stacks())}")
    source = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
    return parse(read_stack_file(path), source=str(source))


def from_pulumi_config(values: Mapping[str, Any], stack: str) -> StackConfig:
    """Validate the ``hoist:*`` entries of Pulumi's runtime config (object values arrive as JSON)."""
    raw: dict[str, Any] = {}
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE or not name:
            continue
        # Pulumi hands object and list values to the program as JSON text; scalars stay strings.
        if isinstance(value, str) and value[:1] in "{[":
            try:
                raw[name] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
        raw[name] = value
    return parse(raw, source=f"stacks/Pulumi.{stack}.yaml")


