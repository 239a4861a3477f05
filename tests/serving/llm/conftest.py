"""The LLM engine tier (vLLM's CPU build started once per session on a tiny checkpoint built here) lives in
tests/conftest.py, so `hoist deploy`'s chat check shares the same engine."""

from __future__ import annotations

from tests.conftest import SERVED

__all__ = ["SERVED"]
