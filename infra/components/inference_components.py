"""SharedEndpoint: one SageMaker endpoint whose instances several models share, each an inference component.

- The endpoint configuration names no model: it holds the instance type, managed instance scaling (a minimum
  of zero lets an idle endpoint release every instance), routing to the least busy copy, the execution role
  SageMaker uses to fetch each model, network isolation and the VPC placement.
- Each model is an inference component with its own CPU cores, memory and GPUs per copy, its own copy-count
  autoscaling on requests in flight per copy, and rolling updates that roll back on its own alarms: 5XX errors,
  and for an LLM vLLM's p99 time to first token and between tokens, which detailed observability publishes
  labelled with the component's name (catalog.COMPONENT_LABEL).
- A component's ArtifactUrl must be one tar.gz, so a classic model names its model.tar.gz there; an LLM (an
  uncompressed prefix) reaches its component through a SageMaker model with an uncompressed model data source.
- A model that may idle at zero copies comes back through a step-scaling policy started by an alarm on
  NoCapacityInvocationFailures, the metric SageMaker counts when a request finds no copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from infra import catalog
from infra.components.endpoint import (
    DATA_CAPTURE_PREFIX,
    METRIC_PUBLISH_S,
    VARIANT,
    endpoint_security_group,
    engine_latency_alarms,
    list_model_prefixes,
    model_prefix,
)
from infra.components.iam import document, image_pull, sagemaker_vpc_placement, service_trust
from infra.config import LLM_MODEL_DIR, ComponentModelConfig, InferenceComponentsConfig

COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
COPY_COUNT_INPUT = "runtimeConfig.copyCount"
"""The component's copy count as pulumi-aws-native names the input: set at creation, autoscaling's after."""
ComputeResources: TypeAlias = aws_native.sagemaker.InferenceComponentComputeResourceRequirementsArgsDict


@dataclass(frozen=True, kw_only=True)
class SharedEndpointArgs:
    config: InferenceComponentsConfig
    endpoint_name: str
    alerts_topic_arn: pulumi.Input[str]
    image_uris: dict[str, pulumi.Input[str]]
    """The serving image by engine ("classic", "vllm"), by digest."""
    repository_arns: list[pulumi.Input[str]]
    models_bucket: pulumi.Input[str]
    models_bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    s3_prefix_list_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    account_id: pulumi.Input[str]
    region: str
    partition: pulumi.Input[str]
    native_provider: aws_native.Provider


def component_name(endpoint_name: str, model: str) -> str:
    """The component's fixed name: alarms, scaling targets and `hoist invoke --model` address it by name."""
    return f"{endpoint_name}-{model}"


def rollback_alarm_name(endpoint_name: str, model: str) -> str:
    return f"{component_name(endpoint_name, model)}-5xx-errors"


def rollback_alarm_names(endpoint_name: str, model: str, engine: str) -> list[str]:
    """Every alarm that rolls the model's update back: 5XX errors, and for vLLM the engine's p99 time to first
    token and between tokens."""
    latencies = [f"{component_name(endpoint_name, model)}-p99-{what}" for what in catalog.VLLM_LATENCY_HISTOGRAMS]
    return [rollback_alarm_name(endpoint_name, model), *(latencies if engine == "vllm" else [])]


def no_capacity_alarm_name(endpoint_name: str, model: str) -> str:
    return f"{component_name(endpoint_name, model)}-no-capacity"


class SharedEndpoint(pulumi.ComponentResource):
    role: aws.iam.Role
    endpoint_config: aws_native.sagemaker.EndpointConfig
    endpoint: aws_native.sagemaker.Endpoint
    components: dict[str, aws_native.sagemaker.InferenceComponent]

    def __init__(self, name: str, args: SharedEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:inference_components:SharedEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config, endpoint_name = args.config, args.endpoint_name
        self.role = self._role(name, args, child)
        security_group = endpoint_security_group(name, args.vpc_id, args.vpc_cidr, args.s3_prefix_list_id, child)
        vpc: aws.sagemaker.ModelVpcConfigArgsDict = {"subnets": args.private_subnet_ids,
                                                     "security_group_ids": [security_group.id]}
        variant: aws_native.sagemaker.EndpointConfigProductionVariantArgsDict = {
            "variant_name": VARIANT,
            "instance_type": config.instance_type,
            # CreateEndpointConfig wants at least one instance; managed scaling then releases it when idle.
            "initial_instance_count": max(1, config.min_instances),
            "managed_instance_scaling": {"status": "ENABLED", "min_instance_count": config.min_instances,
                                         "max_instance_count": config.max_instances},
            "routing_config": {"routing_strategy": "LEAST_OUTSTANDING_REQUESTS"},
        }
        serves_llm = any(m.engine == "vllm" for m in config.models.values())
        if serves_llm:
            variant["inference_ami_version"] = catalog.inference_ami_for()
        # The key encrypts EBS volumes only; with local NVMe (hardware-encrypted) it is left out.
        kms_key = None if catalog.has_local_nvme(config.instance_type) else args.kms_key_arn
        capture: aws_native.sagemaker.EndpointConfigDataCaptureConfigArgsDict | None = None
        if config.data_capture_percent:
            capture = {
                "enable_capture": True, "initial_sampling_percentage": config.data_capture_percent,
                "destination_s3_uri": pulumi.Output.format("s3://{0}/{1}/{2}", args.models_bucket,
                                                           DATA_CAPTURE_PREFIX, endpoint_name),
                "kms_key_id": args.kms_key_arn,
                "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
                "capture_content_type_header": {"json_content_types": ["application/json"]}}
        self.endpoint_config = aws_native.sagemaker.EndpointConfig(
            f"{name}-config",
            production_variants=[variant],
            # With components the endpoint, not a model, fetches artifacts and images: it needs a role.
            execution_role_arn=self.role.arn,
            enable_network_isolation=True,
            vpc_config={"subnets": vpc["subnets"], "security_group_ids": vpc["security_group_ids"]},
            kms_key_id=kms_key,
            data_capture_config=capture,
            # Detailed observability publishes each vLLM copy's own metrics, labelled with its component's name,
            # which its rollback alarms query. It is the configuration's: on for every model, or for none.
            metrics_config={"enable_detailed_observability": True,
                            "metric_publish_frequency_in_seconds": METRIC_PUBLISH_S} if serves_llm else None,
            opts=pulumi.ResourceOptions(parent=self, provider=args.native_provider, depends_on=[self.policy]))
        self.endpoint = aws_native.sagemaker.Endpoint(
            f"{name}-endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.endpoint_config_name.apply(str),
            # A configuration change keeps the instance count managed scaling chose.
            retain_all_variant_properties=True,
            opts=pulumi.ResourceOptions(parent=self, provider=args.native_provider))
        self.components = {}
        for model_name, model in config.models.items():
            self.components[model_name] = self._component(name, model_name, model, args, vpc)
        self.register_outputs({"endpoint_name": endpoint_name,
                               "components": {m: component_name(endpoint_name, m) for m in config.models}})

    def _component(self, name: str, model_name: str, model: ComponentModelConfig, args: SharedEndpointArgs,
                   vpc: aws.sagemaker.ModelVpcConfigArgsDict) -> aws_native.sagemaker.InferenceComponent:
        config, endpoint_name = args.config, args.endpoint_name
        ic_name = component_name(endpoint_name, model_name)
        child = pulumi.ResourceOptions(parent=self)
        alarms = [aws.cloudwatch.MetricAlarm(
            f"{name}-{model_name}-5xx-errors", name=rollback_alarm_name(endpoint_name, model_name),
            namespace="AWS/SageMaker", metric_name="Invocation5XXErrors",
            dimensions={"InferenceComponentName": ic_name}, statistic="Sum", period=60, evaluation_periods=1,
            threshold=config.errors_5xx_alarm, comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching", alarm_actions=[args.alerts_topic_arn],
            ok_actions=[args.alerts_topic_arn],
            alarm_description=f"{ic_name} answers 5XX errors; rolls back its update", opts=child)]
        if model.engine == "vllm":
            thresholds = {"ttft": model.ttft_p99_alarm_ms, "inter-token": model.inter_token_p99_alarm_ms}
            labels = {catalog.ENDPOINT_LABEL: endpoint_name, catalog.COMPONENT_LABEL: ic_name}
            alarms += engine_latency_alarms(f"{name}-{model_name}", ic_name, labels, thresholds, ic_name,
                                            [args.alerts_topic_arn], child).values()
        download_s, startup_s = model.model_data_timeouts_s
        spec: aws_native.sagemaker.InferenceComponentSpecificationArgsDict = {
            "compute_resource_requirements": self._resources(model),
            "startup_parameters": {"model_data_download_timeout_in_seconds": download_s,
                                   "container_startup_health_check_timeout_in_seconds": startup_s},
            "data_cache_config": {"enable_caching": config.cache_model_data},
        }
        uri = pulumi.Output.format("s3://{0}/{1}", args.models_bucket, model.model_key)
        image = args.image_uris[model.engine]
        if model.llm is None:
            spec["container"] = {"image": image, "artifact_url": uri}
        else:
            # ArtifactUrl takes one tar.gz only: the uncompressed prefix goes through a model object.
            container: aws.sagemaker.ModelPrimaryContainerArgsDict = {
                "image": image, "mode": "SingleModel",
                "environment": {**model.llm.environment(), "SM_VLLM_MODEL": LLM_MODEL_DIR},
                "model_data_source": {"s3_data_sources": [{"s3_uri": uri, "s3_data_type": "S3Prefix",
                                                           "compression_type": "None"}]}}
            llm_model = aws.sagemaker.Model(
                f"{name}-{model_name}-model", execution_role_arn=self.role.arn, primary_container=container,
                enable_network_isolation=True, vpc_config=vpc,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]))
            spec["model_name"] = llm_model.name
        component = aws_native.sagemaker.InferenceComponent(
            f"{name}-{model_name}",
            inference_component_name=ic_name,
            endpoint_name=self.endpoint.endpoint_name.apply(str),
            variant_name=VARIANT,
            specification=spec,
            # CreateInferenceComponent refuses zero copies; autoscaling takes an idle model to zero later. The
            # count is autoscaling's once created: a refresh must not call its moves drift, nor an update reset it.
            runtime_config={"copy_count": model.initial_copies},
            deployment_config={
                "rolling_update_policy": {
                    "maximum_batch_size": {"type": "CAPACITY_PERCENT", "value": config.rollout_batch_percent},
                    "wait_interval_in_seconds": config.rollout_wait_s,
                    "maximum_execution_timeout_in_seconds": config.rollout_timeout_s},
                "auto_rollback_configuration": {"alarms": [{"alarm_name": a.name} for a in alarms]}},
            opts=pulumi.ResourceOptions(parent=self, provider=args.native_provider, depends_on=alarms,
                                        ignore_changes=[COPY_COUNT_INPUT]))
        self._autoscaling(name, endpoint_name, model_name, model, component)
        return component

    @staticmethod
    def _resources(model: ComponentModelConfig) -> ComputeResources:
        resources: ComputeResources = {
            "number_of_cpu_cores_required": model.cpu_cores, "min_memory_required_in_mb": model.memory_mb_per_copy}
        if model.gpus_per_copy:
            resources["number_of_accelerator_devices_required"] = model.gpus_per_copy
        return resources

    def _autoscaling(self, name: str, endpoint_name: str, model_name: str, model: ComponentModelConfig,
                     component: aws_native.sagemaker.InferenceComponent) -> None:
        ic_name = component_name(endpoint_name, model_name)
        after = pulumi.ResourceOptions(parent=self, depends_on=[component])
        target = aws.appautoscaling.Target(
            f"{name}-{model_name}-copies", service_namespace="sagemaker", scalable_dimension=COPY_DIMENSION,
            resource_id=f"inference-component/{ic_name}", min_capacity=model.min_copies,
            max_capacity=model.max_copies, opts=after)
        aws.appautoscaling.Policy(
            f"{name}-{model_name}-concurrency", policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace, resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration={
                "target_value": model.target_concurrent_requests_per_copy,
                "predefined_metric_specification": {"predefined_metric_type": catalog.COMPONENT_CONCURRENCY_METRIC},
                "scale_in_cooldown": 300, "scale_out_cooldown": 60,
            }, opts=pulumi.ResourceOptions(parent=self))
        if model.min_copies:
            return
        # Target tracking cannot leave zero (there is no copy to measure); a request that finds no copy is
        # counted, and its alarm adds one copy, for which managed instance scaling starts an instance.
        from_zero = aws.appautoscaling.Policy(
            f"{name}-{model_name}-from-zero", policy_type="StepScaling",
            service_namespace=target.service_namespace, resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            step_scaling_policy_configuration={
                "adjustment_type": "ChangeInCapacity", "metric_aggregation_type": "Maximum", "cooldown": 60,
                "step_adjustments": [{"metric_interval_lower_bound": "0", "scaling_adjustment": 1}],
            }, opts=pulumi.ResourceOptions(parent=self))
        # AWS's example alarm (endpoint-auto-scaling-zero-instances.html, read 2026-12-02): "--comparison-operator
        # GreaterThanThreshold --datapoints-to-alarm 1 --evaluation-periods 1 --metric-name
        # NoCapacityInvocationFailures --namespace AWS/SageMaker --period 60 --statistic Sum --threshold 1".
        # Its one-minute period is kept (nothing documents the metric at high resolution), so the alarm adds up
        # to a minute, and CloudWatch's delay in publishing the datapoint, before the copy is asked for. Its
        # "> 1" would need two refused requests in that minute; ">= 1" wakes the model on the first.
        aws.cloudwatch.MetricAlarm(
            f"{name}-{model_name}-no-capacity", name=no_capacity_alarm_name(endpoint_name, model_name),
            namespace="AWS/SageMaker", metric_name=catalog.NO_CAPACITY_METRIC,
            dimensions={"InferenceComponentName": ic_name}, statistic="Sum", period=60, evaluation_periods=1,
            datapoints_to_alarm=1, threshold=1, comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="missing",
            alarm_actions=[from_zero.arn],
            alarm_description=f"a request found no copy of {ic_name}: add one (scale from zero)",
            opts=pulumi.ResourceOptions(parent=self))

    def _role(self, name: str, args: SharedEndpointArgs, child: pulumi.ResourceOptions) -> aws.iam.Role:
        role = aws.iam.Role(f"{name}-endpoint", assume_role_policy=service_trust("sagemaker.amazonaws.com",
                                                                                 args.account_id), opts=child)
        prefixes = sorted({model_prefix(m.model_key) for m in args.config.models.values()})
        llm_prefixes = sorted({model_prefix(m.model_key) for m in args.config.models.values() if m.llm})
        log_group = pulumi.Output.format("arn:{0}:logs:{1}:{2}:log-group:/aws/sagemaker/*/{3}*:*",
                                         args.partition, args.region, args.account_id, args.endpoint_name)
        pull, login = image_pull("PullServingImages", args.repository_arns[0])
        pulls = [{**pull, "Resource": list(args.repository_arns)}, login]
        self.policy = aws.iam.RolePolicy(f"{name}-endpoint", role=role.id, policy=document(
            *pulls,
            {"Sid": "ReadModels", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": [pulumi.Output.format("{0}/{1}/*", args.models_bucket_arn, p) for p in prefixes]},
            *list_model_prefixes(args.models_bucket_arn, llm_prefixes),
            {"Sid": "WriteDataCapture", "Effect": "Allow", "Action": "s3:PutObject",
             "Resource": pulumi.Output.format("{0}/{1}/{2}/*", args.models_bucket_arn, DATA_CAPTURE_PREFIX,
                                              args.endpoint_name)},
            {"Sid": "UseStackKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
             "Resource": args.kms_key_arn},
            {"Sid": "WriteLogs", "Effect": "Allow",
             "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": log_group},
            sagemaker_vpc_placement(),
        ), opts=child)
        return role

