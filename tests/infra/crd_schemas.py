"""Upstream CRD schemas as data: the JSON files under ``schemas/``, each with its source, version and
sha256 in ``schemas/SOURCES.json``. They are the OpenAPI schemas of the custom resources as the
datreeio/CRDs-catalog publishes them (``additionalProperties: false`` added); the CEL rules
(``x-kubernetes-validations``) are evaluated only by the API server and are ignored here."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).parent / "schemas"


@cache
def sources() -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = json.loads((SCHEMAS / "SOURCES.json").read_text())
    return loaded


def load(name: str) -> dict[str, Any]:
    """The schema ``name`` (a path under schemas/), refused if its bytes are not the recorded ones."""
    data = (SCHEMAS / name).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sources()[name]["sha256"]:
        raise AssertionError(f"{name}: sha256 {digest} is not the recorded {sources()[name]['sha256']}")
    schema: dict[str, Any] = json.loads(data)
    return schema


NODE_POOL = load("karpenter.sh/nodepool_v1.json")
EC2_NODE_CLASS = load("karpenter.k8s.aws/ec2nodeclass_v1.json")
