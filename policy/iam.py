"""IAM least-privilege controls: no wildcard actions, no administrator or *FullAccess policies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policy.common import as_list, resource_policy, statements

POLICY_DOCUMENT_TYPES = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/role:Role",
)


def _wildcard_actions(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    for statement in statements(props.get(POLICY_DOCUMENT_TYPES[args.resource_type])):
        if statement.get("Effect") != "Allow":
            continue
        for action in as_list(statement.get("Action")):
            if action == "*" or str(action).endswith(":*"):
                yield f"statement {statement.get('Sid', '(no Sid)')} allows every action of a service: {action!r}"
        if statement.get("NotAction") is not None:
            yield f"statement {statement.get('Sid', '(no Sid)')} uses Allow with NotAction"


def _is_broad_managed_policy(arn: str) -> bool:
    name = arn.rsplit("/", 1)[-1]
    return ":aws:policy/" in arn and (name in ("AdministratorAccess", "PowerUserAccess") or name.endswith("FullAccess"))


def _no_admin_policies(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    arns = as_list(props.get("policyArn")) + as_list(props.get("managedPolicyArns"))
    for arn in arns:
        if _is_broad_managed_policy(str(arn)):
            yield f"AWS managed policy {arn} grants far more than any hoist workload needs"


POLICIES = (
    resource_policy("iam-no-wildcard-actions", "IAM policies name their actions; no '*' or 'service:*'",
                    ("CKV_AWS_63", "CKV_AWS_290", "SecurityHub:IAM.21"), tuple(POLICY_DOCUMENT_TYPES),
                    _wildcard_actions),
    resource_policy("iam-no-admin-policies", "No AdministratorAccess, PowerUserAccess or *FullAccess policies",
                    ("CKV_AWS_274", "SecurityHub:IAM.1"), ATTACHMENT_TYPES, _no_admin_policies),
)
