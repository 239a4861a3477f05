"""teardown.yml's questions about the in-cluster state: is there anything to destroy, is nothing left."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from hoist import stack_state
from infra.stack_files import PROJECT_ROOT
from tests.conftest import planned

STACK = "urn:pulumi:dev::hoist-in-cluster::pulumi:pulumi:Stack::hoist-in-cluster-dev"
BOOKKEEPING = [
    {"urn": STACK, "type": "pulumi:pulumi:Stack"},
    {"urn": "urn:pulumi:dev::hoist-in-cluster::pulumi:pulumi:StackReference::aws",
     "type": "pulumi:pulumi:StackReference"},
    {"urn": "urn:pulumi:dev::hoist-in-cluster::pulumi:providers:kubernetes::cluster",
     "type": "pulumi:providers:kubernetes"},
]


def export(resources: list[dict[str, Any]]) -> str:
    """The shape `pulumi stack export` writes (version 3)."""
    return json.dumps({"version": 3, "deployment": {"manifest": {}, "resources": resources}})


def run(mode: str, document: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hoist.stack_state", mode], input=document, text=True,
                          capture_output=True, cwd=PROJECT_ROOT)


def test_a_stack_of_bookkeeping_only_holds_nothing() -> None:
    """What a destroyed stack, or a first apply that failed before its first object, leaves."""
    for document in (export(BOOKKEEPING), export([]), json.dumps({"version": 3, "deployment": {}})):
        assert run("holds", document).stdout == "holds=false\n"
        assert run("empty", document).returncode == 0


def test_live_kubernetes_objects_hold_the_teardown_and_are_named_in_one_line() -> None:
    objects = [{"urn": r.urn, "type": r.type} for r in planned("dev").resources
               if r.part == "in-cluster" and r.custom and not r.type.startswith("pulumi:providers:")]
    assert any(o["type"] == "kubernetes:karpenter.sh/v1:NodePool" for o in objects)
    document = export(BOOKKEEPING + objects)
    assert run("holds", document).stdout == "holds=true\n"
    refused = run("empty", document)
    assert refused.returncode == 1
    (line,) = refused.stderr.splitlines()
    assert f"still holds {len(objects)} resources" in line and objects[0]["urn"].rsplit("::", 1)[-1] in line


def test_input_that_is_not_an_export_is_refused() -> None:
    assert run("empty", "Error: no stack named 'dev' found").returncode == 2
    assert run("nothing", export([])).returncode == 2
    assert stack_state.describe([f"urn:x::t::n{i}" for i in range(7)], shown=2) == "n0, n1 and 5 more"
