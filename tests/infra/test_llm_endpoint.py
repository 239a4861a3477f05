"""An LLM endpoint under mocks: the dev stack switched to the vLLM engine, its requests checked against
botocore, and its config's refusals. The model data is an uncompressed S3 prefix, the role lists and
reads exactly that prefix, the engine settings reach the container, and the timeouts follow the size."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hoist.outputs import StackOutputs
from hoist.plan import cost, recording
from hoist.plan.policies import evaluate
from hoist.plan.recording import Plan, PlannedResource
from infra import aws_shapes, catalog
from infra.components.endpoint import alarm_names
from infra.config import EndpointConfig, LlmEngineConfig
from infra.stack_files import ConfigError, load_stack, parse
from tests.conftest import planned, single_model_dev
from tests.infra.aws_requests import TRANSLATORS, wire_numbers

LLM_DIGEST = "sha256:" + "7" * 64
LLM_ENDPOINT = {"engine": "vllm", "model_key": "llm/2026-12-01/", "instance_type": "ml.g5.12xlarge",
                "min_instances": 1, "max_instances": 2,
                "llm": {"model_gb": 16.1, "max_model_len": 8192, "gpu_memory_utilization": 0.92, "dtype": "bfloat16",
                        "tensor_parallel_size": 4, "max_num_seqs": 128, "enable_prefix_caching": False}}


def llm_document(stacks: Path) -> dict[str, Any]:
    document: dict[str, Any] = single_model_dev(yaml.safe_load((stacks / "Pulumi.dev.yaml").read_text()))
    config = document["config"]
    config["hoist:images"]["llm"] = LLM_DIGEST
    config["hoist:endpoint"] = {**config["hoist:endpoint"], **copy.deepcopy(LLM_ENDPOINT)}
    return document


@pytest.fixture
def llm_plan(stacks_copy: Path) -> Plan:
    (stacks_copy / "Pulumi.dev.yaml").write_text(yaml.safe_dump(llm_document(stacks_copy)))
    return recording.record("dev")


def one(plan: Plan, typ: str) -> PlannedResource:
    (found,) = plan.of_type(typ)
    return found


def test_llm_model_is_an_uncompressed_prefix_on_the_llm_image_with_engine_settings(llm_plan: Plan) -> None:
    outputs = StackOutputs.model_validate(llm_plan.outputs)
    container = one(llm_plan, "aws:sagemaker/model:Model").inputs["primaryContainer"]
    assert container["image"] == f"{outputs.repositories['llm']}@{LLM_DIGEST}"
    assert "modelDataUrl" not in container
    assert container["modelDataSource"] == {"s3DataSources": [{
        "s3Uri": f"s3://{outputs.buckets['models'].name}/llm/2026-12-01/", "s3DataType": "S3Prefix",
        "compressionType": "None"}]}
    assert container["environment"] == {
        "SM_VLLM_MODEL": "/opt/ml/model", "SM_VLLM_MAX_MODEL_LEN": "8192", "SM_VLLM_GPU_MEMORY_UTILIZATION": "0.92",
        "SM_VLLM_DTYPE": "bfloat16", "SM_VLLM_TENSOR_PARALLEL_SIZE": "4", "SM_VLLM_MAX_NUM_SEQS": "128",
        "SM_VLLM_ENABLE_PREFIX_CACHING": "false"}


def test_engine_variables_become_the_flags_vllm_is_given() -> None:
    from serving.llm.entrypoint import flags
    settings = LlmEngineConfig(model_gb=1, quantization="compressed-tensors", tensor_parallel_size=2)
    argv = flags(settings.environment())
    assert argv[:2] == ["--model", "/opt/ml/model"]
    for flag, value in (("--tensor-parallel-size", "2"), ("--quantization", "compressed-tensors"),
                        ("--max-model-len", "4096"), ("--gpu-memory-utilization", "0.9")):
        assert argv[argv.index(flag) + 1] == value
    assert "--enable-prefix-caching" in argv


def test_llm_role_lists_and_reads_exactly_the_model_prefix(llm_plan: Plan) -> None:
    models = StackOutputs.model_validate(llm_plan.outputs).buckets["models"].arn
    policy = next(r for r in llm_plan.of_type("aws:iam/rolePolicy:RolePolicy")
                  if r.component == "hoist:endpoint:Endpoint")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["ReadModel"]["Action"] == "s3:GetObject"
    assert statements["ReadModel"]["Resource"] == f"{models}/llm/2026-12-01/*"
    assert statements["ListModel"] == {"Sid": "ListModel", "Effect": "Allow", "Action": "s3:ListBucket",
                                       "Resource": models, "Condition": {"StringLike": {
                                           "s3:prefix": ["llm/2026-12-01/", "llm/2026-12-01/*"]}}}
    assert statements["PullServingImage"]["Resource"].endswith(":repository/hoist/llm")


def test_llm_variant_timeouts_follow_the_size_and_the_ami_runs_the_engines_cuda(llm_plan: Plan) -> None:
    (variant,) = one(llm_plan, "aws-native:sagemaker:EndpointConfig").inputs["productionVariants"]
    # 16.1 GB: 120 s + 16100 MB / 200 MB/s = 200.5 -> 201 s to download; 300 s + 16100 / 500 = 332.2 -> 333 s.
    assert variant["modelDataDownloadTimeoutInSeconds"] == 201
    assert variant["containerStartupHealthCheckTimeoutInSeconds"] == 333
    assert variant["inferenceAmiVersion"] == "al2023-ami-sagemaker-inference-gpu-4-1"
    assert variant["inferenceAmiVersion"] in aws_shapes.enum_values("sagemaker", "ProductionVariantInferenceAmiVersion")


def test_llm_requests_match_the_aws_service_models(llm_plan: Plan) -> None:
    checked = set()
    for resource in llm_plan.resources:
        translate = TRANSLATORS.get(resource.type)
        for service, operation, params in translate(resource) if translate else []:
            errors = aws_shapes.request_errors(service, operation, wire_numbers(params))
            assert errors == [], f"{resource.urn}: {service}.{operation}: {errors}"
            checked.add(operation)
    assert {"CreateModel", "CreateEndpointConfig"} <= checked


def test_classic_endpoints_keep_their_tarball_and_default_ami(llm_plan: Plan) -> None:
    del llm_plan  # the dev stack as committed is classic
    cfg = EndpointConfig(model_key="runs/reference/model.tar.gz")
    assert cfg.inference_ami_version is None
    assert cfg.model_data_timeouts_s == (600, 600)


def test_ami_choice_is_the_oldest_that_runs_the_cuda() -> None:
    assert catalog.inference_ami_for("12.2") == "al2-ami-sagemaker-inference-gpu-2"
    assert catalog.inference_ami_for("12.4") == "al2-ami-sagemaker-inference-gpu-3-1"
    assert catalog.inference_ami_for("12.9") == "al2023-ami-sagemaker-inference-gpu-4-1"
    with pytest.raises(ValueError, match=r"no SageMaker inference AMI runs CUDA 13\.1"):
        catalog.inference_ami_for("13.1")
    assert set(catalog.INFERENCE_AMIS) <= aws_shapes.enum_values("sagemaker", "ProductionVariantInferenceAmiVersion")


def test_timeouts_stay_within_sagemakers_range() -> None:
    low, high = catalog.STARTUP_TIMEOUT_RANGE_S
    for gb in (0.001, 0.5, 1, 10, 100, 500, 650):
        settings = LlmEngineConfig(model_gb=gb)
        assert low <= settings.download_timeout_s <= high and low <= settings.startup_timeout_s <= high
    assert LlmEngineConfig(model_gb=0.001).download_timeout_s == 121
    largest = (high - catalog.DOWNLOAD_MARGIN_S) * catalog.MODEL_DOWNLOAD_MB_S / 1000
    assert LlmEngineConfig(model_gb=largest).download_timeout_s == high


# (id, dotted key under hoist:endpoint or a top-level key, value, the key the error names, what it says)
LLM_INVALID: list[tuple[str, str, Any, str, str]] = [
    ("a tarball for the vLLM engine", "endpoint.model_key", "llm/x/model.tar.gz", "hoist:endpoint",
     "ending in '/'"),
    ("a prefix for the classic engine", "endpoint.engine", "classic", "hoist:endpoint", "needs engine: vllm"),
    ("no engine settings", "endpoint.llm", None, "hoist:endpoint", "needs its engine settings"),
    ("a dot folder in the prefix", "endpoint.model_key", "llm/./x/", "hoist:endpoint.model_key", "'..'"),
    ("too large to load in time", "endpoint.llm.model_gb", 800, "hoist:endpoint.llm",
     "needs a 4120 s download timeout; SageMaker allows at most 3600 s"),
    ("an unknown engine", "endpoint.engine", "tgi", "hoist:endpoint.engine", "'classic' or 'vllm'"),
    ("TP not a power of two", "endpoint.llm.tensor_parallel_size", 3, "hoist:endpoint.llm.tensor_parallel_size",
     "1, 2, 4 or 8"),
    ("no LLM image", "images.llm", None, "hoist:images.llm", "LLM serving image's digest"),
    ("a CPU instance", "endpoint.instance_type", "ml.c5.xlarge", "hoist:endpoint",
     "ml.c5.xlarge has no GPU in the catalog; a vLLM endpoint runs on one of ml.g5.xlarge"),
    ("more TP than GPUs", "endpoint.instance_type", "ml.g5.2xlarge", "hoist:endpoint.llm.tensor_parallel_size",
     "4 is more than ml.g5.2xlarge's 1 GPUs"),
]


@pytest.mark.parametrize(("case", "path", "value", "key", "says"), LLM_INVALID, ids=[c[0] for c in LLM_INVALID])
def test_invalid_llm_endpoint_is_one_precise_line(stacks_copy: Path, case: str, path: str, value: Any, key: str,
                                                  says: str) -> None:
    config = {key.removeprefix("hoist:"): value for key, value in llm_document(stacks_copy)["config"].items()}
    head, *rest = path.split(".")
    node = config[head]
    *parents, last = rest
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    with pytest.raises(ConfigError) as caught:
        parse(config, source="Pulumi.dev.yaml")
    message = str(caught.value)
    assert "\n" not in message, case
    assert message.startswith(f"Pulumi.dev.yaml: {key}"), message
    assert says in message, message


def test_llm_stack_passes_the_policy_pack_and_a_compressed_model_trips_it(llm_plan: Plan) -> None:
    assert evaluate(llm_plan).violations == []
    model = one(llm_plan, "aws:sagemaker/model:Model")
    container = copy.deepcopy(model.inputs["primaryContainer"])
    container["modelDataSource"]["s3DataSources"][0]["compressionType"] = "Gzip"
    mutated = dataclasses.replace(model, inputs={**model.inputs, "primaryContainer": container})
    plan = dataclasses.replace(llm_plan, resources=[mutated if r is model else r for r in llm_plan.resources])
    assert evaluate(plan).tripped() == {"sagemaker-llm-model-data"}


def test_llm_scales_on_requests_in_flight_per_model(llm_plan: Plan) -> None:
    policy = one(llm_plan, "aws:appautoscaling/policy:Policy")
    tracking = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == (
        "SageMakerVariantConcurrentRequestsPerModelHighResolution")
    assert tracking["targetValue"] == 8
    assert "SageMakerVariantConcurrentRequestsPerModelHighResolution" in aws_shapes.enum_values(
        "application-autoscaling", "MetricType")


def test_the_llm_config_publishes_the_engines_metrics_keeping_capture_encrypted() -> None:
    plan, cfg = planned("staging"), load_stack("staging")
    assert cfg.endpoint is not None and cfg.endpoint.engine == "vllm"
    assert plan.of_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration") == []
    config = one(plan, "aws-native:sagemaker:EndpointConfig")
    assert "$pulumi:providers:aws-native::" in config.provider
    assert "endpointConfigName" not in config.inputs, "auto-named, so a change creates a new configuration"
    assert config.inputs["metricsConfig"] == {"enableDetailedObservability": True,
                                              "metricPublishFrequencyInSeconds": 60}
    # ml.g5 has local NVMe (hardware-encrypted): CreateEndpointConfig refuses a KmsKeyId there.
    assert catalog.has_local_nvme(cfg.endpoint.instance_type) and "kmsKeyId" not in config.inputs
    outputs = StackOutputs.model_validate(plan.outputs)
    capture = config.inputs["dataCaptureConfig"]
    assert capture["kmsKeyId"] == outputs.kms_key_arn
    assert capture["initialSamplingPercentage"] == cfg.endpoint.data_capture_percent == 10
    (variant,) = config.inputs["productionVariants"]
    assert variant["variantName"] == "primary" and variant["instanceType"] == "ml.g5.2xlarge"
    endpoint = one(plan, "aws-native:sagemaker:Endpoint")
    assert config.urn in {d for deps in endpoint.property_dependencies.values() for d in deps}


def test_the_llm_rolls_back_on_errors_and_the_engines_token_latencies() -> None:
    plan, cfg = planned("staging"), load_stack("staging")
    assert cfg.endpoint is not None
    endpoint = one(plan, "aws-native:sagemaker:Endpoint")
    rollback = [a["alarmName"] for a in endpoint.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]
    assert rollback == list(alarm_names("hoist-staging", "vllm").values()) == [
        "hoist-staging-primary-5xx-errors", "hoist-staging-primary-p99-ttft", "hoist-staging-primary-p99-inter-token"]
    alarms = {a.inputs["name"]: a.inputs for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert "hoist-staging-primary-p99-latency" not in alarms, "a stream's whole latency is no rollback signal"
    ttft = alarms["hoist-staging-primary-p99-ttft"]
    assert ttft["evaluationCriteria"]["promqlCriteria"]["query"] == (
        'histogram_quantile(0.99, sum(rate({"vllm:time_to_first_token_seconds", '
        '"aws.sagemaker.endpoint.name"="hoist-staging", "aws.sagemaker.variant.name"="primary"}[5m]))) > 2')
    inter = alarms["hoist-staging-primary-p99-inter-token"]["evaluationCriteria"]["promqlCriteria"]
    assert inter["query"].startswith('histogram_quantile(0.99, sum(rate({"vllm:inter_token_latency_seconds", ')
    assert inter["query"].endswith(f"> {cfg.endpoint.inter_token_p99_alarm_ms / 1000:g}")
    for name in rollback[1:]:
        alarm = alarms[name]
        assert alarm["evaluationInterval"] == 60
        assert alarm["evaluationCriteria"]["promqlCriteria"]["pendingPeriod"] == 120
        # PutMetricAlarm refuses metric, statistic, threshold and periods beside EvaluationCriteria.
        assert not {"namespace", "metricName", "threshold", "evaluationPeriods", "period"} & set(alarm)
    errors = alarms["hoist-staging-primary-5xx-errors"]
    assert errors["dimensions"] == {"EndpointName": "hoist-staging", "VariantName": "primary"}


def test_the_llm_stacks_requests_match_botocore_with_metrics_config_and_promql_alarms() -> None:
    checked: dict[str, list[dict[str, Any]]] = {}
    for resource in planned("staging").resources:
        translate = TRANSLATORS.get(resource.type)
        for service, operation, params in translate(resource) if translate else []:
            errors = aws_shapes.request_errors(service, operation, wire_numbers(params))
            assert errors == [], f"{resource.urn}: {service}.{operation}: {errors}"
            checked.setdefault(operation, []).append(params)
    (config,) = checked["CreateEndpointConfig"]
    assert config["MetricsConfig"] == {"EnableDetailedObservability": True, "MetricPublishFrequencyInSeconds": 60}
    promql = [p for p in checked["PutMetricAlarm"] if "EvaluationCriteria" in p]
    assert len(promql) == 2 and all("Namespace" not in p for p in promql)


def test_the_llm_endpoint_is_priced_and_the_classic_path_is_unchanged() -> None:
    lines = [line for line in cost.estimate(planned("staging")).lines if line.item == "ml.g5.2xlarge"]
    assert len(lines) == 1 and lines[0].quantity == 4
    # The classic stack keeps pulumi-aws's configuration and its p99 model-latency alarm.
    for stack in ("prod",):
        plan = planned(stack)
        assert plan.of_type("aws-native:sagemaker:EndpointConfig") == []
        (classic,) = plan.of_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
        assert "metricsConfig" not in classic.inputs
        assert {a.inputs["name"] for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")} >= set(
            alarm_names(f"hoist-{stack}").values())
