"""Translate recorded Pulumi inputs into the AWS API requests the provider would send.

Each translator maps one resource type to the request of the API call that creates or configures
it, in that API's own member names, so botocore's service model can judge it. Later components add
their resource types here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hoist.plan.recording import PlannedResource

Request = tuple[str, str, dict[str, Any]]
"""(service, operation, params)"""

VPC_ID = "vpc-0123456789abcdef0"


def wire_numbers(value: Any) -> Any:
    """Pulumi's gRPC protocol carries every number as a double; the provider turns whole numbers back
    into integers where its schema says so. Do the same before botocore judges the request."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: wire_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_numbers(v) for v in value]
    return value


def _vpc(r: PlannedResource) -> list[Request]:
    return [("ec2", "CreateVpc", {"CidrBlock": r.inputs["cidrBlock"]})]


def _subnet(r: PlannedResource) -> list[Request]:
    return [("ec2", "CreateSubnet", {"VpcId": VPC_ID, "CidrBlock": r.inputs["cidrBlock"],
                                     "AvailabilityZone": r.inputs["availabilityZone"]})]


def _endpoint(r: PlannedResource) -> list[Request]:
    i = r.inputs
    params: dict[str, Any] = {"VpcId": VPC_ID, "ServiceName": i["serviceName"],
                              "VpcEndpointType": i["vpcEndpointType"]}
    if i["vpcEndpointType"] == "Interface":
        params |= {"SubnetIds": i["subnetIds"], "SecurityGroupIds": i["securityGroupIds"],
                   "PrivateDnsEnabled": i["privateDnsEnabled"]}
    else:
        params["RouteTableIds"] = i["routeTableIds"]
    return [("ec2", "CreateVpcEndpoint", params)]


def _flow_log(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("ec2", "CreateFlowLogs", {
        "ResourceIds": [i["vpcId"]], "ResourceType": "VPC", "TrafficType": i["trafficType"],
        "LogDestinationType": i["logDestinationType"], "LogDestination": i["logDestination"],
        "DeliverLogsPermissionArn": i["iamRoleArn"], "MaxAggregationInterval": i["maxAggregationInterval"]})]


def _log_group(r: PlannedResource) -> list[Request]:
    name = r.inputs.get("name", r.name)
    return [("logs", "CreateLogGroup", {"logGroupName": name, "kmsKeyId": r.inputs["kmsKeyId"]}),
            ("logs", "PutRetentionPolicy", {"logGroupName": name, "retentionInDays": r.inputs["retentionInDays"]})]


def _key(r: PlannedResource) -> list[Request]:
    return [("kms", "CreateKey", {"Description": r.inputs["description"], "Policy": r.inputs["policy"]}),
            ("kms", "EnableKeyRotation", {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
            ("kms", "ScheduleKeyDeletion", {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
                                            "PendingWindowInDays": r.inputs["deletionWindowInDays"]})]


def _public_access_block(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("s3", "PutPublicAccessBlock", {"Bucket": i["bucket"], "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": i["blockPublicAcls"], "IgnorePublicAcls": i["ignorePublicAcls"],
        "BlockPublicPolicy": i["blockPublicPolicy"], "RestrictPublicBuckets": i["restrictPublicBuckets"]}})]


def _encryption(r: PlannedResource) -> list[Request]:
    rules = []
    for rule in r.inputs["rules"]:
        default = rule["applyServerSideEncryptionByDefault"]
        by_default = {"SSEAlgorithm": default["sseAlgorithm"]}
        if "kmsMasterKeyId" in default:
            by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        rules.append({"ApplyServerSideEncryptionByDefault": by_default, "BucketKeyEnabled": rule["bucketKeyEnabled"]})
    return [("s3", "PutBucketEncryption", {"Bucket": r.inputs["bucket"],
                                           "ServerSideEncryptionConfiguration": {"Rules": rules}})]


def _versioning(r: PlannedResource) -> list[Request]:
    return [("s3", "PutBucketVersioning", {"Bucket": r.inputs["bucket"], "VersioningConfiguration": {
        "Status": r.inputs["versioningConfiguration"]["status"]}})]


def _ownership(r: PlannedResource) -> list[Request]:
    return [("s3", "PutBucketOwnershipControls", {"Bucket": r.inputs["bucket"], "OwnershipControls": {
        "Rules": [{"ObjectOwnership": r.inputs["rule"]["objectOwnership"]}]}})]


def _lifecycle(r: PlannedResource) -> list[Request]:
    rules = []
    for rule in r.inputs["rules"]:
        out: dict[str, Any] = {"ID": rule["id"], "Status": rule["status"],
                               "Filter": {"Prefix": rule["filter"]["prefix"]}}
        if "abortIncompleteMultipartUpload" in rule:
            out["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"]}
        if "noncurrentVersionExpiration" in rule:
            out["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": rule["noncurrentVersionExpiration"]["noncurrentDays"]}
        if "expiration" in rule:
            out["Expiration"] = {"Days": rule["expiration"]["days"]}
        rules.append(out)
    return [("s3", "PutBucketLifecycleConfiguration", {"Bucket": r.inputs["bucket"],
                                                       "LifecycleConfiguration": {"Rules": rules}})]


def _logging(r: PlannedResource) -> list[Request]:
    return [("s3", "PutBucketLogging", {"Bucket": r.inputs["bucket"], "BucketLoggingStatus": {"LoggingEnabled": {
        "TargetBucket": r.inputs["targetBucket"], "TargetPrefix": r.inputs["targetPrefix"]}}})]


def _bucket_policy(r: PlannedResource) -> list[Request]:
    return [("s3", "PutBucketPolicy", {"Bucket": r.inputs["bucket"], "Policy": r.inputs["policy"]})]


def _repository(r: PlannedResource) -> list[Request]:
    i = r.inputs
    encryption = i["encryptionConfigurations"][0]
    return [("ecr", "CreateRepository", {
        "repositoryName": i["name"], "imageTagMutability": i["imageTagMutability"],
        "imageScanningConfiguration": {"scanOnPush": i["imageScanningConfiguration"]["scanOnPush"]},
        "encryptionConfiguration": {"encryptionType": encryption["encryptionType"], "kmsKey": encryption["kmsKey"]}})]


def _ecr_lifecycle(r: PlannedResource) -> list[Request]:
    return [("ecr", "PutLifecyclePolicy", {"repositoryName": r.inputs["repository"],
                                           "lifecyclePolicyText": r.inputs["policy"]})]


def _replication(r: PlannedResource) -> list[Request]:
    rules = r.inputs["replicationConfiguration"]["rules"]
    return [("ecr", "PutReplicationConfiguration", {"replicationConfiguration": {"rules": [{
        "destinations": [{"region": d["region"], "registryId": d["registryId"]} for d in rule["destinations"]],
        "repositoryFilters": [{"filter": f["filter"], "filterType": f["filterType"]}
                              for f in rule["repositoryFilters"]]} for rule in rules]}})]


def _registry_policy(r: PlannedResource) -> list[Request]:
    json.loads(r.inputs["policy"])
    return [("ecr", "PutRegistryPolicy", {"policyText": r.inputs["policy"]})]


def _model(r: PlannedResource) -> list[Request]:
    i = r.inputs
    container = i["primaryContainer"]
    primary: dict[str, Any] = {"Image": container["image"], "Mode": container["mode"]}
    if "modelDataUrl" in container:
        primary["ModelDataUrl"] = container["modelDataUrl"]
    if "modelDataSource" in container:
        (source,) = container["modelDataSource"]["s3DataSources"]
        primary["ModelDataSource"] = {"S3DataSource": {"S3Uri": source["s3Uri"], "S3DataType": source["s3DataType"],
                                                       "CompressionType": source["compressionType"]}}
    if "environment" in container:
        primary["Environment"] = container["environment"]
    return [("sagemaker", "CreateModel", {
        "ModelName": r.name, "ExecutionRoleArn": i["executionRoleArn"],
        "PrimaryContainer": primary,
        "VpcConfig": {"SecurityGroupIds": i["vpcConfig"]["securityGroupIds"], "Subnets": i["vpcConfig"]["subnets"]},
        "EnableNetworkIsolation": i["enableNetworkIsolation"]})]


_VARIANT_FIELDS = {"variantName": "VariantName", "modelName": "ModelName", "instanceType": "InstanceType",
                   "initialInstanceCount": "InitialInstanceCount",
                   "containerStartupHealthCheckTimeoutInSeconds": "ContainerStartupHealthCheckTimeoutInSeconds",
                   "modelDataDownloadTimeoutInSeconds": "ModelDataDownloadTimeoutInSeconds",
                   "inferenceAmiVersion": "InferenceAmiVersion"}


def _variant(v: dict[str, Any]) -> dict[str, Any]:
    variant = {api: v[key] for key, api in _VARIANT_FIELDS.items() if key in v}
    if "managedInstanceScaling" in v:
        managed = v["managedInstanceScaling"]
        variant["ManagedInstanceScaling"] = {"Status": managed["status"],
                                             "MinInstanceCount": managed["minInstanceCount"],
                                             "MaxInstanceCount": managed["maxInstanceCount"]}
    if "routingConfig" in v:
        variant["RoutingConfig"] = {"RoutingStrategy": v["routingConfig"]["routingStrategy"]}
    return variant


def _endpoint_config(r: PlannedResource) -> list[Request]:
    i = r.inputs
    # pulumi-aws names the key kmsKeyArn; CloudFormation's EndpointConfig (aws-native) kmsKeyId.
    key = i.get("kmsKeyArn", i.get("kmsKeyId"))
    params: dict[str, Any] = {
        "EndpointConfigName": r.name,
        **({"KmsKeyId": key} if key is not None else {}),
        "ProductionVariants": [_variant(v) for v in i["productionVariants"]]}
    if "executionRoleArn" in i:
        params["ExecutionRoleArn"] = i["executionRoleArn"]
    if "enableNetworkIsolation" in i:
        params["EnableNetworkIsolation"] = i["enableNetworkIsolation"]
    if "vpcConfig" in i:
        params["VpcConfig"] = {"SecurityGroupIds": i["vpcConfig"]["securityGroupIds"],
                               "Subnets": i["vpcConfig"]["subnets"]}
    capture = i.get("dataCaptureConfig")
    if capture:
        params["DataCaptureConfig"] = {
            "EnableCapture": capture["enableCapture"],
            "InitialSamplingPercentage": capture["initialSamplingPercentage"],
            "DestinationS3Uri": capture["destinationS3Uri"], "KmsKeyId": capture["kmsKeyId"],
            "CaptureOptions": [{"CaptureMode": o["captureMode"]} for o in capture["captureOptions"]],
            "CaptureContentTypeHeader": {"JsonContentTypes": capture["captureContentTypeHeader"]["jsonContentTypes"]}}
    metrics = i.get("metricsConfig")
    if metrics:
        params["MetricsConfig"] = {api: metrics[key] for key, api in (
            ("enableEnhancedMetrics", "EnableEnhancedMetrics"),
            ("enableDetailedObservability", "EnableDetailedObservability"),
            ("metricPublishFrequencyInSeconds", "MetricPublishFrequencyInSeconds")) if key in metrics}
    return [("sagemaker", "CreateEndpointConfig", params)]


def _capacity(size: dict[str, Any]) -> dict[str, Any]:
    return {"Type": size["type"], "Value": size["value"]}


def _native_endpoint(r: PlannedResource) -> list[Request]:
    i = r.inputs
    if "deploymentConfig" not in i:
        # An endpoint of inference components: each component rolls out on its own.
        return [("sagemaker", "CreateEndpoint", {"EndpointName": i["endpointName"],
                                                 "EndpointConfigName": i["endpointConfigName"]}),
                ("sagemaker", "UpdateEndpoint", {"EndpointName": i["endpointName"],
                                                 "EndpointConfigName": i["endpointConfigName"],
                                                 "RetainAllVariantProperties": i["retainAllVariantProperties"]})]
    blue_green = i["deploymentConfig"]["blueGreenUpdatePolicy"]
    routing = blue_green["trafficRoutingConfiguration"]
    traffic: dict[str, Any] = {"Type": routing["type"], "WaitIntervalInSeconds": routing["waitIntervalInSeconds"]}
    if "canarySize" in routing:
        traffic["CanarySize"] = _capacity(routing["canarySize"])
    if "linearStepSize" in routing:
        traffic["LinearStepSize"] = _capacity(routing["linearStepSize"])
    deployment = {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": traffic,
                                  "TerminationWaitInSeconds": blue_green["terminationWaitInSeconds"],
                                  "MaximumExecutionTimeoutInSeconds": blue_green["maximumExecutionTimeoutInSeconds"]},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a["alarmName"]} for a in
                                                 i["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]}}
    # CloudFormation creates the endpoint, then updates it on every later configuration change.
    return [("sagemaker", "CreateEndpoint", {"EndpointName": i["endpointName"],
                                             "EndpointConfigName": i["endpointConfigName"],
                                             "DeploymentConfig": deployment}),
            ("sagemaker", "UpdateEndpoint", {"EndpointName": i["endpointName"],
                                             "EndpointConfigName": i["endpointConfigName"],
                                             "DeploymentConfig": deployment,
                                             "RetainAllVariantProperties": i["retainAllVariantProperties"]})]


def _component_specification(spec: dict[str, Any]) -> dict[str, Any]:
    needs = spec["computeResourceRequirements"]
    out: dict[str, Any] = {
        "ComputeResourceRequirements": {api: needs[key] for key, api in (
            ("numberOfCpuCoresRequired", "NumberOfCpuCoresRequired"),
            ("numberOfAcceleratorDevicesRequired", "NumberOfAcceleratorDevicesRequired"),
            ("minMemoryRequiredInMb", "MinMemoryRequiredInMb"),
            ("maxMemoryRequiredInMb", "MaxMemoryRequiredInMb")) if key in needs},
        "StartupParameters": {
            "ModelDataDownloadTimeoutInSeconds": spec["startupParameters"]["modelDataDownloadTimeoutInSeconds"],
            "ContainerStartupHealthCheckTimeoutInSeconds":
                spec["startupParameters"]["containerStartupHealthCheckTimeoutInSeconds"]},
        "DataCacheConfig": {"EnableCaching": spec["dataCacheConfig"]["enableCaching"]}}
    if "container" in spec:
        container = spec["container"]
        out["Container"] = {"Image": container["image"], "ArtifactUrl": container["artifactUrl"],
                            **({"Environment": container["environment"]} if "environment" in container else {})}
    if "modelName" in spec:
        out["ModelName"] = spec["modelName"]
    return out


def _inference_component(r: PlannedResource) -> list[Request]:
    i = r.inputs
    spec = _component_specification(i["specification"])
    runtime = {"CopyCount": i["runtimeConfig"]["copyCount"]}
    rolling = i["deploymentConfig"]["rollingUpdatePolicy"]
    deployment = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": _capacity(rolling["maximumBatchSize"]),
            "WaitIntervalInSeconds": rolling["waitIntervalInSeconds"],
            "MaximumExecutionTimeoutInSeconds": rolling["maximumExecutionTimeoutInSeconds"]},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a["alarmName"]} for a in
                                                 i["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]}}
    # CloudFormation creates the component, then updates it (rolling, with rollback) on every later change.
    return [("sagemaker", "CreateInferenceComponent", {
                "InferenceComponentName": i["inferenceComponentName"], "EndpointName": i["endpointName"],
                "VariantName": i["variantName"], "Specification": spec, "RuntimeConfig": runtime}),
            ("sagemaker", "UpdateInferenceComponent", {
                "InferenceComponentName": i["inferenceComponentName"], "Specification": spec,
                "RuntimeConfig": runtime, "DeploymentConfig": deployment})]


def _scalable_target(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("application-autoscaling", "RegisterScalableTarget", {
        "ServiceNamespace": i["serviceNamespace"], "ResourceId": i["resourceId"],
        "ScalableDimension": i["scalableDimension"], "MinCapacity": i["minCapacity"],
        "MaxCapacity": i["maxCapacity"]})]


def _scaling_policy(r: PlannedResource) -> list[Request]:
    i = r.inputs
    if i["policyType"] == "StepScaling":
        step = i["stepScalingPolicyConfiguration"]
        return [("application-autoscaling", "PutScalingPolicy", {
            "PolicyName": r.name, "ServiceNamespace": i["serviceNamespace"], "ResourceId": i["resourceId"],
            "ScalableDimension": i["scalableDimension"], "PolicyType": i["policyType"],
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": step["adjustmentType"], "MetricAggregationType": step["metricAggregationType"],
                "Cooldown": step["cooldown"],
                "StepAdjustments": [{"MetricIntervalLowerBound": float(a["metricIntervalLowerBound"]),
                                     "ScalingAdjustment": a["scalingAdjustment"]} for a in step["stepAdjustments"]]}})]
    tracking = i["targetTrackingScalingPolicyConfiguration"]
    return [("application-autoscaling", "PutScalingPolicy", {
        "PolicyName": r.name, "ServiceNamespace": i["serviceNamespace"], "ResourceId": i["resourceId"],
        "ScalableDimension": i["scalableDimension"], "PolicyType": i["policyType"],
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(tracking["targetValue"]),
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": tracking["predefinedMetricSpecification"]["predefinedMetricType"]},
            "ScaleInCooldown": tracking["scaleInCooldown"], "ScaleOutCooldown": tracking["scaleOutCooldown"]}})]


def _metric_alarm(r: PlannedResource) -> list[Request]:
    i = r.inputs
    if "evaluationCriteria" in i:
        # A PromQL alarm: PutMetricAlarm takes no metric, statistic, threshold or periods beside it.
        criteria = i["evaluationCriteria"]["promqlCriteria"]
        promql = {"Query": criteria["query"], **{api: criteria[key] for key, api in (
            ("pendingPeriod", "PendingPeriod"), ("recoveryPeriod", "RecoveryPeriod")) if key in criteria}}
        return [("cloudwatch", "PutMetricAlarm", {
            "AlarmName": i["name"], "AlarmDescription": i["alarmDescription"],
            "EvaluationCriteria": {"PromQLCriteria": promql}, "EvaluationInterval": i["evaluationInterval"],
            "AlarmActions": i["alarmActions"], "OKActions": i["okActions"]})]
    params: dict[str, Any] = {
        "AlarmName": i["name"], "AlarmDescription": i["alarmDescription"], "Namespace": i["namespace"],
        "MetricName": i["metricName"], "Dimensions": [{"Name": k, "Value": v} for k, v in i["dimensions"].items()],
        "Period": i["period"], "EvaluationPeriods": i["evaluationPeriods"], "Threshold": float(i["threshold"]),
        "ComparisonOperator": i["comparisonOperator"], "TreatMissingData": i["treatMissingData"]}
    for key, api in (("statistic", "Statistic"), ("extendedStatistic", "ExtendedStatistic"),
                     ("datapointsToAlarm", "DatapointsToAlarm"), ("alarmActions", "AlarmActions"),
                     ("okActions", "OKActions")):
        if key in i:
            params[api] = i[key]
    return [("cloudwatch", "PutMetricAlarm", params)]


def _dashboard(r: PlannedResource) -> list[Request]:
    json.loads(r.inputs["dashboardBody"])
    return [("cloudwatch", "PutDashboard", {"DashboardName": r.inputs["dashboardName"],
                                            "DashboardBody": r.inputs["dashboardBody"]})]


def _eks_cluster(r: PlannedResource) -> list[Request]:
    i = r.inputs
    vpc = i["vpcConfig"]
    public = {"publicAccessCidrs": vpc["publicAccessCidrs"]} if "publicAccessCidrs" in vpc else {}
    return [("eks", "CreateCluster", {
        "name": i["name"], "version": i["version"], "roleArn": i["roleArn"],
        "resourcesVpcConfig": {"subnetIds": vpc["subnetIds"], "endpointPrivateAccess": vpc["endpointPrivateAccess"],
                               "endpointPublicAccess": vpc["endpointPublicAccess"],
                               **public},
        "accessConfig": {"authenticationMode": i["accessConfig"]["authenticationMode"],
                         "bootstrapClusterCreatorAdminPermissions":
                             i["accessConfig"]["bootstrapClusterCreatorAdminPermissions"]},
        "encryptionConfig": [{"resources": i["encryptionConfig"]["resources"],
                              "provider": {"keyArn": i["encryptionConfig"]["provider"]["keyArn"]}}],
        "logging": {"clusterLogging": [{"types": i["enabledClusterLogTypes"], "enabled": True}]},
        "upgradePolicy": {"supportType": i["upgradePolicy"]["supportType"]}})]


def _node_group(r: PlannedResource) -> list[Request]:
    i = r.inputs
    scaling = i["scalingConfig"]
    return [("eks", "CreateNodegroup", {
        "clusterName": i["clusterName"], "nodegroupName": r.name, "nodeRole": i["nodeRoleArn"],
        "subnets": i["subnetIds"], "amiType": i["amiType"], "capacityType": i["capacityType"],
        "instanceTypes": i["instanceTypes"], "labels": i["labels"],
        "scalingConfig": {"minSize": scaling["minSize"], "maxSize": scaling["maxSize"],
                          "desiredSize": scaling["desiredSize"]},
        "launchTemplate": {"id": i["launchTemplate"]["id"], "version": i["launchTemplate"]["version"]}})]


def _addon(r: PlannedResource) -> list[Request]:
    i = r.inputs
    params: dict[str, Any] = {"clusterName": i["clusterName"], "addonName": i["addonName"]}
    if i.get("podIdentityAssociations"):
        params["podIdentityAssociations"] = [{"serviceAccount": a["serviceAccount"], "roleArn": a["roleArn"]}
                                             for a in i["podIdentityAssociations"]]
    return [("eks", "CreateAddon", params)]


def _codebuild_project(r: PlannedResource) -> list[Request]:
    i = r.inputs
    environment, source, vpc = i["environment"], i["source"], i["vpcConfig"]
    logs = i["logsConfig"]
    return [("codebuild", "CreateProject", {
        "name": i["name"], "description": i["description"], "serviceRole": i["serviceRole"],
        "timeoutInMinutes": i["buildTimeout"], "queuedTimeoutInMinutes": i["queuedTimeout"],
        "encryptionKey": i["encryptionKey"], "artifacts": {"type": i["artifacts"]["type"]},
        "source": {"type": source["type"], "location": source["location"], "gitCloneDepth": source["gitCloneDepth"],
                   "auth": {"type": source["auth"]["type"], "resource": source["auth"]["resource"]}},
        "environment": {"type": environment["type"], "image": environment["image"],
                        "computeType": environment["computeType"], "privilegedMode": environment["privilegedMode"],
                        "imagePullCredentialsType": environment["imagePullCredentialsType"]},
        "vpcConfig": {"vpcId": vpc["vpcId"], "subnets": vpc["subnets"], "securityGroupIds": vpc["securityGroupIds"]},
        "logsConfig": {"cloudWatchLogs": {"status": logs["cloudwatchLogs"]["status"],
                                          "groupName": logs["cloudwatchLogs"]["groupName"]},
                       "s3Logs": {"status": logs["s3Logs"]["status"]}}})]


def _codebuild_webhook(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("codebuild", "CreateWebhook", {
        "projectName": i["projectName"], "buildType": i["buildType"],
        "filterGroups": [[{"type": f["type"], "pattern": f["pattern"]} for f in group["filters"]]
                         for group in i["filterGroups"]]})]


def _ingress_rule(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("ec2", "AuthorizeSecurityGroupIngress", {"GroupId": i["securityGroupId"], "IpPermissions": [{
        "IpProtocol": i["ipProtocol"], "FromPort": i["fromPort"], "ToPort": i["toPort"],
        "UserIdGroupPairs": [{"GroupId": i["referencedSecurityGroupId"], "Description": i["description"]}]}]})]


def _access_entry(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("eks", "CreateAccessEntry", {"clusterName": i["clusterName"], "principalArn": i["principalArn"],
                                          "type": i["type"]})]


def _access_policy(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("eks", "AssociateAccessPolicy", {"clusterName": i["clusterName"], "principalArn": i["principalArn"],
                                              "policyArn": i["policyArn"],
                                              "accessScope": {"type": i["accessScope"]["type"]}})]


def _pod_identity(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("eks", "CreatePodIdentityAssociation", {"clusterName": i["clusterName"], "namespace": i["namespace"],
                                                     "serviceAccount": i["serviceAccount"], "roleArn": i["roleArn"]})]


def _launch_template(r: PlannedResource) -> list[Request]:
    i = r.inputs
    metadata = i["metadataOptions"]
    return [("ec2", "CreateLaunchTemplate", {"LaunchTemplateName": r.name, "LaunchTemplateData": {
        "MetadataOptions": {"HttpEndpoint": metadata["httpEndpoint"], "HttpTokens": metadata["httpTokens"],
                            "HttpPutResponseHopLimit": metadata["httpPutResponseHopLimit"]},
        "BlockDeviceMappings": [{"DeviceName": b["deviceName"], "Ebs": {
            "VolumeSize": b["ebs"]["volumeSize"], "VolumeType": b["ebs"]["volumeType"],
            "Encrypted": b["ebs"]["encrypted"] == "true", "KmsKeyId": b["ebs"]["kmsKeyId"],
            "DeleteOnTermination": b["ebs"]["deleteOnTermination"] == "true"}} for b in i["blockDeviceMappings"]],
        "TagSpecifications": [{"ResourceType": t["resourceType"],
                               "Tags": [{"Key": k, "Value": v} for k, v in t["tags"].items()]}
                              for t in i.get("tagSpecifications", [])]}})]


def _topic(r: PlannedResource) -> list[Request]:
    return [("sns", "CreateTopic", {"Name": r.name, "Attributes": {"KmsMasterKeyId": r.inputs["kmsMasterKeyId"]}})]


def _topic_policy(r: PlannedResource) -> list[Request]:
    json.loads(r.inputs["policy"])
    return [("sns", "SetTopicAttributes", {"TopicArn": r.inputs["arn"], "AttributeName": "Policy",
                                           "AttributeValue": r.inputs["policy"]})]


def _subscription(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("sns", "Subscribe", {"TopicArn": i["topic"], "Protocol": i["protocol"], "Endpoint": i["endpoint"]})]


def _queue(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("sqs", "CreateQueue", {"QueueName": i["name"], "Attributes": {
        "MessageRetentionPeriod": str(i["messageRetentionSeconds"]),
        "SqsManagedSseEnabled": str(i["sqsManagedSseEnabled"]).lower()}})]


def _queue_policy(r: PlannedResource) -> list[Request]:
    json.loads(r.inputs["policy"])
    return [("sqs", "SetQueueAttributes", {"QueueUrl": r.inputs["queueUrl"],
                                           "Attributes": {"Policy": r.inputs["policy"]}})]


def _event_rule(r: PlannedResource) -> list[Request]:
    return [("events", "PutRule", {"Name": r.name, "EventPattern": r.inputs["eventPattern"],
                                   "Description": r.inputs["description"]})]


def _event_target(r: PlannedResource) -> list[Request]:
    return [("events", "PutTargets", {"Rule": r.inputs["rule"], "Targets": [{"Id": "1", "Arn": r.inputs["arn"]}]})]


def _attachment(r: PlannedResource) -> list[Request]:
    return [("iam", "AttachRolePolicy", {"RoleName": r.inputs["role"], "PolicyArn": r.inputs["policyArn"]})]


def _budget(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("budgets", "CreateBudget", {
        "AccountId": "111122223333",
        "Budget": {"BudgetName": i["name"], "BudgetType": i["budgetType"], "TimeUnit": i["timeUnit"],
                   "BudgetLimit": {"Amount": i["limitAmount"], "Unit": i["limitUnit"]},
                   "CostFilters": {f["name"]: f["values"] for f in i["costFilters"]}},
        "NotificationsWithSubscribers": [
            {"Notification": {"NotificationType": n["notificationType"], "ComparisonOperator": n["comparisonOperator"],
                              "Threshold": float(n["threshold"]), "ThresholdType": n["thresholdType"]},
             "Subscribers": [{"SubscriptionType": "EMAIL", "Address": a} for a in n.get("subscriberEmailAddresses", [])]
             + [{"SubscriptionType": "SNS", "Address": a} for a in n.get("subscriberSnsTopicArns", [])]}
            for n in i["notifications"]]})]


def _role(r: PlannedResource) -> list[Request]:
    return [("iam", "CreateRole", {"RoleName": r.inputs.get("name", r.name),
                                   "AssumeRolePolicyDocument": r.inputs["assumeRolePolicy"]})]


def _role_policy(r: PlannedResource) -> list[Request]:
    json.loads(r.inputs["policy"])
    return [("iam", "PutRolePolicy", {"RoleName": r.inputs["role"], "PolicyName": r.name,
                                      "PolicyDocument": r.inputs["policy"]})]


def _lustre(r: PlannedResource) -> list[Request]:
    i = r.inputs
    return [("fsx", "CreateFileSystem", {
        "FileSystemType": "LUSTRE", "StorageCapacity": i["storageCapacity"], "SubnetIds": [i["subnetIds"]],
        "SecurityGroupIds": i["securityGroupIds"], "KmsKeyId": i["kmsKeyId"],
        "FileSystemTypeVersion": i["fileSystemTypeVersion"],
        "LustreConfiguration": {"DeploymentType": i["deploymentType"],
                                "PerUnitStorageThroughput": i["perUnitStorageThroughput"],
                                "DataCompressionType": i["dataCompressionType"]}})]


def _data_repository(r: PlannedResource) -> list[Request]:
    i = r.inputs
    policy = i["s3"]["autoImportPolicy"]
    return [("fsx", "CreateDataRepositoryAssociation", {
        "FileSystemId": i["fileSystemId"], "FileSystemPath": i["fileSystemPath"],
        "DataRepositoryPath": i["dataRepositoryPath"],
        "BatchImportMetaDataOnCreate": i["batchImportMetaDataOnCreate"],
        "S3": {"AutoImportPolicy": {"Events": policy["events"]}}})]


TRANSLATORS: dict[str, Callable[[PlannedResource], list[Request]]] = {
    "aws:fsx/lustreFileSystem:LustreFileSystem": _lustre,
    "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation": _data_repository,
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:ec2/subnet:Subnet": _subnet,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:ec2/flowLog:FlowLog": _flow_log,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:kms/key:Key": _key,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _public_access_block,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _encryption,
    "aws:s3/bucketVersioning:BucketVersioning": _versioning,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _ownership,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _lifecycle,
    "aws:s3/bucketLogging:BucketLogging": _logging,
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_policy,
    "aws:ecr/repository:Repository": _repository,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": _ecr_lifecycle,
    "aws:ecr/replicationConfiguration:ReplicationConfiguration": _replication,
    "aws:ecr/registryPolicy:RegistryPolicy": _registry_policy,
    "aws:budgets/budget:Budget": _budget,
    "aws:sagemaker/model:Model": _model,
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _endpoint_config,
    "aws-native:sagemaker:EndpointConfig": _endpoint_config,
    "aws-native:sagemaker:Endpoint": _native_endpoint,
    "aws-native:sagemaker:InferenceComponent": _inference_component,
    "aws:appautoscaling/target:Target": _scalable_target,
    "aws:appautoscaling/policy:Policy": _scaling_policy,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:eks/addon:Addon": _addon,
    "aws:eks/accessEntry:AccessEntry": _access_entry,
    "aws:codebuild/project:Project": _codebuild_project,
    "aws:codebuild/webhook:Webhook": _codebuild_webhook,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _ingress_rule,
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _access_policy,
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": _pod_identity,
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:sns/topic:Topic": _topic,
    "aws:sns/topicPolicy:TopicPolicy": _topic_policy,
    "aws:sns/topicSubscription:TopicSubscription": _subscription,
    "aws:sqs/queue:Queue": _queue,
    "aws:sqs/queuePolicy:QueuePolicy": _queue_policy,
    "aws:cloudwatch/eventRule:EventRule": _event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": _event_target,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _attachment,
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
}
