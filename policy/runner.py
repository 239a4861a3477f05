"""The CI runners in the VPC (CodeBuild-hosted GitHub Actions runners): where they run, what they may
run, and that their own roles reach neither the cluster nor the state. A runner's webhook cannot
filter by branch, so any branch's workflow of the right name lands on it; the jobs' power comes from
the CI roles they assume by OIDC, which the GitHub environment gates (README, "First apply from an
empty account")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from policy.common import as_list, of_type, resource_policy, stack_policy, statements, targets

PROJECT = "aws:codebuild/project:Project"
WEBHOOK = "aws:codebuild/webhook:Webhook"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
STATE_AND_IDENTITY = ("s3", "eks", "sts", "secretsmanager", "ssm", "iam")
"""Services a runner's own role never needs: the state backend (S3), the cluster (EKS), another identity
(STS, IAM), secrets. CodeBuild needs only EC2 interfaces, its logs, the stack key and the connection."""
# CodeBuild applies these to push and pull-request events only; on a runner's workflow job they
# would not filter at all (catalog.API_RULES["codebuild-workflow-job-filters"]).
NOT_FOR_WORKFLOW_JOBS = ("HEAD_REF", "BASE_REF", "FILE_PATH", "COMMIT_MESSAGE", "TAG_NAME", "RELEASE_NAME")


def _in_vpc(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    vpc = props.get("vpcConfig") or {}
    if not vpc.get("vpcId") or not as_list(vpc.get("subnets")) or not as_list(vpc.get("securityGroupIds")):
        yield (f"CodeBuild project {props.get('name')} runs outside the VPC: set vpcConfig (vpcId, the private "
               "subnets, a security group), or it cannot reach the private API and bypasses the VPC's controls")


def _not_privileged(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if (props.get("environment") or {}).get("privilegedMode"):
        yield (f"CodeBuild project {props.get('name')} runs privileged (root on its build host); the runners "
               "build no images")


def _encrypted(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    key = str(props.get("encryptionKey") or "")
    if not key.startswith("arn:") or ":key/" not in key:
        yield (f"CodeBuild project {props.get('name')} encrypts its artifacts and logs with no customer-managed "
               "KMS key; set encryptionKey to the stack's key ARN")


def _webhook_filtered(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    groups = as_list(props.get("filterGroups"))
    if not groups:
        yield f"webhook of {props.get('projectName')} has no filter group: every event of the repository starts a build"
    for index, group in enumerate(groups):
        filters = {str(f.get("type")): str(f.get("pattern")) for f in as_list((group or {}).get("filters"))}
        if filters.get("EVENT") != "WORKFLOW_JOB_QUEUED":
            yield (f"webhook of {props.get('projectName')}, filter group {index}: a runner takes WORKFLOW_JOB_QUEUED "
                   "events only")
        if not filters.get("WORKFLOW_NAME"):
            yield (f"webhook of {props.get('projectName')}, filter group {index}: name the workflows it runs "
                   "(WORKFLOW_NAME), or any workflow of the repository gets the runner's role")
        for kind in sorted(set(filters) & set(NOT_FOR_WORKFLOW_JOBS)):
            yield (f"webhook of {props.get('projectName')}, filter group {index}: CodeBuild applies {kind} to push "
                   "and pull-request events only, so it restricts nothing on a workflow job")


def _runner_roles(resources: list[PolicyResource]) -> set[str]:
    return {urn for project in of_type(resources, PROJECT) for urn in targets(project, "serviceRole")}


def _runner_no_cluster_access(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    """Any branch's workflow named like a runner's lands on it: its role must not be a cluster principal."""
    roles = _runner_roles(resources)
    for entry in of_type(resources, ACCESS_ENTRY):
        if targets(entry, "principalArn") & roles:
            yield (f"access entry {entry.name} names a CI runner's service role: any branch's workflow of the "
                   "runner's name would hold that access; grant it to the CI roles the jobs assume by OIDC "
                   "(hoist:cluster.ci_deploy_role_arn, ci_preview_role_arn)"), entry


def _actions(statement: Any) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action")) + as_list(statement.get("NotAction"))]


def _runner_no_state_access(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    roles = _runner_roles(resources)
    for policy in of_type(resources, ROLE_POLICY):
        if not targets(policy, "role") & roles:
            continue
        for statement in statements(policy.props.get("policy")):
            if statement.get("Effect") != "Allow":
                continue
            for action in _actions(statement):
                if action == "*" or action.split(":")[0].lower() in STATE_AND_IDENTITY:
                    yield (f"role policy {policy.name} of a CI runner grants {action}: the runner's role is "
                           "CodeBuild's (interfaces, logs, the stack key, the connection); the state and the "
                           "cluster belong to the CI roles the jobs assume by OIDC"), policy
    for attachment in of_type(resources, ROLE_POLICY_ATTACHMENT):
        if targets(attachment, "role") & roles:
            yield (f"{attachment.name} attaches {attachment.props.get('policyArn')} to a CI runner's role; its "
                   "one inline policy says all it may do"), attachment


POLICIES = (
    resource_policy("ci-runner-in-vpc", "CI runners (CodeBuild projects) run in the VPC's subnets behind a "
                    "security group", (), (PROJECT,), _in_vpc),
    resource_policy("ci-runner-not-privileged", "CI runners never run privileged", ("SecurityHub:CodeBuild.5",),
                    (PROJECT,), _not_privileged),
    resource_policy("ci-runner-kms", "CI runners encrypt artifacts and logs with the stack's KMS key",
                    ("CKV_AWS_147",), (PROJECT,), _encrypted),
    resource_policy("ci-runner-webhook-filtered", "A CI runner's webhook takes only the named workflows' jobs",
                    (), (WEBHOOK,), _webhook_filtered),
    stack_policy("ci-runner-no-cluster-access", "No CI runner's own role holds an EKS access entry (the jobs "
                 "assume the CI roles by OIDC)", (), _runner_no_cluster_access),
    stack_policy("ci-runner-no-state-access", "No CI runner's own role reaches the state backend, the cluster or "
                 "another identity (S3, EKS, STS, IAM, secrets)", (), _runner_no_state_access),
)
