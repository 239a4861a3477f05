"""Endpoint: a SageMaker real-time endpoint running the stack's serving image, rolled out safely.

- The execution role may pull the serving image, read the model's prefix in the models bucket,
  write data capture and its own logs, and use the stack's key; nothing else.
- The model runs network-isolated in the private subnets.
- Endpoint configurations are auto-named, so a change creates a new one beside the one in use.
- The endpoint (pulumi-aws-native, CloudFormation's AWS::SageMaker::Endpoint) rolls out blue/green
  with canary or linear traffic shifting, bakes, rolls back on the alarms below, and retains the
  variant properties on update, so a rollout never resets the instance count autoscaling chose.
- The variant's name is fixed, so guardrails compare like with like across configurations.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from infra import catalog
from infra.components.iam import document, image_pull, sagemaker_vpc_placement, service_trust
from infra.config import EndpointConfig

VARIANT = "primary"
"""The one production variant's name; it never changes, so deployment guardrails can compare."""
DATA_CAPTURE_PREFIX = "data-capture"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
CONCURRENCY_METRIC = "SageMakerVariantConcurrentRequestsPerModelHighResolution"
TRAFFIC_TYPES = {"canary": "CANARY", "linear": "LINEAR", "all_at_once": "ALL_AT_ONCE"}


@dataclass(frozen=True, kw_only=True)
class EndpointArgs:
    config: EndpointConfig
    endpoint_name: str
    alerts_topic_arn: pulumi.Input[str]
    """The stack's alerts topic; the rollback alarms notify it as well as rolling a rollout back."""
    image_uri: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    models_bucket: pulumi.Input[str]
    models_bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    s3_prefix_list_id: pulumi.Input[str]
    """The S3 gateway endpoint's prefix list: S3's addresses, reached through the endpoint, not the VPC CIDR."""
    private_subnet_ids: list[pulumi.Input[str]]
    account_id: pulumi.Input[str]
    region: str
    partition: pulumi.Input[str]
    native_provider: aws_native.Provider


def model_prefix(model_key: str) -> str:
    """The key prefix holding the model artifact (its directory), which the role may read."""
    return posixpath.dirname(model_key)


METRIC_PUBLISH_S = 60
"""MetricsConfig.MetricPublishFrequencyInSeconds: 10, 30, 60, 120, 180, 240 or 300; 60 is the default."""
PROMQL_WINDOW = "5m"


def alarm_names(endpoint_name: str, engine: str = "classic") -> dict[str, str]:
    """The rollback alarms: errors for every engine; p99 model latency for classic, and for vLLM the engine's
    p99 time to first token and between tokens (a streamed request's whole latency says little)."""
    latencies = list(catalog.VLLM_LATENCY_HISTOGRAMS) if engine == "vllm" else ["latency"]
    return {"errors": f"{endpoint_name}-{VARIANT}-5xx-errors",
            **{what: f"{endpoint_name}-{VARIANT}-p99-{what}" for what in latencies}}


def p99_query(metric: str, labels: dict[str, str], threshold_s: float) -> str:
    """A PromQL instant query that returns the p99 of an engine histogram, over the series ``labels`` select
    (a variant, or an inference component), when it exceeds ``threshold_s``. Names with ':' and '.' are quoted
    (CloudWatch PromQL, Prometheus 3 UTF-8 names)."""
    selector = ", ".join(f'"{label}"="{value}"' for label, value in labels.items())
    series = f'{{"{metric}", {selector}}}'
    return f"histogram_quantile(0.99, sum(rate({series}[{PROMQL_WINDOW}]))) > {threshold_s:g}"


def engine_latency_alarms(name: str, alarm_prefix: str, labels: dict[str, str], thresholds_ms: dict[str, int],
                          guarded: str, actions: list[pulumi.Input[str]],
                          opts: pulumi.ResourceOptions) -> dict[str, aws.cloudwatch.MetricAlarm]:
    """vLLM's rollback alarms, by ``catalog.VLLM_LATENCY_HISTOGRAMS`` key: the engine's own p99 time to first
    token and between tokens, queried with PromQL from what detailed observability publishes. Named
    ``<alarm_prefix>-p99-<what>``; a single-model endpoint selects its variant, a shared one each component."""
    alarms = {}
    for what, metric in catalog.VLLM_LATENCY_HISTOGRAMS.items():
        alarms[what] = aws.cloudwatch.MetricAlarm(
            f"{name}-p99-{what}", name=f"{alarm_prefix}-p99-{what}",
            # A PromQL alarm: each breaching series is a contributor; two minutes breaching is ALARM.
            evaluation_criteria={"promql_criteria": {
                "query": p99_query(metric, labels, thresholds_ms[what] / 1000),
                "pending_period": 120, "recovery_period": 300}},
            evaluation_interval=METRIC_PUBLISH_S, alarm_actions=actions, ok_actions=actions,
            alarm_description=f"{guarded} p99 {what} latency over {thresholds_ms[what]} ms (vLLM's own histogram); "
                              "rolls back a rollout", opts=opts)
    return alarms


def traffic_routing(config: EndpointConfig) -> aws_native.sagemaker.EndpointTrafficRoutingConfigArgsDict:
    routing: aws_native.sagemaker.EndpointTrafficRoutingConfigArgsDict = {
        "type": TRAFFIC_TYPES[config.traffic_shifting], "wait_interval_in_seconds": config.step_wait_s}
    size: aws_native.sagemaker.EndpointCapacitySizeArgsDict = {"type": "CAPACITY_PERCENT",
                                                               "value": config.step_percent}
    if config.traffic_shifting == "canary":
        routing["canary_size"] = size
    elif config.traffic_shifting == "linear":
        routing["linear_step_size"] = size
    return routing


def endpoint_security_group(name: str, vpc_id: pulumi.Input[str], vpc_cidr: str, s3_prefix_list_id: pulumi.Input[str],
                            opts: pulumi.ResourceOptions) -> aws.ec2.SecurityGroup:
    """The endpoint's ENIs: nothing in; HTTPS out to the VPC's interface endpoints and to S3 through the
    gateway endpoint (S3's own addresses, not the VPC's)."""
    return aws.ec2.SecurityGroup(
        f"{name}-endpoint",
        description="SageMaker endpoint ENIs: no inbound; HTTPS to the VPC's endpoints only",
        vpc_id=vpc_id,
        egress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [vpc_cidr],
                 "description": "HTTPS to the VPC's interface endpoints"},
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "prefix_list_ids": [s3_prefix_list_id],
                 "description": "HTTPS to S3 through the gateway endpoint"}],
        opts=opts)


def list_model_prefixes(models_bucket_arn: pulumi.Input[str], prefixes: list[str]) -> list[dict[str, Any]]:
    """An S3Prefix model is listed before it is copied: the role may list those prefixes and no other."""
    if not prefixes:
        return []
    listed = [key for prefix in prefixes for key in (f"{prefix}/", f"{prefix}/*")]
    return [{"Sid": "ListModel", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": models_bucket_arn,
             "Condition": {"StringLike": {"s3:prefix": listed}}}]


class Endpoint(pulumi.ComponentResource):
    role: aws.iam.Role
    model: aws.sagemaker.Model
    endpoint_config: aws.sagemaker.EndpointConfiguration | aws_native.sagemaker.EndpointConfig
    endpoint: aws_native.sagemaker.Endpoint
    alarms: dict[str, aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: EndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:endpoint:Endpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config, endpoint_name = args.config, args.endpoint_name
        self.role = self._role(name, args, child)

        security_group = endpoint_security_group(name, args.vpc_id, args.vpc_cidr, args.s3_prefix_list_id, child)
        self.model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=self.role.arn,
            primary_container=self._container(args),
            # The container reaches no network at all; SageMaker itself fetches the image and the model.
            enable_network_isolation=True,
            vpc_config={"subnets": args.private_subnet_ids, "security_group_ids": [security_group.id]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
        )
        variant: aws.sagemaker.EndpointConfigurationProductionVariantArgsDict = {
            "variant_name": VARIANT,
            "model_name": self.model.name,
            "instance_type": config.instance_type,
            "initial_instance_count": config.min_instances,
            "container_startup_health_check_timeout_in_seconds": config.model_data_timeouts_s[1],
            "model_data_download_timeout_in_seconds": config.model_data_timeouts_s[0],
        }
        if config.inference_ami_version is not None:
            variant["inference_ami_version"] = config.inference_ami_version
        capture: aws.sagemaker.EndpointConfigurationDataCaptureConfigArgsDict | None = None
        if config.data_capture_percent:
            capture = {
                "enable_capture": True,
                "initial_sampling_percentage": config.data_capture_percent,
                "destination_s3_uri": pulumi.Output.format("s3://{0}/{1}/{2}", args.models_bucket,
                                                           DATA_CAPTURE_PREFIX, endpoint_name),
                "kms_key_id": args.kms_key_arn,
                "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
                "capture_content_type_header": {"json_content_types": ["application/json"]},
            }
        # The key encrypts EBS volumes only; with local NVMe (hardware-encrypted) CreateEndpointConfig fails.
        kms_key = None if catalog.has_local_nvme(config.instance_type) else args.kms_key_arn
        config_name: pulumi.Output[str]
        if config.engine == "vllm":
            # pulumi-aws's EndpointConfiguration has no MetricsConfig; CloudFormation's has. Detailed
            # observability makes SageMaker scrape the engine's /metrics (time to first token, between tokens),
            # which the rollback alarms below watch. Auto-named too, so a change creates a new configuration.
            native = aws_native.sagemaker.EndpointConfig(
                f"{name}-config",
                production_variants=[variant],  # the same snake_case keys as pulumi-aws's
                kms_key_id=kms_key,
                data_capture_config=capture,
                metrics_config={"enable_detailed_observability": True,
                                "metric_publish_frequency_in_seconds": METRIC_PUBLISH_S},
                opts=pulumi.ResourceOptions(parent=self, provider=args.native_provider),
            )
            self.endpoint_config, config_name = native, native.endpoint_config_name.apply(str)
        else:
            # No name: Pulumi auto-names it, so any change creates a new configuration beside the live one.
            classic = aws.sagemaker.EndpointConfiguration(
                f"{name}-config", production_variants=[variant], kms_key_arn=kms_key, data_capture_config=capture,
                opts=child)
            self.endpoint_config, config_name = classic, classic.name
        self.alarms = self._alarms(name, endpoint_name, config, args.alerts_topic_arn, child)
        self.endpoint = aws_native.sagemaker.Endpoint(
            f"{name}-endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=config_name,
            deployment_config={
                "blue_green_update_policy": {
                    "traffic_routing_configuration": traffic_routing(config),
                    "termination_wait_in_seconds": config.final_bake_s,
                    "maximum_execution_timeout_in_seconds": config.rollout_timeout_s,
                },
                "auto_rollback_configuration": {"alarms": [{"alarm_name": a.name} for a in self.alarms.values()]},
            },
            # A rollout keeps the instance count autoscaling chose, rather than the config's initial count.
            retain_all_variant_properties=True,
            opts=pulumi.ResourceOptions(parent=self, provider=args.native_provider,
                                        depends_on=list(self.alarms.values())),
        )
        self._autoscaling(name, endpoint_name, config)
        self._dashboard(name, endpoint_name, args.region)
        self.register_outputs({"endpoint_name": endpoint_name})

    @staticmethod
    def _container(args: EndpointArgs) -> aws.sagemaker.ModelPrimaryContainerArgsDict:
        config = args.config
        uri = pulumi.Output.format("s3://{0}/{1}", args.models_bucket, config.model_key)
        if config.llm is None:
            return {"image": args.image_uri, "mode": "SingleModel", "model_data_url": uri}
        # An LLM is an uncompressed prefix: SageMaker copies its objects into /opt/ml/model as they are,
        # with no tar.gz to build or extract (the slowest step for tens of GB).
        return {"image": args.image_uri, "mode": "SingleModel", "environment": config.llm.environment(),
                "model_data_source": {"s3_data_sources": [{"s3_uri": uri, "s3_data_type": "S3Prefix",
                                                            "compression_type": "None"}]}}

    def _role(self, name: str, args: EndpointArgs, child: pulumi.ResourceOptions) -> aws.iam.Role:
        role = aws.iam.Role(f"{name}-endpoint", assume_role_policy=service_trust("sagemaker.amazonaws.com",
                                                                                 args.account_id), opts=child)
        prefix = model_prefix(args.config.model_key)
        log_group = pulumi.Output.format("arn:{0}:logs:{1}:{2}:log-group:/aws/sagemaker/Endpoints/{3}:*",
                                         args.partition, args.region, args.account_id, args.endpoint_name)
        self.policy = aws.iam.RolePolicy(f"{name}-endpoint", role=role.id, policy=document(
            *image_pull("PullServingImage", args.repository_arn),
            {"Sid": "ReadModel", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": pulumi.Output.format("{0}/{1}/*", args.models_bucket_arn, prefix)},
            *list_model_prefixes(args.models_bucket_arn, [prefix] if args.config.engine == "vllm" else []),
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

    @staticmethod
    def _alarms(name: str, endpoint_name: str, config: EndpointConfig, topic_arn: pulumi.Input[str],
                child: pulumi.ResourceOptions) -> dict[str, aws.cloudwatch.MetricAlarm]:
        names = alarm_names(endpoint_name, config.engine)
        dimensions = {"EndpointName": endpoint_name, "VariantName": VARIANT}
        # A rollback is news: people hear of it through the alerts topic, and again when the alarm clears.
        actions = [topic_arn]
        alarms = {
            "errors": aws.cloudwatch.MetricAlarm(
                f"{name}-5xx-errors", name=names["errors"], namespace="AWS/SageMaker",
                metric_name="Invocation5XXErrors", dimensions=dimensions, statistic="Sum", period=60,
                evaluation_periods=1, threshold=config.errors_5xx_alarm, comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching", alarm_actions=actions, ok_actions=actions,
                alarm_description=f"{endpoint_name}/{VARIANT} answers 5XX errors; rolls back a rollout", opts=child)}
        if config.engine == "vllm":
            thresholds = {"ttft": config.ttft_p99_alarm_ms, "inter-token": config.inter_token_p99_alarm_ms}
            labels = {catalog.ENDPOINT_LABEL: endpoint_name, catalog.VARIANT_LABEL: VARIANT}
            return {**alarms, **engine_latency_alarms(name, f"{endpoint_name}-{VARIANT}", labels, thresholds,
                                                      f"{endpoint_name}/{VARIANT}", actions, child)}
        alarms["latency"] = aws.cloudwatch.MetricAlarm(
                f"{name}-p99-latency", name=names["latency"], namespace="AWS/SageMaker",
                metric_name="ModelLatency", dimensions=dimensions, extended_statistic="p99", period=60,
                # ModelLatency is reported in microseconds.
                evaluation_periods=3, datapoints_to_alarm=2, threshold=config.latency_p99_alarm_ms * 1000,
                comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching",
                alarm_actions=actions, ok_actions=actions,
                alarm_description=f"{endpoint_name}/{VARIANT} p99 model latency over {config.latency_p99_alarm_ms} ms; "
                                  "rolls back a rollout", opts=child)
        return alarms

    def _autoscaling(self, name: str, endpoint_name: str, config: EndpointConfig) -> None:
        after_endpoint = pulumi.ResourceOptions(parent=self, depends_on=[self.endpoint])
        target = aws.appautoscaling.Target(
            f"{name}-scaling", service_namespace="sagemaker", scalable_dimension=SCALABLE_DIMENSION,
            resource_id=f"endpoint/{endpoint_name}/variant/{VARIANT}",
            min_capacity=config.min_instances, max_capacity=config.max_instances, opts=after_endpoint)
        # A generation holds its slot for seconds to minutes, so invocations per minute says little about
        # load: an LLM scales on requests in flight (high resolution, counted until the last streamed token).
        llm = config.engine == "vllm"
        aws.appautoscaling.Policy(
            f"{name}-concurrency" if llm else f"{name}-invocations", policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace, resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration={
                "target_value": config.target_concurrent_requests_per_model if llm
                else config.target_invocations_per_instance,
                "predefined_metric_specification": {"predefined_metric_type": CONCURRENCY_METRIC if llm
                                                    else "SageMakerVariantInvocationsPerInstance"},
                "scale_in_cooldown": 300, "scale_out_cooldown": 60,
            }, opts=pulumi.ResourceOptions(parent=self))

    def _dashboard(self, name: str, endpoint_name: str, region: str) -> None:
        dims = ["EndpointName", endpoint_name, "VariantName", VARIANT]

        def widget(title: str, metrics: list[list[object]], x: int, y: int) -> dict[str, object]:
            return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                    "properties": {"title": title, "region": region, "view": "timeSeries", "period": 60,
                                   "metrics": metrics}}

        body = {"widgets": [
            widget("Invocations", [["AWS/SageMaker", "Invocations", *dims, {"stat": "Sum"}]], 0, 0),
            widget("Model latency (µs)", [["AWS/SageMaker", "ModelLatency", *dims, {"stat": "p50"}],
                                          ["AWS/SageMaker", "ModelLatency", *dims, {"stat": "p99"}]], 12, 0),
            widget("Errors", [["AWS/SageMaker", "Invocation5XXErrors", *dims, {"stat": "Sum"}],
                              ["AWS/SageMaker", "Invocation4XXErrors", *dims, {"stat": "Sum"}]], 0, 6),
            widget("CPU utilisation", [["/aws/sagemaker/Endpoints", "CPUUtilization", *dims, {"stat": "Average"}]],
                   12, 6),
        ]}
        aws.cloudwatch.Dashboard(f"{name}-endpoint", dashboard_name=endpoint_name, dashboard_body=json.dumps(body),
                                 opts=pulumi.ResourceOptions(parent=self))
