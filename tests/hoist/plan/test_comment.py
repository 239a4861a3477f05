"""The pull-request comment: what destroys or interrupts first, then cost, grants and changes; and
never longer than GitHub accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hoist.plan import comment, diff
from tests.conftest import planned
from tests.hoist.plan.documents import diff_after, document, edit_stack


def test_risks_come_first_with_what_they_mean_then_cost_grants_and_changes(stacks_copy: Path) -> None:
    def pull_request() -> None:
        edit_stack(stacks_copy, "staging", "      max_gpus: 8\n", "      max_gpus: 16\n      volume_gb: 400\n")
        edit_stack(stacks_copy, "staging", "model_key: llm/assistant-8b/2026-11-30/", "model_key: llm/v2/")

    data = diff_after("staging", pull_request)
    text = comment.markdown(data)

    headings = ["> [!WARNING]\n> **Drains GPU pool `a10g`.**", "> [!NOTE]\n> **Rolls out a new configuration",
                "| monthly cost |", "Where the delta comes from", "**Resources:**", "#### Permissions",
                "#### Changes"]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert text.index("**Drains GPU pool `a10g`.**") < text.index("| monthly cost |")
    assert "| GPU pool a10g (in_cluster) | 2 × g5.12xlarge on-demand: $8,281.12 | " \
           "4 × g5.12xlarge on-demand: $16,562.24 | +$8,281.12 | +$0.00 |" in text
    assert "| − | inline policy `hoist-staging-endpoint` | Allow | — | `s3:GetObject` |" in text
    assert "| ± | `hoist-staging-model` | AWS | `aws:sagemaker/model:Model` | **replace** |" in text


def test_a_new_stack_folds_its_long_tables_and_fits_a_comment() -> None:
    plan = planned("prod")
    data = diff.compare("prod", "main", None, document(plan))
    text = comment.markdown(data)
    assert "_Stack `prod` does not exist at `main`; everything below is new._" in text
    # Every resource is new, so the folded table lists them all (providers included).
    created = sum(r.custom for r in plan.resources)
    assert data["resources"]["create"] == created > 100
    assert f"<details><summary>{created} resource changes</summary>" in text
    assert len(text) <= comment.LIMIT


def test_an_oversized_comment_is_cut_with_a_pointer_to_the_json() -> None:
    data = diff.compare("prod", "main", None, document(planned("prod")))
    data["changes"] = data["changes"] * 40
    text = comment.markdown(data)
    assert len(text) <= comment.LIMIT + 200 and text.count("<details>") == text.count("</details>")
    assert text.endswith("`hoist plan --diff REF --json` has everything._\n")


def test_a_policy_rewritten_with_the_same_grants_says_so() -> None:
    def plan(statements: list[dict[str, Any]]) -> dict[str, Any]:
        policy = {"urn": "urn:p", "type": "aws:iam/rolePolicy:RolePolicy", "name": "trainer", "protect": False,
                  "retain_on_delete": False, "inputs": {"policy": json.dumps({"Statement": statements})}}
        return {"components": {"c": [policy]}, "resource_count": 1, "cost": {"lines": []},
                "policy": {"passed": True, "policies": [], "violations": []}}

    one: dict[str, Any] = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "r"}
    split: list[dict[str, Any]] = [{"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": ["r"]},
                                   {"Sid": "Write", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "r"}]
    text = comment.markdown(diff.compare("dev", "main", plan([one]), plan(split)))
    assert "| ~ | `trainer` | AWS | `aws:iam/rolePolicy:RolePolicy` | update | the policy is written differently; " \
           "same grants |" in text
    assert "#### Permissions" not in text


def test_a_shared_endpoint_change_shows_each_models_copies_and_the_idle_floor(stacks_copy: Path) -> None:
    def pull_request() -> None:
        edit_stack(stacks_copy, "dev", "        max_copies: 2\n      reference-int8:",
                   "        max_copies: 6\n      reference-int8:")

    text = comment.markdown(diff_after("dev", pull_request))
    section = text[text.index("#### Models on the shared endpoint\n"):text.index("**Resources:**")]
    assert "- reference (classic): 0-6 copies of 1 CPU, 2048 MiB, 0 GPU; 3 per ml.c5.xlarge; $0.00-$297.84/month" \
        in section
    assert "- idle floor: 0 instance(s) (0-2 managed)" in section
    unchanged = comment.markdown(diff.compare("dev", "main", document(planned("dev")), document(planned("dev"))))
    assert "#### Models on the shared endpoint (unchanged)" in unchanged
    assert "Models on the shared endpoint" not in comment.markdown(
        diff.compare("prod", "main", None, document(planned("prod"))))


def test_each_change_names_the_part_it_is_in() -> None:
    urn = "urn:pulumi:prod::hoist-in-cluster::hoist:in_cluster:InCluster$kubernetes:x::y"
    assert comment.part_of(urn) == "in-cluster"
    assert comment.part_of("urn:pulumi:prod::hoist::hoist:cluster:GpuCluster$aws:eks/cluster:Cluster::c") == "AWS"
