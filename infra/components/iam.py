"""Small helpers for IAM and resource policy documents, built as JSON outputs.

Documents are assembled with ``Output.json_dumps`` rather than the ``get_policy_document`` invoke,
so the policy pack and the tests see the final JSON in the resource's inputs.
"""

from __future__ import annotations

from typing import Any

import pulumi


def document(*statements: dict[str, Any]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service_trust(service: str, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """A trust policy for an AWS service, limited to this account (confused-deputy protection)."""
    return document({
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    })
