"""The CI runners in the VPC (CodeBuild-hosted GitHub Actions runners): where they run, what they may
run, and what their roles may do on the cluster."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from policy.common import as_list, of_type, resource_policy, stack_policy, targets

PROJECT = "aws:codebuild/project:Project"
WEBHOOK = "aws:codebuild/webhook:Webhook"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY_ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
READ_ONLY_ACCESS = ("AmazonEKSViewPolicy", "AmazonEKSAdminViewPolicy")
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


def _preview_runner_reads_only(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    """The preview runner runs pull requests' code: its role may read the cluster, never change it."""
    preview_roles = {urn for project in of_type(resources, PROJECT)
                     if str(project.props.get("name", "")).endswith("-preview-runner")
                     for urn in targets(project, "serviceRole")}
    entries = {e.urn for e in of_type(resources, ACCESS_ENTRY) if targets(e, "principalArn") & preview_roles}
    for association in of_type(resources, ACCESS_POLICY_ASSOCIATION):
        if not targets(association, "principalArn") & (entries | preview_roles):
            continue
        policy = str(association.props.get("policyArn", "")).rsplit("/", 1)[-1]
        if policy not in READ_ONLY_ACCESS:
            yield (f"access policy association {association.name} grants the preview runner {policy}; it runs "
                   f"pull requests' code, so only {' or '.join(READ_ONLY_ACCESS)}"), association


POLICIES = (
    resource_policy("ci-runner-in-vpc", "CI runners (CodeBuild projects) run in the VPC's subnets behind a "
                    "security group", (), (PROJECT,), _in_vpc),
    resource_policy("ci-runner-not-privileged", "CI runners never run privileged", ("SecurityHub:CodeBuild.5",),
                    (PROJECT,), _not_privileged),
    resource_policy("ci-runner-kms", "CI runners encrypt artifacts and logs with the stack's KMS key",
                    ("CKV_AWS_147",), (PROJECT,), _encrypted),
    resource_policy("ci-runner-webhook-filtered", "A CI runner's webhook takes only the named workflows' jobs",
                    (), (WEBHOOK,), _webhook_filtered),
    stack_policy("ci-preview-runner-read-only", "The preview runner (pull requests' code) only reads the cluster",
                 (), _preview_runner_reads_only),
)
