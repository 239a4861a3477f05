"""Shared fixtures: offline plans of every stack, computed once per session."""

from __future__ import annotations

import pytest

from infra import plan as plan_module
from infra.plan import Plan

STACKS = ("dev", "staging", "prod")
_cache: dict[tuple[str, bool], Plan] = {}


def planned(stack: str, preview: bool = False) -> Plan:
    """The plan of ``stack``; cached because every test only reads it."""
    key = (stack, preview)
    if key not in _cache:
        _cache[key] = plan_module.run(stack, preview=preview)
    return _cache[key]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name
