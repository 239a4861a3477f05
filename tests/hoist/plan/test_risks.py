"""Karpenter's drift rules and the identity rule of replacements, on the objects hoist builds."""

from __future__ import annotations

import copy
from typing import Any

from hoist.plan import changes, diff, risks
from infra.config import GpuPoolConfig
from infra.kube.karpenter import node_class, node_pool

POOL = GpuPoolConfig(instance_types=("g5.12xlarge",), capacity_type="on-demand", max_gpus=8)


def _pool(**changes_to: Any) -> dict[str, Any]:
    spec: dict[str, Any] = node_pool("a10g", POOL.model_copy(update=changes_to), ("us-east-1a", "us-east-1b"))["spec"]
    return spec


def _class(subnets: list[str], **changes_to: Any) -> dict[str, Any]:
    spec: dict[str, Any] = node_class("a10g", POOL.model_copy(update=changes_to), node_role="role",
                                      subnet_ids=subnets, security_group_id="sg-1", kms_key_arn="arn:key",
                                      tags={})["spec"]
    return spec


def test_a_pools_behavioural_fields_and_widened_requirements_do_not_drift() -> None:
    assert risks.node_pool_drift(_pool(), _pool(max_gpus=64)) == []
    assert risks.node_pool_drift(_pool(), _pool(instance_types=("g5.12xlarge", "g5.48xlarge"))) == []
    consolidating = copy.deepcopy(_pool())
    consolidating["disruption"]["consolidateAfter"] = "1h"
    assert risks.node_pool_drift(_pool(), consolidating) == []


def test_narrowed_requirements_and_template_changes_drift() -> None:
    (narrowed,) = risks.node_pool_drift(_pool(instance_types=("g5.12xlarge", "g5.48xlarge")), _pool())
    assert narrowed.path == "spec.template.spec.requirements[node.kubernetes.io/instance-type]"
    assert (narrowed.before, narrowed.after) == (["g5.12xlarge", "g5.48xlarge"], ["g5.12xlarge"])
    (capacity,) = risks.node_pool_drift(_pool(), _pool(capacity_type="spot"))
    assert capacity.after == ["spot"]
    labelled = risks.node_pool_drift(_pool(), _pool(efa=True))
    assert [leaf.path for leaf in labelled] == ["spec.template.metadata.labels.hoist.dev/efa"]


def test_node_class_subnets_added_keep_nodes_and_subnets_removed_drift_them() -> None:
    assert risks.node_class_drift(_class(["a"]), _class(["a", "b"])) == []
    assert [leaf.path for leaf in risks.node_class_drift(_class(["a", "b"]), _class(["a"]))] == [
        "spec.subnetSelectorTerms"]
    assert [leaf.path for leaf in risks.node_class_drift(_class(["a"]), _class(["a"], volume_gb=400))] == [
        "spec.blockDeviceMappings[0].ebs.volumeSize"]


def _resource(urn: str, typ: str, inputs: dict[str, Any], sources: dict[str, list[str]] | None = None,
              ) -> dict[str, Any]:
    return {"urn": urn, "type": typ, "name": urn, "inputs": inputs, "protect": False, "retain_on_delete": False,
            **({"input_sources": sources} if sources else {})}


def _plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"components": {"c": list(resources)}, "resource_count": len(resources), "cost": {"lines": []},
            "policy": {"passed": True, "policies": [], "violations": []}}


KEY, REPO, POLICY = "aws:kms/key:Key", "aws:ecr/repository:Repository", "aws:ecr/lifecyclePolicy:LifecyclePolicy"


def test_a_replaced_resource_that_keeps_its_name_goes_no_further() -> None:
    """A new key has a new ARN: the repository encrypted with it is replaced. The repository keeps
    its explicit name, so its lifecycle policy, which reads only the name, is untouched."""
    def plan(spec: str) -> dict[str, Any]:
        return _plan(
            _resource("key", KEY, {"customerMasterKeySpec": spec}),
            _resource("repo", REPO, {"name": "hoist/training", "encryptionConfigurations": [{"kmsKey": "arn:k"}]},
                      {"encryptionConfigurations": ["key"]}),
            _resource("policy", POLICY, {"repository": "hoist/training", "policy": "{}"}, {"repository": ["repo"]}))

    found = changes.between(plan("SYMMETRIC_DEFAULT"), plan("RSA_4096"))
    assert [(c.action, c.urn) for c in found] == [("replace", "key"), ("replace", "repo")]
    assert found[1].caused_by == {"encryptionConfigurations": "key"}
    data = diff.compare("prod", "main", plan("SYMMETRIC_DEFAULT"), plan("RSA_4096"))
    assert [r["title"] for r in data["risks"]] == ["Replaces KMS key `key`, which holds data",
                                                   "Replaces ECR repository `repo`, which holds data"]
