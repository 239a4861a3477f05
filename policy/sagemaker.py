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
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
INFERENCE_COMPONENT = "aws-native:sagemaker:InferenceComponent"
VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
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
            managed = variant.get("managedInstanceScaling") or {}
            if managed and (managed.get("minInstanceCount") or 0) < MIN_PROD_INSTANCES:
                yield (f"managed instance scaling may shrink variant {variant.get('variantName')} to "
                       f"{managed.get('minInstanceCount')} instance(s); prod keeps at least {MIN_PROD_INSTANCES} "
                       "and never scales to zero")
    elif props.get("scalableDimension") == VARIANT_DIMENSION and (props.get("minCapacity") or 0) < MIN_PROD_INSTANCES:
        yield (f"autoscaling may shrink the variant to {props.get('minCapacity')}; "
               f"prod needs at least {MIN_PROD_INSTANCES}")


def _component_endpoint(config: PolicyResource) -> bool:
    """An endpoint configuration for inference components: its variants scale by managed instance scaling."""
    return any(v.get("managedInstanceScaling") for v in as_list(config.props.get("productionVariants")))


def _safe_rollout(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    shared = {c.urn for typ in ENDPOINT_CONFIGS for c in of_type(resources, typ) if _component_endpoint(c)}
    for endpoint in of_type(resources, ENDPOINT):
        props = endpoint.props
        if props.get("retainAllVariantProperties") is not True:
            yield ("updates must retain variant properties, or a rollout resets the instance count autoscaling "
                   "chose"), endpoint
        if targets(endpoint, "endpointConfigName") & shared:
            continue  # Its models roll out one by one, as inference components (below).
        deployment = decoded(props.get("deploymentConfig")) or {}
        if not deployment.get("blueGreenUpdatePolicy"):
            yield "updates must be blue/green (deploymentConfig.blueGreenUpdatePolicy)", endpoint
        alarms = as_list((deployment.get("autoRollbackConfiguration") or {}).get("alarms"))
        if len(alarms) < MIN_ROLLBACK_ALARMS:
            yield f"a rollout must roll back on at least {MIN_ROLLBACK_ALARMS} alarms (has {len(alarms)})", endpoint
    for component in of_type(resources, INFERENCE_COMPONENT):
        deployment = decoded(component.props.get("deploymentConfig")) or {}
        if not deployment.get("rollingUpdatePolicy"):
            yield "a model's updates must roll (deploymentConfig.rollingUpdatePolicy)", component
        if not as_list((deployment.get("autoRollbackConfiguration") or {}).get("alarms")):
            yield "a model's rolling update must roll back on an alarm (autoRollbackConfiguration)", component


def _inference_component(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    spec = props.get("specification") or {}
    url = (spec.get("container") or {}).get("artifactUrl")
    if isinstance(url, str) and not url.endswith(".tar.gz"):
        yield (f"a component's ArtifactUrl must be a single tar.gz ({url}); serve an uncompressed artifact through "
               "a model (specification.modelName) with an uncompressed model data source")
    copies = (props.get("runtimeConfig") or {}).get("copyCount")
    if isinstance(copies, (int, float)) and copies < 1:
        yield ("a component cannot be created with 0 copies (runtimeConfig.copyCount); start with 1 and let "
               "autoscaling take an idle model to zero")


def _component_endpoint_config(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    variants = as_list(props.get("productionVariants"))
    if not any(v.get("managedInstanceScaling") for v in variants):
        return
    if not props.get("executionRoleArn"):
        yield "an endpoint for inference components needs executionRoleArn (SageMaker fetches each model with it)"
    for variant in variants:
        if variant.get("modelName"):
            yield (f"variant {variant.get('variantName')} names a model; with inference components the models "
                   "are the components'")
    if props.get("enableNetworkIsolation") is not True or not (props.get("vpcConfig") or {}).get("subnets"):
        yield ("an endpoint for inference components runs its models network-isolated in the private subnets "
               "(enableNetworkIsolation, vpcConfig)")


def _scale_from_zero(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    """A model that may scale to zero copies comes back only through a step-scaling policy on the alarm that
    counts requests finding no capacity."""
    policies = of_type(resources, SCALING_POLICY)
    alarms = of_type(resources, ALARM)
    for target in of_type(resources, SCALABLE_TARGET):
        resource_id = target.props.get("resourceId")
        if not isinstance(resource_id, str) or not resource_id.startswith("inference-component/"):
            continue
        if (target.props.get("minCapacity") or 0) > 0:
            continue
        component = resource_id.removeprefix("inference-component/")
        steps = [p for p in policies if p.props.get("resourceId") == resource_id
                 and p.props.get("policyType") == "StepScaling"]
        if not steps:
            yield (f"{component} may scale to 0 copies but has no step-scaling policy to come back"), target
            continue
        step_urns = {p.urn for p in steps}
        woken = [a for a in alarms if a.props.get("metricName") == catalog.NO_CAPACITY_METRIC
                 and (decoded(a.props.get("dimensions")) or {}).get("InferenceComponentName") == component
                 and targets(a, "alarmActions") & step_urns]
        if not woken:
            yield (f"{component} may scale to 0 copies but no {catalog.NO_CAPACITY_METRIC} alarm on it starts its "
                   "step-scaling policy"), target


def _alarms_bound(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    yield from _rollbacks_bound(resources, ENDPOINT, "endpointName", catalog.ENDPOINT_LABEL, "EndpointName",
                                "endpoint", namespace="AWS/SageMaker")
    yield from _rollbacks_bound(resources, INFERENCE_COMPONENT, "inferenceComponentName", catalog.COMPONENT_LABEL,
                                "InferenceComponentName", "model", namespace=None)


def _rollbacks_bound(resources: list[PolicyResource], owner_type: str, name_key: str, label: str, dimension: str,
                     noun: str, *, namespace: str | None) -> Iterable[tuple[str, PolicyResource]]:
    """Each rollback alarm of an endpoint or a model watches that one: a PromQL alarm selects its series by
    label, a CloudWatch alarm by dimension."""
    alarms = {a.props.get("name"): a for a in of_type(resources, ALARM)}
    for owner in of_type(resources, owner_type):
        name = owner.props.get(name_key)
        deployment = decoded(owner.props.get("deploymentConfig")) or {}
        for ref in as_list((deployment.get("autoRollbackConfiguration") or {}).get("alarms")):
            alarm = alarms.get(ref.get("alarmName"))
            if alarm is None:
                yield f"rollback alarm {ref.get('alarmName')} is not defined in this stack", owner
                continue
            query = _promql(alarm)
            if query is not None:
                if f'"{label}"="{name}"' not in query:
                    yield (f"rollback alarm {alarm.props.get('name')}'s query does not select "
                           f'"{label}"="{name}", the {noun} it guards'), owner
                continue
            watched = (decoded(alarm.props.get("dimensions")) or {}).get(dimension)
            if watched != name or (namespace is not None and alarm.props.get("namespace") != namespace):
                yield (f"rollback alarm {alarm.props.get('name')} watches {watched!r}, not the {noun} {name!r} it "
                       "guards"), owner


def _promql(alarm: PolicyResource) -> str | None:
    criteria = (decoded(alarm.props.get("evaluationCriteria")) or {}).get("promqlCriteria") or {}
    query = criteria.get("query")
    return query if isinstance(query, str) else None


def _llm_engine_metrics(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    """An endpoint serving vLLM publishes the engine's metrics and rolls back on its token latencies; so does each
    vLLM model of a shared endpoint (an inference component), on its own series."""
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
    alarms = {a.props.get("name"): a for a in of_type(resources, ALARM)}
    serving_llm = {c.urn for c in llm_configs}
    for endpoint in of_type(resources, ENDPOINT):
        if targets(endpoint, "endpointConfigName") & serving_llm:
            yield from _rolls_back_on_engine_latency(endpoint, alarms, "an endpoint serving vLLM")
    # A shared endpoint's configuration names no model: its components do (specification.modelName).
    endpoints = {e.urn: e for e in of_type(resources, ENDPOINT)}
    configs = {c.urn: c for typ in ENDPOINT_CONFIGS for c in of_type(resources, typ)}
    for component in of_type(resources, INFERENCE_COMPONENT):
        if not targets(component, "specification") & llm_models:
            continue
        yield from _rolls_back_on_engine_latency(component, alarms, "a vLLM model's component")
        for endpoint_urn in targets(component, "endpointName"):
            shared = endpoints.get(endpoint_urn)
            for config_urn in targets(shared, "endpointConfigName") if shared else set():
                if config_urn in configs and configs[config_urn] not in llm_configs:
                    llm_configs.append(configs[config_urn])
    for config in llm_configs:
        metrics = config.props.get("metricsConfig") or {}
        if metrics.get("enableDetailedObservability") is not True:
            yield ("an endpoint serving vLLM must publish the engine's metrics (time to first token, between "
                   "tokens): metricsConfig.enableDetailedObservability true"), config


def _rolls_back_on_engine_latency(guarded: PolicyResource, alarms: Mapping[Any, PolicyResource],
                                  what_it_is: str) -> Iterable[tuple[str, PolicyResource]]:
    """``guarded`` (an endpoint or a component) rolls back on PromQL alarms over both vLLM latency histograms."""
    deployment = decoded(guarded.props.get("deploymentConfig")) or {}
    rollback = [alarms.get(ref.get("alarmName")) for ref in
                as_list((deployment.get("autoRollbackConfiguration") or {}).get("alarms"))]
    watched = " ".join(q for a in rollback if a is not None and (q := _promql(a)) is not None)
    for what, metric in catalog.VLLM_LATENCY_HISTOGRAMS.items():
        if f'"{metric}"' not in watched:
            yield (f"{what_it_is} must roll back on the engine's {what} latency: no rollback alarm queries "
                   f"{metric}"), guarded


TOPIC = "aws:sns/topic:Topic"


def _alarms_notify(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    encrypted = {t.urn for t in of_type(resources, TOPIC) if t.props.get("kmsMasterKeyId")}
    scaling = {p.urn for p in of_type(resources, SCALING_POLICY)}
    for alarm in of_type(resources, ALARM):
        if scaling & targets(alarm, "alarmActions"):
            continue  # It acts (adds capacity) rather than tells: a cold start is not news.
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
    resource_policy("sagemaker-prod-capacity", "Prod endpoint variants never run on fewer than 2 instances, and "
                    "never scale to zero",
                    ("SecurityHub:SageMaker.4",), (*ENDPOINT_CONFIGS, SCALABLE_TARGET), _capacity_in_prod),
    stack_policy("sagemaker-llm-engine-metrics", "Endpoints serving vLLM (alone or as inference components) "
                 "publish the engine's metrics and roll back on its time to first token and inter-token latency", (),
                 _llm_engine_metrics),
    stack_policy("sagemaker-safe-rollout",
                 "Endpoints roll out blue/green, roll back on 2+ alarms and keep autoscaled capacity; inference "
                 "components roll and roll back on an alarm", (), _safe_rollout),
    resource_policy("sagemaker-inference-component", "Inference components name a tar.gz artifact (or a model) "
                    "and start with at least one copy", (), (INFERENCE_COMPONENT,), _inference_component),
    resource_policy("sagemaker-component-endpoint", "Endpoints for inference components have an execution role, "
                    "no model of their own, network isolation and VPC placement", (), (NATIVE_ENDPOINT_CONFIG,),
                    _component_endpoint_config),
    stack_policy("sagemaker-scale-from-zero", "A model that may scale to zero copies comes back on the "
                 "NoCapacityInvocationFailures alarm through a step-scaling policy", (), _scale_from_zero),
    stack_policy("sagemaker-rollback-alarms-bound", "Rollback alarms watch the endpoint they guard", (),
                 _alarms_bound),
    stack_policy("alarms-notify", "Alarms notify the stack's KMS-encrypted alerts topic", ("CKV_AWS_26",),
                 _alarms_notify),
)
