"""Rewrite each image's ``requirements.txt`` from ``pyproject.toml``: ``python -m tools.requirements``."""

from __future__ import annotations

import sys
from pathlib import Path

from hoist.release.images import PYTHON_PARTS, requirements_text
from infra.stack_files import PROJECT_ROOT


def write_requirements(root: Path = PROJECT_ROOT) -> list[Path]:
    written = []
    for part in PYTHON_PARTS:
        path = root / part / "requirements.txt"
        path.write_text(requirements_text(part, root))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_requirements():
        print(f"wrote {path.relative_to(PROJECT_ROOT)}")
    sys.exit(0)
