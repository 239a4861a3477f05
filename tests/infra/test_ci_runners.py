"""The CI runners in the VPC under Pulumi's mocks: two per stack, each with its own role and reach."""

from __future__ import annotations

import json
from typing import Any

from hoist.plan.recording import Plan, PlannedResource
from infra.components import ci_runners as runner
from tests.conftest import planned


def _named(plan: Plan, typ: str, name: str) -> PlannedResource:
    (found,) = [r for r in plan.of_type(typ) if r.name == name]
    return found


def _statements(plan: Plan, stack: str, kind: str) -> dict[str, dict[str, Any]]:
    policy = _named(plan, "aws:iam/rolePolicy:RolePolicy", f"hoist-{stack}-{kind}-runner")
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


def test_each_runner_is_a_project_in_the_private_subnets_behind_https_only(stack: str) -> None:
    plan = planned(stack)
    private = set(plan.outputs["private_subnet_ids"])
    group = _named(plan, "aws:ec2/securityGroup:SecurityGroup", f"hoist-{stack}-runner")
    assert group.inputs["ingress"] == []
    assert [(e["protocol"], e["fromPort"], e["toPort"]) for e in group.inputs["egress"]] == [("tcp", 443, 443)]
    for kind in ("deploy", "preview"):
        project = _named(plan, "aws:codebuild/project:Project", f"hoist-{stack}-{kind}-runner")
        assert project.inputs["name"] == runner.runner_project(stack, kind)
        assert set(project.inputs["vpcConfig"]["subnets"]) == private
        assert project.inputs["environment"]["privilegedMode"] is False
        assert project.inputs["encryptionKey"] == plan.outputs["kms_key_arn"]
        webhook = _named(plan, "aws:codebuild/webhook:Webhook", f"hoist-{stack}-{kind}-runner")
        assert webhook.inputs["filterGroups"] == [{"filters": [
            {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"},
            {"type": "WORKFLOW_NAME", "pattern": runner.workflow_pattern(kind)}]}]
    # The private endpoint's interfaces carry the cluster security group: it admits the runners on 443.
    rule = _named(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", f"hoist-{stack}-runner-to-api")
    assert group.urn in rule.property_dependencies["referencedSecurityGroupId"]
    assert (rule.inputs["fromPort"], rule.inputs["toPort"]) == (443, 443)


def test_the_preview_runner_reads_and_the_deploy_runner_writes(stack: str) -> None:
    plan = planned(stack)
    bucket = plan.config.ci_runner.state_bucket if plan.config.ci_runner else None
    assert bucket is not None
    deploy, preview = _statements(plan, stack, "deploy"), _statements(plan, stack, "preview")
    assert deploy["StateWrite"]["Resource"] == f"arn:aws:s3:::{bucket}/*"
    assert preview["StateWrite"]["Resource"] == f"arn:aws:s3:::{bucket}/.pulumi/locks/*"
    assert deploy["StateSecrets"]["Action"] == ["kms:Decrypt", "kms:Encrypt"]
    assert preview["StateSecrets"]["Action"] == ["kms:Decrypt"]
    access = {kind: _named(plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
                           f"hoist-{stack}-{kind}-runner").inputs["policyArn"] for kind in ("deploy", "preview")}
    assert access == {"deploy": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                      "preview": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"}
    for kind in ("deploy", "preview"):
        role = _named(plan, "aws:iam/role:Role", f"hoist-{stack}-{kind}-runner")
        (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": plan.config.allowed_account_ids[0]}}
