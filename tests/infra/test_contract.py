"""The one output the AWS side hands the in-cluster side: complete in every stack's plan, and a
mismatch is one line naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hoist import cli
from hoist.errors import CommandFailed
from hoist.plan import recording
from hoist.plan.mocks import StackMocks
from infra.contract import IN_CLUSTER_OUTPUT, IN_CLUSTER_PROJECT, ContractError, InClusterInputs, aws_stack_name
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


def _record_with_aws_output(monkeypatch: pytest.MonkeyPatch,
                            change: Callable[[dict[str, Any]], dict[str, Any]]) -> str:
    """Run both programs as `hoist plan` does, with the AWS side's outputs changed on their way to the
    in-cluster side's StackReference; return how `hoist plan` ends."""
    run = recording._run_isolated

    def changed(plan: recording.Plan, main: Callable[[], None], project: str,
                references: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
        if project == IN_CLUSTER_PROJECT:
            references = {name: change(dict(outputs)) for name, outputs in references.items()}
        return run(plan, main, project, references)

    monkeypatch.setattr(recording, "_run_isolated", changed)
    with pytest.raises(CommandFailed) as failed:
        recording.record("dev")
    return str(failed.value)


def test_an_aws_side_not_yet_applied_is_one_line_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """get_output lets a missing output reach the contract's own message; a RunError carries no traceback."""
    message = _record_with_aws_output(monkeypatch, lambda outputs: {k: v for k, v in outputs.items()
                                                                     if k != IN_CLUSTER_OUTPUT})
    assert message == ("in-cluster side of dev: stack output 'in_cluster' of project 'hoist' is missing; apply the "
                       "AWS side first (pulumi up in the repository root)")


def test_a_stale_aws_output_is_one_line_naming_the_field(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    def stale(outputs: dict[str, Any]) -> dict[str, Any]:
        return {**outputs, IN_CLUSTER_OUTPUT: {**outputs[IN_CLUSTER_OUTPUT], "endpoint": "http://plain"}}

    message = _record_with_aws_output(monkeypatch, stale)
    assert "\n" not in message and message.startswith("in-cluster side of dev: stack output in_cluster.endpoint: ")
    # `hoist plan` prints it as its one line of error.
    assert cli.main(["plan", "--stack", "dev"]) == 1
    assert capsys.readouterr().err == f"hoist: error: {message}\n"
