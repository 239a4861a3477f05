"""The SageMaker endpoint of every stack under mocks: least privilege, isolation, safe rollouts,
autoscaling that a rollout cannot reset, alarms bound to the endpoint, and its cost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hoist.outputs import StackOutputs
from hoist.plan import cost
from hoist.plan.recording import Plan, PlannedResource
from infra import catalog
from infra.stack_files import load_stack
from tests.conftest import STACKS, planned

ENDPOINT = "aws-native:sagemaker:Endpoint"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
CLASSIC = [s for s in STACKS if (e := load_stack(s).endpoint) is not None and e.engine == "classic"]
"""Stacks whose endpoint runs the classic serving image (tests/infra/test_llm_endpoint.py covers vLLM's)."""
classic = pytest.mark.parametrize("stack", CLASSIC)


def one(plan: Plan, typ: str) -> PlannedResource:
    found = plan.of_type(typ)
    assert len(found) == 1, f"expected one {typ}, found {len(found)}"
    return found[0]


def role_statements(plan: Plan) -> dict[str, dict[str, Any]]:
    policy = next(r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.component == "hoist:endpoint:Endpoint")
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


@classic
def test_model_runs_the_serving_image_by_digest_isolated_in_private_subnets(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    model = one(plan, "aws:sagemaker/model:Model")
    outputs = StackOutputs.model_validate(plan.outputs)
    assert model.inputs["primaryContainer"]["image"] == f"{outputs.repositories['serving']}@{cfg.images.serving}"
    assert model.inputs["primaryContainer"]["image"] == outputs.images["serving"]
    assert cfg.endpoint is not None
    assert model.inputs["primaryContainer"]["modelDataUrl"] == (
        f"s3://{outputs.buckets['models'].name}/{cfg.endpoint.model_key}")
    assert model.inputs["enableNetworkIsolation"] is True
    assert sorted(model.inputs["vpcConfig"]["subnets"]) == sorted(outputs.private_subnet_ids)


@classic
def test_role_may_do_only_what_serving_needs(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    outputs = StackOutputs.model_validate(plan.outputs)
    statements = role_statements(plan)
    assert set(statements) == {"PullServingImage", "RegistryLogin", "ReadModel", "WriteDataCapture", "UseStackKey",
                               "WriteLogs", "VpcPlacement"}
    for statement in statements.values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions)
    serving_arn = f"arn:aws:ecr:us-east-1:{outputs.account_id}:repository/hoist/serving"
    assert statements["PullServingImage"]["Resource"] == serving_arn
    assert cfg.endpoint is not None
    models = outputs.buckets["models"].arn
    assert statements["ReadModel"] == {"Sid": "ReadModel", "Effect": "Allow", "Action": "s3:GetObject",
                                       "Resource": f"{models}/runs/reference/*"}
    assert statements["WriteDataCapture"]["Resource"] == f"{models}/data-capture/hoist-{stack}/*"
    assert statements["UseStackKey"]["Resource"] == outputs.kms_key_arn
    role = next(r for r in plan.of_type("aws:iam/role:Role") if r.component == "hoist:endpoint:Endpoint")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": outputs.account_id}}
    assert not role.inputs.get("managedPolicyArns")


@classic
def test_endpoint_config_is_auto_named_encrypted_with_a_fixed_variant(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    config = one(plan, CONFIG)
    assert cfg.endpoint is not None
    assert "name" not in config.inputs, "auto-named, so a change creates a new configuration"
    (variant,) = config.inputs["productionVariants"]
    assert variant["variantName"] == "primary"
    assert variant["instanceType"] == cfg.endpoint.instance_type
    assert variant["initialInstanceCount"] == cfg.endpoint.min_instances
    assert variant["containerStartupHealthCheckTimeoutInSeconds"] == cfg.endpoint.startup_health_check_timeout_s
    # CreateEndpointConfig fails with a KmsKeyId on an instance type with local NVMe (encrypted by the hardware).
    if catalog.has_local_nvme(cfg.endpoint.instance_type):
        assert "kmsKeyArn" not in config.inputs
    else:
        assert config.inputs["kmsKeyArn"] == StackOutputs.model_validate(plan.outputs).kms_key_arn
    capture = config.inputs.get("dataCaptureConfig")
    if cfg.endpoint.data_capture_percent:
        assert capture is not None
        assert capture["initialSamplingPercentage"] == cfg.endpoint.data_capture_percent
        assert capture["destinationS3Uri"].endswith(f"/data-capture/hoist-{stack}")
    else:
        assert capture is None


@classic
def test_rollout_is_blue_green_guarded_by_bound_alarms_and_keeps_capacity(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    assert cfg.endpoint is not None
    endpoint = one(plan, ENDPOINT)
    assert "$pulumi:providers:aws-native::" in endpoint.provider
    assert endpoint.inputs["endpointName"] == f"hoist-{stack}"
    assert endpoint.inputs["retainAllVariantProperties"] is True
    policy = endpoint.inputs["deploymentConfig"]["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    assert routing["type"] == {"canary": "CANARY", "linear": "LINEAR", "all_at_once": "ALL_AT_ONCE"}[
        cfg.endpoint.traffic_shifting]
    if cfg.endpoint.traffic_shifting != "all_at_once":
        size = routing["canarySize" if cfg.endpoint.traffic_shifting == "canary" else "linearStepSize"]
        assert size == {"type": "CAPACITY_PERCENT", "value": cfg.endpoint.step_percent}
    assert policy["terminationWaitInSeconds"] == cfg.endpoint.final_bake_s
    alarms = {a.inputs["name"]: a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    rollback = [a["alarmName"] for a in endpoint.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]
    assert len(rollback) >= 2
    for name in rollback:
        assert alarms[name].inputs["dimensions"] == {"EndpointName": f"hoist-{stack}", "VariantName": "primary"}
        assert alarms[name].urn in endpoint.dependencies, "alarms exist before the endpoint names them"
    latency = alarms[f"hoist-{stack}-primary-p99-latency"].inputs
    assert latency["extendedStatistic"] == "p99" and latency["threshold"] == cfg.endpoint.latency_p99_alarm_ms * 1000


@classic
def test_autoscaling_tracks_invocations_after_the_endpoint_exists(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    assert cfg.endpoint is not None
    target = one(plan, "aws:appautoscaling/target:Target")
    assert target.inputs["resourceId"] == f"endpoint/hoist-{stack}/variant/primary"
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (
        cfg.endpoint.min_instances, cfg.endpoint.max_instances)
    assert one(plan, ENDPOINT).urn in target.dependencies
    tracking = one(plan, "aws:appautoscaling/policy:Policy").inputs["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == cfg.endpoint.target_invocations_per_instance
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"


def test_dashboard_and_cost_cover_the_endpoint() -> None:
    plan, cfg = planned("prod"), load_stack("prod")
    assert cfg.endpoint is not None
    body = json.loads(one(plan, "aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    metrics = {m[1] for w in body["widgets"] for m in w["properties"]["metrics"]}
    assert {"Invocations", "ModelLatency", "Invocation5XXErrors", "CPUUtilization"} <= metrics
    (line,) = [line for line in cost.estimate(plan).lines if line.component == "hoist:endpoint:Endpoint"]
    hourly = line.unit_price.usd
    assert (line.quantity, line.idle_quantity) == (cfg.endpoint.max_instances, cfg.endpoint.min_instances)
    assert round(line.monthly_max_usd, 2) == round(cfg.endpoint.max_instances * hourly * 730, 2)


def test_outputs_name_the_endpoint(stack: str) -> None:
    outputs = StackOutputs.model_validate(planned(stack).outputs)
    assert outputs.endpoint is not None
    assert (outputs.endpoint.name, outputs.endpoint.variant) == (f"hoist-{stack}", "primary")
