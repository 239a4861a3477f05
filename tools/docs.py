"""The README's generated sections: the stack config reference (from ``StackConfig``'s field
descriptions) and each stack's monthly cost (from the offline plan).

``python -m tools.docs`` rewrites them between their markers; a test fails when they are stale.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hoist.plan import cost, recording
from infra.config import StackConfig
from infra.stack_files import NAMESPACE, PROJECT_ROOT, available_stacks

README = PROJECT_ROOT / "README.md"


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Annotated:  # a shared constrained type (infra.fields): named by what it holds
        return _type_name(get_args(annotation)[0])
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation) if a is not type(None)) + " (optional)"
    if origin is tuple:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"map of {_type_name(key)} to {_type_name(value)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(annotation, str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "see below"
    else:
        value = field.default
    if value is PydanticUndefined:
        return "required"
    return f"`{json.dumps(value)}`"


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, type[BaseModel] | None, str]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        # An optional section (``Section | None``) is documented like a section.
        candidates = [a for a in get_args(annotation) if a is not type(None)] if get_origin(annotation) in (
            Union, types.UnionType) else [annotation]
        nested = next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if get_origin(annotation) is dict and issubclass(get_args(annotation)[1], BaseModel):
            nested = get_args(annotation)[1]
            yield (f"| `{prefix}{name}` | {_type_name(annotation)} | {_default(field)} | {field.description} |",
                   nested, f"{prefix}{name}.<name>.")
            continue
        yield (f"| `{prefix}{name}` | {_type_name(annotation)} | {_default(field)} | {field.description} |",
               nested, f"{prefix}{name}.")


def config_reference() -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    sections: list[tuple[str, type[BaseModel]]] = []
    for row, nested, prefix in _rows(StackConfig, f"{NAMESPACE}:"):
        lines.append(row)
        if nested is not None:
            sections.append((prefix, nested))
    for prefix, model in sections:  # grows as sections name sections of their own
        lines += ["", f"**`{prefix.rstrip('.')}`** — {(model.__doc__ or '').strip()}", "",
                  "| key | type | default | meaning |", "|---|---|---|---|"]
        for row, nested, inner in _rows(model, prefix):
            lines.append(row)
            if nested is not None:
                sections.append((inner, nested))
    return "\n".join(lines)


def cost_table() -> str:
    lines = ["| stack | monthly at most | monthly idle | biggest line |", "|---|---:|---:|---|"]
    for stack in available_stacks():
        estimate = cost.estimate(recording.record(stack))
        top = max(estimate.lines, key=lambda line: line.monthly_max_usd)
        lines.append(f"| {stack} | ${estimate.monthly_max_usd:,.2f} | ${estimate.monthly_idle_usd:,.2f} | "
                     f"{top.subject}: {top.item} × {top.quantity:g} (${top.monthly_max_usd:,.2f}) |")
    return "\n".join(lines)


@dataclass(frozen=True)
class SampleChange:
    """A pull request made of text edits to one stack file."""

    stack: str
    edits: tuple[tuple[str, str], ...]


NAT_PER_AZ = SampleChange("dev", (("nat_gateways: single", "nat_gateways: per_az"),))
REVIEW_EXAMPLE = SampleChange("staging", (
    ("      max_gpus: 8\n", "      max_gpus: 16\n      volume_gb: 400\n"),
    ("model_key: llm/assistant-8b/2026-11-30/", "model_key: llm/assistant-8b/2026-12-01/"),
))
"""The pull request the README's example comment reviews: staging's GPU pool doubles, with bigger root
volumes, and the LLM endpoint gets a newly exported model."""


def sample_repository(target: Path, change: SampleChange = REVIEW_EXAMPLE, root: Path = PROJECT_ROOT) -> Path:
    """A git repository holding the Pulumi project at one commit, with ``change`` uncommitted."""
    import shutil
    import subprocess

    for part in ("infra", "hoist", "policy", "training", "stacks", "Pulumi.yaml", "pyproject.toml"):
        source = root / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / part)
    git = ["git", "-C", str(target), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    stack_file = target / "stacks" / f"Pulumi.{change.stack}.yaml"
    text = stack_file.read_text()
    for old, new in change.edits:
        if text.count(old) != 1:
            raise ValueError(f"{stack_file.name} no longer has {old!r} exactly once; update the sample change")
        text = text.replace(old, new)
    stack_file.write_text(text)
    return target


def preview_example() -> str:
    """The comment `preview.yml` posts for the sample pull request."""
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hoist-example-") as tmp:
        repo = sample_repository(Path(tmp) / "repo")
        env = {**os.environ, "PYTHONPATH": str(repo)}
        result = subprocess.run([sys.executable, "-m", "hoist.cli", "plan", "--stack", REVIEW_EXAMPLE.stack,
                                 "--diff", "main"], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return "````markdown\n" + result.stdout.rstrip("\n") + "\n````"


SECTIONS: dict[str, Callable[[], str]] = {"config-reference": config_reference, "cost-table": cost_table,
                                          "preview-example": preview_example}


def _between(match: re.Match[str], body: str) -> str:
    return match.group(1) + body + "\n" + match.group(2)


def render(text: str, sections: dict[str, str]) -> str:
    for name, body in sections.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> markers")
        text = pattern.sub(functools.partial(_between, body=body), text)
    return text


def main(readme: Path = README) -> int:
    text = readme.read_text()
    readme.write_text(render(text, {name: make() for name, make in SECTIONS.items()}))
    print(f"rewrote {', '.join(SECTIONS)} in {readme.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
