"""Policy documents as grants: every (effect, principal, action, resource, condition) a statement
covers, so two versions compare as sets."""

from __future__ import annotations

import json

from hoist.plan import grants
from hoist.plan.grants import Grant


def test_a_statement_is_one_grant_per_principal_action_and_resource() -> None:
    document = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
        "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"], "Resource": "arn:aws:sqs:us-east-1:1:q",
        "Condition": {"StringEquals": {"aws:SourceAccount": "1"}, "ArnLike": {"aws:SourceArn": ["a", "b"]}}}]}
    found = grants.document_grants(json.dumps(document))
    condition = "ArnLike aws:SourceArn = [a, b]; StringEquals aws:SourceAccount = 1"
    assert found == {Grant("Allow", f"Service {service}", action, "arn:aws:sqs:us-east-1:1:q", condition)
                     for service in ("events.amazonaws.com", "sqs.amazonaws.com")
                     for action in ("sqs:SendMessage", "sqs:GetQueueUrl")}


def test_negations_and_the_anonymous_principal_are_kept_apart() -> None:
    found = grants.document_grants({"Statement": [
        {"Effect": "Deny", "Principal": "*", "NotAction": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "NotResource": "arn:aws:s3:::b/*", "Action": "s3:*"}]})
    assert found == {Grant("Deny", "*", "NotAction s3:GetObject", "*", ""),
                     Grant("Allow", "", "s3:*", "NotResource arn:aws:s3:::b/*", "")}


def test_wildcards_are_flagged_in_allows_only() -> None:
    assert Grant("Allow", "*", "s3:Get*", "arn:aws:s3:::b/*", "").wildcards == ("principal", "action", "resource")
    assert Grant("Allow", "", "s3:GetObject", "arn:aws:s3:::b", "").wildcards == ()
    # A wildcard in a Deny denies more, never grants more.
    assert Grant("Deny", "*", "s3:*", "*", "").wildcards == ()


def _policy(document: object, urn: str = "urn:a") -> dict[str, object]:
    return {"urn": urn, "name": "role-policy", "type": "aws:iam/rolePolicy:RolePolicy",
            "inputs": {"policy": json.dumps(document)}}


def test_a_change_lists_what_is_granted_and_revoked_and_nothing_else() -> None:
    before = _policy({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "r"}]})
    after = _policy({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "r"}]})
    change = grants.change(before, after)
    assert change is not None and change.kind == "inline policy"
    assert change.added == (Grant("Allow", "", "s3:PutObject", "r", ""),)
    assert change.removed == (Grant("Allow", "", "s3:ListBucket", "r", ""),)
    # The same grants written differently are no change.
    reordered = _policy({"Statement": [{"Action": ["s3:PutObject"], "Resource": ["r"], "Effect": "Allow"},
                                       {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "r"}]})
    assert grants.change(after, reordered) is None
    # A new policy grants all it says; a removed one revokes it.
    created = grants.change(None, after)
    assert created is not None and len(created.added) == 2 and created.removed == ()


def test_an_attached_managed_policy_is_named_and_a_document_known_only_after_apply_is_said_so() -> None:
    attachment = {"urn": "urn:b", "name": "nodes", "type": grants.ATTACHMENT,
                  "inputs": {"policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "role": "r"}}
    change = grants.change(None, attachment)
    assert change is not None and change.kind == "managed policy attachment"
    assert [g.action for g in change.added] == ["everything in managed policy AmazonEKSWorkerNodePolicy"]
    unknown = {**_policy({}), "inputs": {"policy": "(known after apply)"}}
    assert grants.grants(unknown) == {Grant("", "", grants.UNREADABLE, "", "")}
