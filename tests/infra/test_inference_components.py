"""Several models on one endpoint, as SageMaker inference components: dev's two classic models that scale to
zero, an LLM beside a classic model on a GPU instance, and prod's shape with a floor of two instances. Requests
are checked against botocore's model, the scale-from-zero path is wired end to end, and the policy pack and the
config refuse what AWS would."""

from __future__ import annotations

import copy
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from hoist.outputs import StackOutputs
from hoist.plan import components, cost, recording, report
from hoist.plan.policies import evaluate
from hoist.plan.recording import Plan, PlannedResource
from infra import aws_shapes, catalog
from infra.components.inference_components import COPY_DIMENSION, rollback_alarm_names
from infra.stack_files import ConfigError, load_stack, parse
from tests.conftest import planned
from tests.infra.aws_requests import TRANSLATORS, wire_numbers
from tests.policy.test_policies import REMOVE, mutate, set_input

COMPONENT = "aws-native:sagemaker:InferenceComponent"
NATIVE_CONFIG = "aws-native:sagemaker:EndpointConfig"
TARGET = "aws:appautoscaling/target:Target"
SCALING = "aws:appautoscaling/policy:Policy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LLM_DIGEST = "sha256:" + "7" * 64
GPU_COMPONENTS: dict[str, Any] = {
    "instance_type": "ml.g5.12xlarge", "min_instances": 0, "max_instances": 2,
    "models": {
        "reference": {"model_key": "runs/reference/model.tar.gz", "min_copies": 0, "max_copies": 2},
        "assistant": {"engine": "vllm", "model_key": "llm/assistant-8b/2026-11-30/", "min_copies": 0,
                      "max_copies": 4, "llm": {"model_gb": 16.07, "kv_bytes_per_token": 131072,
                                               "max_model_len": 4096, "max_num_seqs": 8, "dtype": "bfloat16"}}}}
PROD_COMPONENTS: dict[str, Any] = {
    "instance_type": "ml.g5.xlarge", "min_instances": 2, "max_instances": 6, "data_capture_percent": 20,
    "models": {"reference": {"model_key": "runs/reference/model.tar.gz", "min_copies": 2, "max_copies": 6},
               "reference-int8": {"model_key": "runs/reference-int8/model.tar.gz", "min_copies": 1,
                                  "max_copies": 4, "memory_mb": 1024}}}


def requests(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Every AWS request the plan's resources become, by operation, each already judged by botocore."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource in plan.resources:
        translate = TRANSLATORS.get(resource.type)
        for service, operation, params in translate(resource) if translate else []:
            params = wire_numbers(params)
            errors = aws_shapes.request_errors(service, operation, params)
            assert errors == [], f"{resource.urn}: {service}.{operation}: {errors}"
            found[operation].append(params)
    return found


def by_name(plan: Plan, typ: str, fragment: str) -> PlannedResource:
    (found,) = [r for r in plan.of_type(typ) if r.name.endswith(fragment)]
    return found


def stack_with(stacks: Path, stack: str, shared: dict[str, Any], **images: str) -> Plan:
    path = stacks / f"Pulumi.{stack}.yaml"
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    config = document["config"]
    config.pop("hoist:endpoint", None)
    config["hoist:inference_components"] = copy.deepcopy(shared)
    config["hoist:images"].update(images)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return recording.record(stack)


@pytest.fixture
def gpu_plan(stacks_copy: Path) -> Plan:
    return stack_with(stacks_copy, "dev", GPU_COMPONENTS, llm=LLM_DIGEST)


@pytest.fixture
def prod_plan(stacks_copy: Path) -> Plan:
    return stack_with(stacks_copy, "prod", PROD_COMPONENTS)


def test_dev_serves_two_models_from_one_endpoint_that_scales_to_zero() -> None:
    plan = planned("dev")
    found = requests(plan)
    (config,) = [c for c in found["CreateEndpointConfig"] if "ExecutionRoleArn" in c]
    (variant,) = config["ProductionVariants"]
    # The endpoint names no model; its managed scaling may release every instance, and starts with one.
    assert "ModelName" not in variant and variant["InitialInstanceCount"] == 1
    assert variant["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 2}
    assert variant["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
    assert config["EnableNetworkIsolation"] is True and config["VpcConfig"]["Subnets"]
    created = {c["InferenceComponentName"]: c for c in found["CreateInferenceComponent"]}
    assert set(created) == {"hoist-dev-reference", "hoist-dev-reference-int8"}
    outputs = StackOutputs.model_validate(plan.outputs)
    assert outputs.endpoint is not None and outputs.endpoint.components == {
        "reference": "hoist-dev-reference", "reference-int8": "hoist-dev-reference-int8"}
    reference = created["hoist-dev-reference"]
    assert reference["EndpointName"] == "hoist-dev" and reference["VariantName"] == "primary"
    # A component cannot be created with zero copies: it starts with one and scales in.
    assert reference["RuntimeConfig"] == {"CopyCount": 1}
    spec = reference["Specification"]
    assert spec["Container"] == {"Image": f"{outputs.repositories['serving']}@{load_stack('dev').images.serving}",
                                 "ArtifactUrl": f"s3://{outputs.buckets['models'].name}/runs/reference/model.tar.gz"}
    assert spec["ComputeResourceRequirements"] == {"NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 2048}
    assert spec["DataCacheConfig"] == {"EnableCaching": True}
    # Updates roll half the copies at a time and roll back on the component's own error alarm.
    (update,) = [u for u in found["UpdateInferenceComponent"] if u["InferenceComponentName"] == "hoist-dev-reference"]
    assert update["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"] == {
        "Type": "CAPACITY_PERCENT", "Value": 50}
    assert update["DeploymentConfig"]["AutoRollbackConfiguration"] == {
        "Alarms": [{"AlarmName": "hoist-dev-reference-5xx-errors"}]}


def test_autoscalings_copy_count_is_neither_drift_nor_reset_by_an_update() -> None:
    plan = planned("dev")
    for component in plan.of_type(COMPONENT):
        # The path names the recorded input, so the engine ignores exactly the copy count it would send.
        assert component.ignore_changes == ("runtimeConfig.copyCount",), component.urn
        assert component.inputs["runtimeConfig"]["copyCount"] == 1
    # Besides the components, only the cluster's create-only bootstrap setting is ignored (cluster.py).
    ignored = {(r.type, r.ignore_changes) for r in plan.resources if r.type != COMPONENT and r.ignore_changes}
    assert ignored == {("aws:eks/cluster:Cluster", ("accessConfig.bootstrapClusterCreatorAdminPermissions",))}


def test_a_request_botocore_refuses_is_caught() -> None:
    component = by_name(planned("dev"), COMPONENT, "-reference")
    broken = set_input("runtimeConfig.copyCount", -1)(copy.deepcopy(component))
    assert broken is not None
    ((service, operation, params), _) = TRANSLATORS[COMPONENT](broken)
    assert any("CopyCount" in e for e in aws_shapes.request_errors(service, operation, wire_numbers(params)))


def test_copies_scale_on_requests_in_flight_and_come_back_from_zero() -> None:
    plan = planned("dev")
    found = requests(plan)
    for model in ("reference", "reference-int8"):
        name = f"hoist-dev-{model}"
        (target,) = [t for t in found["RegisterScalableTarget"] if t["ResourceId"] == f"inference-component/{name}"]
        assert target["ScalableDimension"] == COPY_DIMENSION
        assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 2)
        policies = {p["PolicyType"]: p for p in found["PutScalingPolicy"] if p["ResourceId"] == target["ResourceId"]}
        tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
        assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
            "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution")
        step = policies["StepScaling"]["StepScalingPolicyConfiguration"]
        assert step["AdjustmentType"] == "ChangeInCapacity" and step["StepAdjustments"] == [
            {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]
        # The alarm on requests that found no copy starts that step policy, and only it.
        alarm = by_name(plan, ALARM, f"{model}-no-capacity")
        assert alarm.inputs["metricName"] == "NoCapacityInvocationFailures"
        assert alarm.inputs["dimensions"] == {"InferenceComponentName": name}
        # AWS's example: one-minute Sum, one datapoint; hoist's threshold fires on the first refused request.
        assert (alarm.inputs["statistic"], alarm.inputs["period"], alarm.inputs["evaluationPeriods"],
                alarm.inputs["datapointsToAlarm"]) == ("Sum", 60, 1, 1)
        assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
        assert alarm.property_dependencies["alarmActions"] == (by_name(plan, SCALING, f"{model}-from-zero").urn,)
        assert by_name(plan, SCALING, f"{model}-from-zero").inputs["resourceId"] == target["ResourceId"]


def test_the_role_reads_each_models_prefix_and_lists_none_for_classic_models() -> None:
    plan = planned("dev")
    policy = json.loads(by_name(plan, "aws:iam/rolePolicy:RolePolicy", "hoist-dev-endpoint").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert "ListModel" not in statements
    assert sorted(statements["ReadModels"]["Resource"]) == sorted([
        f"arn:aws:s3:::{b}/runs/{m}/*" for b in [StackOutputs.model_validate(plan.outputs).buckets["models"].name]
        for m in ("reference", "reference-int8")])


def test_an_llm_reaches_its_component_through_an_uncompressed_model(gpu_plan: Plan) -> None:
    found = requests(gpu_plan)
    assert evaluate(gpu_plan).violations == []
    (model,) = found["CreateModel"]
    container = model["PrimaryContainer"]
    assert container["ModelDataSource"]["S3DataSource"]["CompressionType"] == "None"
    assert container["Environment"]["SM_VLLM_MODEL"] == "/opt/ml/model"
    # Each engine's own image: vLLM for the LLM, the classic server for the tar.gz model beside it.
    assert container["Image"].endswith(f"/hoist/llm@{LLM_DIGEST}")
    assert model["EnableNetworkIsolation"] is True
    created = {c["InferenceComponentName"]: c for c in found["CreateInferenceComponent"]}
    llm = created["hoist-dev-assistant"]["Specification"]
    assert "Container" not in llm and llm["ModelName"]
    # One GPU per tensor-parallel rank; the weights plus the engine's overhead in host memory.
    assert llm["ComputeResourceRequirements"]["NumberOfAcceleratorDevicesRequired"] == 1
    assert llm["ComputeResourceRequirements"]["MinMemoryRequiredInMb"] == 15326 + catalog.LLM_HOST_OVERHEAD_MB
    classic = created["hoist-dev-reference"]["Specification"]["Container"]
    assert classic["ArtifactUrl"].endswith(".tar.gz")
    assert classic["Image"].endswith(f"/hoist/serving@{load_stack('dev').images.serving}")
    (config,) = [c for c in found["CreateEndpointConfig"] if "ExecutionRoleArn" in c]
    assert config["ProductionVariants"][0]["InferenceAmiVersion"] == catalog.inference_ami_for()
    role = json.loads(by_name(gpu_plan, "aws:iam/rolePolicy:RolePolicy", "hoist-dev-endpoint").inputs["policy"])
    listing = next(s for s in role["Statement"] if s["Sid"] == "ListModel")
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["llm/assistant-8b/2026-11-30/",
                                                               "llm/assistant-8b/2026-11-30/*"]


def test_an_uncompressed_artifact_url_trips_the_component_policy(gpu_plan: Plan) -> None:
    plan = mutate(gpu_plan, COMPONENT, set_input("specification.container.artifactUrl", "s3://b/llm/x/"),
                  "reference")
    report = evaluate(plan)
    assert report.tripped() == {"sagemaker-inference-component"}
    assert "single tar.gz" in report.violations[0].message


def test_an_llm_component_rolls_back_on_the_engines_token_latencies(gpu_plan: Plan) -> None:
    """The shared configuration publishes the engine's metrics; the LLM's update rolls back on its own p99 time to
    first token and between tokens (PromQL on its component's series) as well as 5XX; the classic model on 5XX."""
    found = requests(gpu_plan)
    (config,) = [c for c in found["CreateEndpointConfig"] if "ExecutionRoleArn" in c]
    assert config["MetricsConfig"] == {"EnableDetailedObservability": True, "MetricPublishFrequencyInSeconds": 60}
    rollbacks = {u["InferenceComponentName"]: [a["AlarmName"] for a in
                                                u["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
                 for u in found["UpdateInferenceComponent"]}
    assert rollbacks == {
        "hoist-dev-assistant": ["hoist-dev-assistant-5xx-errors", "hoist-dev-assistant-p99-ttft",
                                "hoist-dev-assistant-p99-inter-token"],
        "hoist-dev-reference": ["hoist-dev-reference-5xx-errors"]}
    assert rollbacks["hoist-dev-assistant"] == rollback_alarm_names("hoist-dev", "assistant", "vllm")
    promql = {a["AlarmName"]: a for a in found["PutMetricAlarm"] if "EvaluationCriteria" in a}
    assert set(promql) == {"hoist-dev-assistant-p99-ttft", "hoist-dev-assistant-p99-inter-token"}
    assert promql["hoist-dev-assistant-p99-ttft"]["EvaluationCriteria"]["PromQLCriteria"]["Query"] == (
        'histogram_quantile(0.99, sum(rate({"vllm:time_to_first_token_seconds", '
        '"aws.sagemaker.endpoint.name"="hoist-dev", "aws.sagemaker.inference_component.name"="hoist-dev-assistant"}'
        '[5m]))) > 2')
    assert promql["hoist-dev-assistant-p99-inter-token"]["EvaluationCriteria"]["PromQLCriteria"]["Query"].endswith(
        "[5m]))) > 0.2")


def test_a_classic_shared_endpoint_publishes_no_engine_metrics() -> None:
    found = requests(planned("dev"))
    (config,) = [c for c in found["CreateEndpointConfig"] if "ExecutionRoleArn" in c]
    assert "MetricsConfig" not in config
    assert not [a for a in found["PutMetricAlarm"] if "EvaluationCriteria" in a]


def _without(suffix: str) -> Any:
    def change(resource: PlannedResource) -> PlannedResource:
        rollback = resource.inputs["deploymentConfig"]["autoRollbackConfiguration"]
        rollback["alarms"] = [a for a in rollback["alarms"] if not a["alarmName"].endswith(suffix)]
        return resource
    return change


def _selects(component: str) -> Any:
    def change(resource: PlannedResource) -> PlannedResource:
        criteria = resource.inputs["evaluationCriteria"]["promqlCriteria"]
        criteria["query"] = criteria["query"].replace('"hoist-dev-assistant"', f'"{component}"')
        return resource
    return change


@pytest.mark.parametrize(("typ", "name", "change", "policy", "says"), [
    # The shared configuration stops publishing the engine's metrics its LLM's alarms query.
    (NATIVE_CONFIG, "", set_input("metricsConfig.enableDetailedObservability", False), "sagemaker-llm-engine-metrics",
     "must publish the engine's metrics"),
    (NATIVE_CONFIG, "", set_input("metricsConfig", REMOVE), "sagemaker-llm-engine-metrics",
     "must publish the engine's metrics"),
    # The LLM's update rolls back on errors and time to first token only.
    (COMPONENT, "assistant", _without("-p99-inter-token"), "sagemaker-llm-engine-metrics",
     "a vLLM model's component must roll back on the engine's inter-token latency"),
    # Its time-to-first-token alarm watches the other model's series.
    (ALARM, "assistant-p99-ttft", _selects("hoist-dev-reference"), "sagemaker-rollback-alarms-bound",
     '"aws.sagemaker.inference_component.name"="hoist-dev-assistant", the model it guards'),
], ids=["metrics off", "no metrics config", "no inter-token rollback", "alarm on another component"])
def test_an_llm_component_without_its_engine_alarms_trips(gpu_plan: Plan, typ: str, name: str, change: Any,
                                                          policy: str, says: str) -> None:
    assert evaluate(gpu_plan).violations == []
    report = evaluate(mutate(gpu_plan, typ, change, name))
    assert report.tripped() == {policy}
    assert says in report.violations[0].message


def test_prod_keeps_a_floor_of_two_instances(prod_plan: Plan) -> None:
    assert evaluate(prod_plan).violations == []
    report = evaluate(mutate(prod_plan, NATIVE_CONFIG, set_input(
        "productionVariants.0.managedInstanceScaling.minInstanceCount", 0)))
    assert report.tripped() == {"sagemaker-prod-capacity"}
    assert "never scales to zero" in report.violations[0].message
    # Copies may autoscale in prod; the instance floor is what stays.
    assert evaluate(mutate(prod_plan, TARGET, set_input("minCapacity", 1), "reference-copies")).violations == []
    summary = components.summary(prod_plan.config.inference_components)
    assert summary is not None and summary["idle_instances"] == 2 and summary["scale_in_minutes"] == 0


def test_a_component_endpoint_without_isolation_trips_its_policy() -> None:
    report = evaluate(mutate(planned("dev"), NATIVE_CONFIG, set_input("enableNetworkIsolation", REMOVE)))
    assert report.tripped() == {"sagemaker-component-endpoint"}


def test_plan_prices_each_models_copies_at_max_and_at_the_floor(prod_plan: Plan) -> None:
    dev = [line for line in cost.estimate(planned("dev")).lines if line.subject.startswith("model ")]
    assert {line.subject for line in dev} == {"model hoist-dev-reference (0-2 copies, 3 per instance)",
                                              "model hoist-dev-reference-int8 (0-2 copies, 4 per instance)"}
    assert all(line.quantity == 1 and line.idle_quantity == 0 for line in dev)
    hourly = catalog.sagemaker_hour("ml.c5.xlarge").monthly_usd
    assert sum(line.monthly_max_usd for line in dev) == pytest.approx(2 * hourly)
    prod = [line for line in cost.estimate(prod_plan).lines if line.item == "ml.g5.xlarge"]
    # reference: 2-6 copies, 3 per 4-vCPU instance; reference-int8: 1-4 copies, 4 per instance.
    assert sorted((line.quantity, line.idle_quantity) for line in prod) == [(1, 1), (2, 1)]
    summary = components.summary(load_stack("dev").inference_components)
    assert summary is not None and summary["idle_instances"] == 0 and summary["instances_after_creation"] == 1
    assert "about 15 minutes" in components.lines(summary)[-1]


def _error(stack: str, shared: dict[str, Any]) -> str:
    raw = yaml.safe_load((Path("stacks") / f"Pulumi.{stack}.yaml").read_text())["config"]
    config = {key.removeprefix("hoist:"): value for key, value in raw.items()}
    config.pop("endpoint", None)
    config["inference_components"] = shared
    with pytest.raises(ConfigError) as caught:
        parse(config, source=f"Pulumi.{stack}.yaml")
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def _dev(**models: dict[str, Any]) -> dict[str, Any]:
    return {"instance_type": "ml.c5.xlarge", "min_instances": 0, "models": models}


TAR = "runs/reference/model.tar.gz"


@pytest.mark.parametrize(("stack", "shared", "says"), [
    ("prod", {**PROD_COMPONENTS, "min_instances": 0, "models": {"reference": {"model_key": TAR, "min_copies": 0}}},
     "prod keeps at least 2 instances"),
    ("prod", {**PROD_COMPONENTS, "min_instances": 1}, "prod keeps at least 2 instances"),
    ("prod", {**PROD_COMPONENTS, "data_capture_percent": 0}, "prod must capture traffic"),
    ("dev", _dev(big={"model_key": TAR, "memory_mb": 8192, "min_copies": 0}), "leaves 7168 MiB for models"),
    ("dev", _dev(many={"model_key": TAR, "cpu_cores": 8, "min_copies": 0}), "more than ml.c5.xlarge's 4 vCPUs"),
    ("dev", _dev(gpu={"model_key": TAR, "accelerators": 1, "min_copies": 0}), "has none in the catalog"),
    ("dev", {**_dev(warm={"model_key": TAR, "min_copies": 0}), "min_instances": 1}, "set min_instances 0"),
    ("dev", _dev(warm={"model_key": TAR}), "never idles"),
    ("dev", _dev(Big={"model_key": TAR, "min_copies": 0}), "lower-case letters"),
    ("dev", _dev(llm={"engine": "vllm", "model_key": TAR, "llm": {"model_gb": 1}}), "uncompressed LLM artifact"),
    ("dev", {**_dev(a={"model_key": TAR, "min_copies": 0}), "rollout_batch_percent": 75}, "rollout_batch_percent"),
    ("dev", {**_dev(a={"model_key": TAR, "min_copies": 0}), "instance_type": "ml.g6e.48xlarge"},
     "no price or CPU/memory figures"),
    ("dev", {**_dev(a={"model_key": TAR, "cpu_cores": 3, "min_copies": 0, "max_copies": 1},
                    b={"model_key": TAR, "cpu_cores": 3, "min_copies": 0, "max_copies": 1}), "max_instances": 1},
     "max_instances = 1: the copies every model starts with (a 1, b 1; at least one each, min_copies above "
     "that) need 2 ml.c5.xlarge instances, 1 more than it allows"),
    ("dev", {**_dev(a={"model_key": TAR, "cpu_cores": 2, "min_copies": 0, "max_copies": 5})},
     "models.a.max_copies = 5: 2 copies fit one ml.c5.xlarge, so these need 3 instances; max_instances 2 holds "
     "at most 4"),
], ids=["prod at zero", "prod on one", "prod no capture", "copy memory", "copy cpu", "gpus on cpu", "warm floor",
        "never idle", "name", "llm tarball", "batch", "no price", "creation unplaceable", "max unplaceable"])
def test_invalid_components_are_one_precise_line(stack: str, shared: dict[str, Any], says: str) -> None:
    assert says in _error(stack, shared)


def test_the_shared_endpoints_maximum_is_capped_at_max_instances(stacks_copy: Path) -> None:
    # Each model alone may fill both instances; together they may not run more than two.
    both = _dev(a={"model_key": TAR, "cpu_cores": 2, "min_copies": 0, "max_copies": 4},
                b={"model_key": TAR, "cpu_cores": 2, "min_copies": 0, "max_copies": 4})
    estimate = cost.estimate(stack_with(stacks_copy, "dev", both))
    hourly = catalog.sagemaker_hour("ml.c5.xlarge").monthly_usd
    lines = {line.subject: line for line in estimate.lines if line.item == "ml.c5.xlarge"}
    assert lines["model hoist-dev-a (0-4 copies, 2 per instance)"].quantity == 2
    assert lines["model hoist-dev-b (0-4 copies, 2 per instance)"].quantity == 2
    assert lines["SageMaker endpoint variant primary (capped at max_instances 2)"].quantity == -2
    assert sum(line.monthly_max_usd for line in lines.values()) == pytest.approx(2 * hourly)
    assert all(line.subject.startswith("model ") for line in cost.estimate(planned("dev")).lines
               if line.item == "ml.c5.xlarge")


def test_instances_at_creation_and_at_the_floor_pack_every_models_copies(stacks_copy: Path) -> None:
    # Two 3-CPU copies cannot share a 4-vCPU instance: both models' first copies start two instances.
    two = {**_dev(a={"model_key": TAR, "cpu_cores": 3, "min_copies": 0, "max_copies": 1},
                  b={"model_key": TAR, "cpu_cores": 3, "min_copies": 0, "max_copies": 1})}
    plan = stack_with(stacks_copy, "dev", two)
    summary = components.summary(load_stack("dev").inference_components)
    assert summary is not None and (summary["instances_after_creation"], summary["idle_instances"]) == (2, 0)
    assert any(line.startswith("after a component is created") and ": 2 instance(s) run" in line
               for line in components.lines(summary))
    assert plan.of_type(COMPONENT)
    # Memory binds too (7168 MiB usable on ml.c5.xlarge), and small copies fill the room the large ones leave.
    assert catalog.instances_for("ml.c5.xlarge", [(0.5, 4096, 0)] * 2) == 2
    assert catalog.instances_for("ml.c5.xlarge", [(1, 1024, 0), (1, 1024, 0), (3, 1024, 0), (3, 1024, 0)]) == 2
    assert catalog.instances_for("ml.g5.12xlarge", [(1, 1024, 3), (1, 1024, 1), (1, 1024, 2), (1, 1024, 2)]) == 2


def test_the_readmes_examples_are_valid_configs() -> None:
    """Every `hoist:inference_components` example in the README parses through the real config parser."""
    readme = Path("README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```yaml\n")[1:]]
    examples = [yaml.safe_load(b) for b in blocks if b.startswith("hoist:inference_components:")]
    assert len(examples) == 2
    raw = yaml.safe_load((Path("stacks") / "Pulumi.dev.yaml").read_text())["config"]
    for example in examples:
        config = {key.removeprefix("hoist:"): value for key, value in raw.items()}
        config.pop("endpoint", None)
        config["images"] = {**config["images"], "llm": LLM_DIGEST}
        config["inference_components"] = example["hoist:inference_components"]
        shared = parse(config, source="README.md").inference_components
        assert shared is not None and "reference" in shared.models


def test_an_llm_copy_must_take_one_gpu_per_rank_and_fit_them() -> None:
    llm = copy.deepcopy(GPU_COMPONENTS["models"]["assistant"])
    assert "differs from llm.tensor_parallel_size" in _error("staging", {
        **GPU_COMPONENTS, "models": {"assistant": {**llm, "accelerators": 2}}})
    llm["llm"]["max_num_seqs"] = 64
    assert "does not fit ml.g5.12xlarge" in _error("staging", {**GPU_COMPONENTS, "models": {"assistant": llm}})


def test_one_form_of_endpoint_at_a_time() -> None:
    raw = yaml.safe_load(Path("stacks/Pulumi.prod.yaml").read_text())["config"]
    config = {key.removeprefix("hoist:"): value for key, value in raw.items()}
    config["inference_components"] = PROD_COMPONENTS
    with pytest.raises(ConfigError, match="set one"):
        parse(config, source="Pulumi.prod.yaml")


def test_hoist_plan_shows_the_components_copies_and_the_idle_floor() -> None:
    plan = planned("dev")
    document = report.as_dict(plan, evaluate(plan), cost.estimate(plan))
    shared = document["inference_components"]
    assert shared["idle_instances"] == 0 and set(shared["models"]) == {"reference", "reference-int8"}
    assert shared["models"]["reference"]["monthly_max_usd"] == pytest.approx(
        catalog.sagemaker_hour("ml.c5.xlarge").monthly_usd, abs=0.01)
    out = io.StringIO()
    report.print_plan(Console(file=out, width=200), plan, evaluate(plan), cost.estimate(plan))
    text = out.getvalue()
    assert "reference (classic): 0-2 copies of 1 CPU, 2048 MiB, 0 GPU; 3 per ml.c5.xlarge; $0.00-$148.92/month" in text
    assert "idle floor: 0 instance(s)" in text and "(first apply, or a replacement): 1 instance(s) run" in text
    assert report.as_dict(planned("staging"), evaluate(planned("staging")),
                          cost.estimate(planned("staging")))["inference_components"] is None
