"""Budget: the stack's monthly AWS Budget, scoped to its own cost-allocation tag, with alerts."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import BudgetConfig


@dataclass(frozen=True, kw_only=True)
class BudgetArgs:
    config: BudgetConfig
    stack_tag: tuple[str, str]
    """The tag (key, value) that identifies this stack's spend; activate it as a cost-allocation tag."""


class Budget(pulumi.ComponentResource):
    budget: aws.budgets.Budget

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:budget:Budget", name, None, opts)
        key, value = args.stack_tag
        cfg = args.config
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
                    "subscriber_email_addresses": list(cfg.alert_emails),
                }
                # FORECASTED warns before the money is spent; ACTUAL confirms it was.
                for kind in ("FORECASTED", "ACTUAL")
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"budget_name": self.budget.name})
