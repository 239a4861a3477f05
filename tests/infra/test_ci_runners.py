"""The CI runners in the VPC under Pulumi's mocks: two per stack, each with its own role and reach."""

from __future__ import annotations

import json
from typing import Any

from hoist.plan import cost
from hoist.plan.recording import Plan, PlannedResource
from infra import catalog
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


def test_a_runner_role_may_run_codebuild_in_the_vpc_and_nothing_more(stack: str) -> None:
    """The job's identity is the stack's CI role by OIDC; the runner's own role reaches neither the
    cluster nor the state, whatever workflow lands on it."""
    plan = planned(stack)
    runner_config = plan.config.ci_runner
    assert runner_config is not None
    key = plan.outputs["kms_key_arn"]
    for kind in ("deploy", "preview"):
        statements = _statements(plan, stack, kind)
        assert set(statements) == {"Logs", "VpcDescribe", "VpcInterfaces", "GitHubConnection", "StackKey"}
        actions = {a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str)
                                                             else s["Action"])}
        assert not {a for a in actions if a.split(":")[0] in ("eks", "s3", "sts", "iam", "secretsmanager")}
        assert statements["GitHubConnection"] == {
            "Sid": "GitHubConnection", "Effect": "Allow", "Resource": runner_config.connection_arn,
            "Action": ["codeconnections:GetConnectionToken", "codeconnections:GetConnection"]}
        assert statements["StackKey"]["Resource"] == key
        condition = statements["VpcInterfaces"]["Condition"]["StringEquals"]
        assert condition["ec2:AuthorizedService"] == "codebuild.amazonaws.com"
        assert {arn.rsplit("/", 1)[1] for arn in condition["ec2:Subnet"]} == set(plan.outputs["private_subnet_ids"])
        group = f"/aws/codebuild/{runner.runner_project(stack, kind)}"
        assert statements["Logs"]["Resource"].endswith(f":log-group:{group}:*")
        role = _named(plan, "aws:iam/role:Role", f"hoist-{stack}-{kind}-runner")
        (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": plan.config.allowed_account_ids[0]}}
        # No access entry names the runner's role: the cluster's entries are the CI roles'.
        for entry in plan.of_type("aws:eks/accessEntry:AccessEntry"):
            assert role.urn not in entry.property_dependencies.get("principalArn", []), entry.name
    principals = {e.inputs["principalArn"] for e in plan.of_type("aws:eks/accessEntry:AccessEntry")}
    assert {plan.config.cluster.ci_deploy_role_arn, plan.config.cluster.ci_preview_role_arn} <= principals


def test_each_runner_costs_nothing_idle_and_is_priced_per_build_minute_at_maximum(stack: str) -> None:
    """CodeBuild bills only while a job runs; the maximum is an assumed count of jobs at the build timeout."""
    plan = planned(stack)
    lines = {line.subject: line for line in cost.estimate(plan).lines if line.subject.startswith("CI runner ")}
    assert set(lines) == {f"CI runner {runner.runner_project(stack, kind)}" for kind in ("deploy", "preview")}
    compute_type = plan.config.ci_runner.compute_type if plan.config.ci_runner else ""
    for line in lines.values():
        assert line.monthly_idle_usd == 0 and line.unit_price == catalog.CODEBUILD_BUILD_MINUTE[compute_type]
        minutes = catalog.CI_RUNNER_RUNS_PER_MONTH * runner.BUILD_TIMEOUT_MINUTES
        assert line.monthly_max_usd == minutes * line.unit_price.usd > 0
        assert "assumed" in line.item and line.unit_price.cite().startswith(catalog.UNVERIFIED)
