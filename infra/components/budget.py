"""Budget: the stack's monthly AWS Budget, scoped to its own cost-allocation tag, and the stack's alerts topic.

The alerts topic is encrypted with the stack's key; the budget and the endpoint's rollback alarms
publish to it, and each of ``hoist:budget.alert_emails`` is subscribed (each address confirms once).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.iam import document
from infra.config import BudgetConfig

ALERT_PUBLISHERS = ("cloudwatch.amazonaws.com", "budgets.amazonaws.com")
"""Services that publish to the alerts topic: its key policy and its topic policy must both let them."""


@dataclass(frozen=True, kw_only=True)
class BudgetArgs:
    config: BudgetConfig
    stack_tag: tuple[str, str]
    """The tag (key, value) that identifies this stack's spend; activate it as a cost-allocation tag."""
    kms_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]


class Budget(pulumi.ComponentResource):
    budget: aws.budgets.Budget
    alerts: aws.sns.Topic

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:budget:Budget", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key, value = args.stack_tag
        cfg = args.config
        self.alerts = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=args.kms_key_arn, opts=child)
        aws.sns.TopicPolicy(f"{name}-alerts", arn=self.alerts.arn, policy=document(*(
            {"Sid": f"Publish{service.split('.')[0].title()}", "Effect": "Allow", "Principal": {"Service": service},
             "Action": "sns:Publish", "Resource": self.alerts.arn,
             "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}}}
            for service in ALERT_PUBLISHERS)), opts=child)
        for i, email in enumerate(cfg.alert_emails):
            aws.sns.TopicSubscription(f"{name}-alerts-{i}", topic=self.alerts.arn, protocol="email", endpoint=email,
                                      opts=child)
        self.budget = aws.budgets.Budget(
            name,
            name=name,
            budget_type="COST",
            limit_amount=f"{cfg.monthly_limit_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filters=[{"name": "TagKeyValue", "values": [f"user:{key}${value}"]}],
            notifications=[
                {
                    "comparison_operator": "GREATER_THAN",
                    "threshold": cfg.alert_threshold_percent,
                    "threshold_type": "PERCENTAGE",
                    "notification_type": kind,
                    "subscriber_sns_topic_arns": [self.alerts.arn],
                }
                # FORECASTED warns before the money is spent; ACTUAL confirms it was.
                for kind in ("FORECASTED", "ACTUAL")
            ],
            opts=child,
        )
        self.register_outputs({"budget_name": self.budget.name, "alerts_topic_arn": self.alerts.arn})
