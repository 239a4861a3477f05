"""The repository's rooms and the imports allowed between them (DESIGN.md, "How the parts meet").

- ``training`` and ``serving`` import nothing else of the project: each image carries only its part;
- ``infra`` imports at most ``training.config`` (the recipe table, pure Python);
- ``policy`` imports at most ``infra.catalog`` (the pack runs inside `pulumi preview`);
- ``hoist`` and ``tools`` may import any package but never ``tools``/``bench``/``tests`` from ``hoist``;
- every module under ``infra/`` is part of what `pulumi up` runs in one of the stack's two projects
  (imported from ``infra/__main__.py``, the AWS side, or ``infra/in_cluster/__main__.py``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from infra.contract import AWS_PROJECT, IN_CLUSTER_PROJECT
from infra.stack_files import PROJECT_ROOT

PACKAGES = ("infra", "hoist", "tools", "policy", "training", "serving", "bench", "tests")
ALLOWED: dict[str, tuple[str, ...]] = {
    "training": ("training",),
    "serving": ("serving",),
    "infra": ("infra", "training.config"),
    "policy": ("policy", "infra.catalog"),
    "hoist": ("hoist", "infra", "policy", "training", "serving"),
    "tools": ("tools", "hoist", "infra", "policy", "training", "serving"),
}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """Every project module ``path`` imports, with its line: ``from a import b`` is ``a.b`` when
    ``a/b.py`` (or a package) exists, else ``a``."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path, root).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path, root)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                as_path = root.joinpath(*candidate.split("."))
                is_module = as_path.with_suffix(".py").exists() or (as_path / "__init__.py").exists()
                yield node.lineno, candidate if is_module else base


def violations(root: Path) -> list[str]:
    """Imports that cross a room's boundary, as ``file:line: room imports module``."""
    found = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, module in imported_modules(path, root):
                if module.split(".")[0] not in PACKAGES:
                    continue  # the standard library or a third-party package
                if not any(module == a or module.startswith(f"{a}.") for a in allowed):
                    found.append(f"{path.relative_to(root)}:{line}: {package} imports {module}")
    return found


def test_no_room_imports_what_it_must_not() -> None:
    assert violations(PROJECT_ROOT) == []


def test_a_forbidden_import_is_reported(tmp_path: Path) -> None:
    """The checker itself: a serving module that imports training, and a policy that imports the
    program, are both named with their file and line."""
    for package in ("serving", "policy", "training", "infra"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "training" / "config.py").write_text("")
    (tmp_path / "infra" / "program.py").write_text("from training import config\n")
    (tmp_path / "serving" / "app.py").write_text("import json\n\nfrom training.config import resolve\n")
    (tmp_path / "policy" / "rules.py").write_text("from infra import program\n")
    assert violations(tmp_path) == ["serving/app.py:3: serving imports training.config",
                                    "policy/rules.py:1: policy imports infra.program"]


def _program_closure(root: Path) -> set[str]:
    seen: set[str] = set()
    queue = ["infra.__main__", "infra.in_cluster.__main__"]
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        path = root.joinpath(*module.split("."))
        file = path / "__init__.py" if (path / "__init__.py").exists() else path.with_suffix(".py")
        if not file.exists():
            continue
        for _, imported in imported_modules(file, root):
            if imported.startswith("infra"):
                # Importing a.b.c imports the packages a and a.b too.
                parts = imported.split(".")
                queue += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return seen


def test_every_infra_module_is_part_of_the_program() -> None:
    closure = _program_closure(PROJECT_ROOT)
    modules = {module_name(p, PROJECT_ROOT) for p in (PROJECT_ROOT / "infra").rglob("*.py")}
    assert modules - closure == set(), "modules under infra/ that neither program imports belong elsewhere"


def test_each_project_file_names_its_entry_point() -> None:
    """The two projects share the stack files and the virtual environment; each runs its own program."""
    projects = ((PROJECT_ROOT / "Pulumi.yaml", AWS_PROJECT, "infra"),
                (PROJECT_ROOT / "infra" / "in_cluster" / "Pulumi.yaml", IN_CLUSTER_PROJECT, "infra/in_cluster"))
    for path, name, main in projects:
        project = yaml.safe_load(path.read_text())
        base = path.parent
        assert project["name"] == name
        assert (base / project.get("main", ".") / "__main__.py").resolve() == PROJECT_ROOT / main / "__main__.py"
        assert (base / project["stackConfigDir"]).resolve() == PROJECT_ROOT / "stacks"
        assert (base / project["runtime"]["options"]["virtualenv"]).resolve() == PROJECT_ROOT / ".venv"


@pytest.mark.parametrize("package", ["training", "serving"])
def test_image_parts_import_only_themselves(package: str) -> None:
    """The images copy one part each (training/ or serving/), so a cross-import would fail in the image."""
    crossing = [v for v in violations(PROJECT_ROOT) if v.startswith(f"{package}/")]
    assert crossing == []
