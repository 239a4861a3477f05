"""SageMaker endpoint controls: isolation, encryption, capacity and capture in prod, safe rollouts
guarded by alarms that watch the endpoint they guard."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from infra import catalog
from policy.common import PROD, as_list, decoded, environment, of_type, resource_policy, stack_policy, targets

MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
NATIVE_ENDPOINT_CONFIG = "aws-native:sagemaker:EndpointConfig"
"""The vLLM endpoint's configuration: CloudFormation's, which has MetricsConfig (pulumi-aws's has not)."""
ENDPOINT_CONFIGS = (ENDPOINT_CONFIG, NATIVE_ENDPOINT_CONFIG)
ENDPOINT = "aws-native:sagemaker:Endpoint"
SCALABLE_TARGET = "aws:appautoscaling/target:Target"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
MIN_PROD_INSTANCES = 2
MIN_ROLLBACK_ALARMS = 2


def _isolated(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if props.get("enableNetworkIsolation") is not True:
        yield "the model must run with network isolation (enableNetworkIsolation: true)"
    if not as_list((props.get("vpcConfig") or {}).get("subnets")):
        yield "the model must be placed in the stack's private subnets (vpcConfig)"


def _llm_model_data(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    container = props.get("primaryContainer") or {}
    if "SM_VLLM_MODEL" not in (container.get("environment") or {}):
        return
    # An LLM is served from its uncompressed artifact prefix: no tar.gz to build, copy and extract.
    if container.get("modelDataUrl"):
        yield "an LLM model must not name a model.tar.gz (modelDataUrl); serve its artifact prefix (modelDataSource)"
    sources = as_list((container.get("modelDataSource") or {}).get("s3DataSources"))
    if not sources:
        yield "an LLM model must load its artifact prefix through modelDataSource.s3DataSources"
    for source in sources:
        if source.get("s3DataType") != "S3Prefix" or source.get("compressionType") != "None":
            yield (f"an LLM model's data must be an uncompressed S3Prefix (has {source.get('s3DataType')}, "
                   f"compression {source.get('compressionType')})")
        uri = source.get("s3Uri")
        if isinstance(uri, str) and not uri.endswith("/"):
            yield f"an S3Prefix model data URI must end with '/' ({uri})"


def _encrypted(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    types = [str(v.get("instanceType", "")) for v in as_list(props.get("productionVariants"))]
    local = [t for t in types if catalog.has_local_nvme(t)]
    key = "kmsKeyId" if args.resource_type == NATIVE_ENDPOINT_CONFIG else "kmsKeyArn"
    if local and props.get(key):
        yield (f"{key} encrypts no local storage and CreateEndpointConfig refuses it: "
               f"{catalog.storage_encryption(local[0])}")
    elif not local and not props.get(key):
        yield (f"the endpoint configuration must encrypt its volumes with the stack's KMS key ({key}): "
               f"{catalog.storage_encryption(types[0] if types else 'its instance type')}")
    capture = props.get("dataCaptureConfig")
    if capture and not capture.get("kmsKeyId"):
        yield "captured data must be encrypted with the stack's KMS key (dataCaptureConfig.kmsKeyId)"


def _captured_in_prod(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    capture = props.get("dataCaptureConfig") or {}
    if environment(args.provider) == PROD and not (
            capture.get("enableCapture") is True and (capture.get("initialSamplingPercentage") or 0) > 0):
        yield "in prod, an endpoint must capture a share of its traffic (dataCaptureConfig) for monitoring"


def _capacity_in_prod(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if environment(args.provider) != PROD:
        return
    if args.resource_type in ENDPOINT_CONFIGS:
        for variant in as_list(props.get("productionVariants")):
            if (variant.get("initialInstanceCount") or 0) < MIN_PROD_INSTANCES:
                yield (f"variant {variant.get('variantName')} starts with {variant.get('initialInstanceCount')} "
                       f"instance(s); prod needs at least {MIN_PROD_INSTANCES} so one AZ can fail")
    elif props.get("serviceNamespace") == "sagemaker" and (props.get("minCapacity") or 0) < MIN_PROD_INSTANCES:
        yield (f"autoscaling may shrink the variant to {props.get('minCapacity')}; "
               f"prod needs at least {MIN_PROD_INSTANCES}")


def _safe_rollout(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    deployment = decoded(props.get("deploymentConfig")) or {}
    if not deployment.get("blueGreenUpdatePolicy"):
        yield "updates must be blue/green (deploymentConfig.blueGreenUpdatePolicy)"
    alarms = as_list((deployment.get("autoRollbackConfiguration") or {}).get("alarms"))
    if len(alarms) < MIN_ROLLBACK_ALARMS:
        yield f"a rollout must roll back on at least {MIN_ROLLBACK_ALARMS} alarms (has {len(alarms)})"
    if props.get("retainAllVariantProperties") is not True:
        yield "updates must retain variant properties, or a rollout resets the instance count autoscaling chose"


def _alarms_bound(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    alarms = {a.props.get("name"): a for a in of_type(resources, ALARM)}
    for endpoint in of_type(resources, ENDPOINT):
        name = endpoint.props.get("endpointName")
        deployment = decoded(endpoint.props.get("deploymentConfig")) or {}
        for ref in as_list((deployment.get("autoRollbackConfiguration") or {}).get("alarms")):
            alarm = alarms.get(ref.get("alarmName"))
            if alarm is None:
                yield f"rollback alarm {ref.get('alarmName')} is not defined in this stack", endpoint
                continue
            query = _promql(alarm)
            if query is not None:
                # A PromQL alarm selects its series by label: it must select this endpoint's.
                if f'"{catalog.ENDPOINT_LABEL}"="{name}"' not in query:
                    yield (f"rollback alarm {alarm.props.get('name')}'s query does not select "
                           f'"{catalog.ENDPOINT_LABEL}"="{name}", the endpoint it guards'), endpoint
                continue
            dimensions = decoded(alarm.props.get("dimensions")) or {}
            if alarm.props.get("namespace") != "AWS/SageMaker" or dimensions.get("EndpointName") != name:
                yield (f"rollback alarm {alarm.props.get('name')} watches {dimensions.get('EndpointName')!r}, "
                       f"not the endpoint {name!r} it guards"), endpoint


def _promql(alarm: PolicyResource) -> str | None:
    criteria = (decoded(alarm.props.get("evaluationCriteria")) or {}).get("promqlCriteria") or {}
    query = criteria.get("query")
    return query if isinstance(query, str) else None


def _llm_engine_metrics(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    """An endpoint serving vLLM publishes the engine's metrics and rolls back on its token latencies."""
    llm_models = {m.urn for m in of_type(resources, MODEL)
                  if "SM_VLLM_MODEL" in ((m.props.get("primaryContainer") or {}).get("environment") or {})}
    if not llm_models:
        return
    llm_configs = []
    for typ in ENDPOINT_CONFIGS:
        for config in of_type(resources, typ):
            # The variants name the model by its (generated) name: follow the dependency, not the value.
            if targets(config, "productionVariants") & llm_models:
                llm_configs.append(config)
                metrics = config.props.get("metricsConfig") or {}
                if metrics.get("enableDetailedObservability") is not True:
                    yield ("an endpoint serving vLLM must publish the engine's metrics (time to first token, between "
                           "tokens): metricsConfig.enableDetailedObservability true"), config
    serving_llm = {c.urn for c in llm_configs}
    alarms = {a.props.get("name"): a for a in of_type(resources, ALARM)}
    for endpoint in of_type(resources, ENDPOINT):
        if not targets(endpoint, "endpointConfigName") & serving_llm:
            continue
        deployment = decoded(endpoint.props.get("deploymentConfig")) or {}
        rollback = [alarms.get(ref.get("alarmName")) for ref in
                    as_list((deployment.get("autoRollbackConfiguration") or {}).get("alarms"))]
        watched = " ".join(q for a in rollback if a is not None and (q := _promql(a)) is not None)
        for what, metric in catalog.VLLM_LATENCY_HISTOGRAMS.items():
            if f'"{metric}"' not in watched:
                yield (f"an endpoint serving vLLM must roll back on the engine's {what} latency: no rollback alarm "
                       f"queries {metric}"), endpoint


TOPIC = "aws:sns/topic:Topic"


def _alarms_notify(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    encrypted = {t.urn for t in of_type(resources, TOPIC) if t.props.get("kmsMasterKeyId")}
    for alarm in of_type(resources, ALARM):
        if not (encrypted & targets(alarm, "alarmActions") and as_list(alarm.props.get("alarmActions"))):
            yield (f"alarm {alarm.name} notifies nobody: set alarmActions to the stack's KMS-encrypted alerts "
                   "topic"), alarm
    for topic in of_type(resources, TOPIC):
        if topic.urn not in encrypted:
            yield f"SNS topic {topic.name} must be encrypted with the stack's KMS key (kmsMasterKeyId)", topic


POLICIES = (
    resource_policy("sagemaker-network-isolation", "SageMaker models run network-isolated in private subnets",
                    ("CKV_AWS_370", "SecurityHub:SageMaker.5"), (MODEL,), _isolated),
    resource_policy("sagemaker-llm-model-data", "LLM models load an uncompressed S3Prefix ending in '/'", (),
                    (MODEL,), _llm_model_data),
    resource_policy("sagemaker-endpoint-kms", "SageMaker endpoint volumes use the KMS key where SageMaker accepts "
                    "one (EBS; local NVMe is hardware-encrypted), and data capture always does",
                    ("CKV_AWS_98",), ENDPOINT_CONFIGS, _encrypted),
    resource_policy("sagemaker-prod-data-capture", "Prod endpoints capture traffic for monitoring", (),
                    ENDPOINT_CONFIGS, _captured_in_prod),
    resource_policy("sagemaker-prod-capacity", "Prod endpoint variants never run on fewer than 2 instances",
                    ("SecurityHub:SageMaker.4",), (*ENDPOINT_CONFIGS, SCALABLE_TARGET), _capacity_in_prod),
    stack_policy("sagemaker-llm-engine-metrics", "Endpoints serving vLLM publish the engine's metrics and roll "
                 "back on its time to first token and inter-token latency", (), _llm_engine_metrics),
    resource_policy("sagemaker-safe-rollout",
                    "Endpoints roll out blue/green, roll back on 2+ alarms and keep autoscaled capacity", (),
                    (ENDPOINT,), _safe_rollout),
    stack_policy("sagemaker-rollback-alarms-bound", "Rollback alarms watch the endpoint they guard", (),
                 _alarms_bound),
    stack_policy("alarms-notify", "Alarms notify the stack's KMS-encrypted alerts topic", ("CKV_AWS_26",),
                 _alarms_notify),
)
