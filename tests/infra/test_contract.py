"""The one output the AWS side hands the in-cluster side: complete in every stack's plan, and a
mismatch is one line naming the field."""

from __future__ import annotations

import pytest

from hoist.plan.mocks import StackMocks
from infra.contract import IN_CLUSTER_OUTPUT, ContractError, InClusterInputs, aws_stack_name
from tests.conftest import planned


def test_every_stack_exports_the_contract_the_in_cluster_side_reads(stack: str) -> None:
    plan = planned(stack)
    contract = InClusterInputs.parse(plan.outputs[IN_CLUSTER_OUTPUT])
    assert contract.cluster_name == f"hoist-{stack}"
    assert set(contract.pool_subnets) == set(plan.config.gpu_pools)
    assert (contract.fsx is not None) == (plan.config.cluster.fsx is not None)
    assert (contract.training_image is not None) == (plan.config.images.training is not None)
    # Nothing secret crosses: the in-cluster side needs no secrets provider to read it.
    assert "kubeconfig" not in plan.outputs[IN_CLUSTER_OUTPUT]


def test_a_missing_or_stale_contract_is_one_line_naming_the_field(stack: str) -> None:
    good = dict(planned(stack).outputs[IN_CLUSTER_OUTPUT])
    with pytest.raises(ContractError, match=r"^stack output in_cluster\.endpoint: .*re-apply the AWS side"):
        InClusterInputs.parse({**good, "endpoint": "http://plain"})
    with pytest.raises(ContractError, match=r"in_cluster\.cluster_name: Field required"):
        InClusterInputs.parse({k: v for k, v in good.items() if k != "cluster_name"})
    with pytest.raises(ContractError, match="apply the AWS side first"):
        InClusterInputs.parse(None)


def test_the_stack_reference_reads_only_a_recorded_stack() -> None:
    mocks = StackMocks(account_id="111122223333", region="us-east-1", preview=True,
                       stack_outputs={aws_stack_name("organization", "dev"): {"x": 1}})
    assert aws_stack_name("organization", "dev") == "organization/hoist/dev"
    args = type("Args", (), {"typ": "pulumi:pulumi:StackReference", "name": "r",
                             "inputs": {"name": "organization/hoist/dev"}})()
    assert mocks.new_resource(args)[1]["outputs"] == {"x": 1}
    args.inputs = {"name": "organization/hoist/prod"}
    with pytest.raises(KeyError, match="no recorded stack 'organization/hoist/prod'"):
        mocks.new_resource(args)
