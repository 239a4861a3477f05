"""Which input changes make a resource hoist creates a *replacement* rather than an update, and
which of those resources hold data that a replacement or a removal destroys.

The facts are CloudFormation's create-only properties, which pulumi-aws-native's SDK carries as
``replace_on_changes`` in each resource's constructor. pulumi-aws names the same properties in its
own way (``name`` for ``repositoryName``, ``encryptionConfigurations`` for
``encryptionConfiguration``), so each pulumi-aws type hoist creates has one entry below, written out
by hand and checked against the SDK by ``tests/hoist/plan/test_replacements.py``: every create-only
property of the aws-native type is either mapped to a pulumi-aws input or listed with the reason it
is not, and every mapped input exists on the pulumi-aws resource. pulumi-aws settings resources that
CloudFormation models as properties of their parent (an S3 bucket's versioning, an ECR repository's
lifecycle policy) map to the parent's type, attached by its name. FSx for Lustre has no aws-native
type; its entry is derived from botocore's FSx model instead: what ``CreateFileSystem`` accepts and
``UpdateFileSystem`` cannot change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_SET_ON_PARENT = "a setting of the parent resource, not of this one"


@dataclass(frozen=True)
class CreateOnly:
    """The create-only data of one pulumi-aws (or aws-native) type."""

    source: str
    """The aws-native type whose ``replace_on_changes`` this mirrors, or ``botocore:<service>`` for
    a type derived from botocore's create and update operations."""
    properties: Mapping[str, str]
    """pulumi-aws input path (dotted) -> the source's create-only property."""
    unmatched: Mapping[str, str] = field(default_factory=dict)
    """Source create-only property -> why no pulumi-aws input of this type stands for it."""
    name: str | None = None
    """The input holding the resource's physical name. A replacement keeps a name that is set
    explicitly, so resources reading it see the same value; otherwise (auto-named, or an identifier
    AWS assigns) everything that reads the resource sees new values."""
    immutable: Mapping[str, str] = field(default_factory=dict)
    """Inputs the source documents as unchangeable after creation although it does not list them as
    create-only (the update fails there; pulumi-aws replaces) -> the sentence that says so."""
    one_way: Mapping[str, str] = field(default_factory=dict)
    """Inputs that may only grow in place; a smaller value replaces -> the sentence that says so."""
    holds: str | None = None
    """What is lost when this resource is deleted, in a sentence; None for resources without data."""
    label: str | None = None
    """What a reviewer calls a resource of this type ("S3 bucket")."""


def _settings_of_bucket() -> CreateOnly:
    return CreateOnly("aws-native:s3:Bucket", {"bucket": "bucketName"},
                      {"bucketNamePrefix": _SET_ON_PARENT, "bucketNamespace": _SET_ON_PARENT})


_AUTO_NAMED = "pulumi-aws auto-names this resource from `namePrefix`"

CREATE_ONLY: dict[str, CreateOnly] = {
    "aws:appautoscaling/policy:Policy": CreateOnly(
        "aws-native:applicationautoscaling:ScalingPolicy",
        {"name": "policyName", "resourceId": "resourceId", "scalableDimension": "scalableDimension",
         "serviceNamespace": "serviceNamespace"},
        {"scalingTargetId": "pulumi-aws names the target by resourceId, scalableDimension and serviceNamespace"},
        name="name"),
    "aws:appautoscaling/target:Target": CreateOnly(
        "aws-native:applicationautoscaling:ScalableTarget",
        {"resourceId": "resourceId", "scalableDimension": "scalableDimension", "serviceNamespace": "serviceNamespace"}),
    "aws:budgets/budget:Budget": CreateOnly(
        "aws-native:budgets:Budget", {"name": "budget.budgetName", "namePrefix": "budget.budgetName"},
        {"notificationsWithSubscribers[*]": "pulumi-aws updates a budget's notifications in place "
                                            "(terraform-provider-aws budgets/budget.go: `notification` is not "
                                            "ForceNew)"},
        name="name"),
    "aws:cloudwatch/dashboard:Dashboard": CreateOnly(
        "aws-native:cloudwatch:Dashboard", {"dashboardName": "dashboardName"}, name="dashboardName"),
    "aws:cloudwatch/eventRule:EventRule": CreateOnly(
        "aws-native:events:Rule", {"name": "name", "namePrefix": "name"}, name="name"),
    "aws:cloudwatch/eventTarget:EventTarget": CreateOnly("aws-native:events:Rule", {"rule": "name"}),
    "aws:cloudwatch/logGroup:LogGroup": CreateOnly(
        "aws-native:logs:LogGroup", {"name": "logGroupName", "namePrefix": "logGroupName"}, name="name",
        label="CloudWatch log group",
        holds="Its log events go with it (for the cluster's log group, the control plane's audit trail)."),
    "aws:cloudwatch/metricAlarm:MetricAlarm": CreateOnly(
        "aws-native:cloudwatch:Alarm", {"name": "alarmName"}, name="name"),
    "aws:codebuild/project:Project": CreateOnly("aws-native:codebuild:Project", {"name": "name"}, name="name"),
    # CreateWebhook takes these; UpdateWebhook has no scope or manual-creation member and cannot move it.
    "aws:codebuild/webhook:Webhook": CreateOnly(
        "botocore:codebuild", {"projectName": "projectName", "manualCreation": "manualCreation",
                               "scopeConfiguration": "scopeConfiguration"}),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": CreateOnly(
        "aws-native:ec2:SecurityGroup", {"vpcId": "vpcId"},
        {"groupDescription": "AWS describes a VPC's default group", "groupName": "AWS names a VPC's default group"}),
    "aws:ec2/eip:Eip": CreateOnly(
        "aws-native:ec2:Eip",
        {"address": "address", "ipamPoolId": "ipamPoolId", "networkBorderGroup": "networkBorderGroup"},
        {"transferAddress": "pulumi-aws has no address-transfer input on Eip"}),
    "aws:ec2/flowLog:FlowLog": CreateOnly(
        "aws-native:ec2:FlowLog",
        {"deliverCrossAccountRole": "deliverCrossAccountRole", "iamRoleArn": "deliverLogsPermissionArn",
         "destinationOptions": "destinationOptions", "logDestination": "logDestination",
         "logDestinationType": "logDestinationType", "logFormat": "logFormat",
         "maxAggregationInterval": "maxAggregationInterval", "vpcId": "resourceId", "subnetId": "resourceId",
         "eniId": "resourceId", "transitGatewayId": "resourceId", "transitGatewayAttachmentId": "resourceId",
         "regionalNatGatewayId": "resourceId", "tagFieldSpecifications": "tagFieldSpecifications[*]",
         "trafficType": "trafficType"},
        {"logGroupName": "pulumi-aws names the log group through logDestination",
         "resourceType": "pulumi-aws infers it from which of vpcId, subnetId, eniId, ... is set"}),
    "aws:ec2/internetGateway:InternetGateway": CreateOnly("aws-native:ec2:InternetGateway", {}),
    "aws:ec2/launchTemplate:LaunchTemplate": CreateOnly(
        "aws-native:ec2:LaunchTemplate", {"name": "launchTemplateName", "namePrefix": "launchTemplateName"},
        name="name"),
    "aws:ec2/natGateway:NatGateway": CreateOnly(
        "aws-native:ec2:NatGateway",
        {"allocationId": "allocationId", "availabilityMode": "availabilityMode", "connectivityType": "connectivityType",
         "privateIp": "privateIpAddress", "subnetId": "subnetId", "vpcId": "vpcId"}),
    "aws:ec2/routeTable:RouteTable": CreateOnly("aws-native:ec2:RouteTable", {"vpcId": "vpcId"}),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": CreateOnly(
        "aws-native:ec2:SubnetRouteTableAssociation", {"routeTableId": "routeTableId", "subnetId": "subnetId"}),
    "aws:ec2/securityGroup:SecurityGroup": CreateOnly(
        "aws-native:ec2:SecurityGroup",
        {"description": "groupDescription", "name": "groupName", "namePrefix": "groupName", "vpcId": "vpcId"},
        name="name"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": CreateOnly(
        "aws-native:ec2:SecurityGroupIngress",
        {"securityGroupId": "groupId", "ipProtocol": "ipProtocol", "fromPort": "fromPort", "toPort": "toPort",
         "cidrIpv4": "cidrIp", "cidrIpv6": "cidrIpv6", "prefixListId": "sourcePrefixListId",
         "referencedSecurityGroupId": "sourceSecurityGroupId"},
        {"groupName": "pulumi-aws names the group by securityGroupId only",
         "sourceSecurityGroupName": "pulumi-aws names the source group by referencedSecurityGroupId only",
         "sourceSecurityGroupOwnerId": "pulumi-aws has no owner input; the referenced group's id is enough"}),
    "aws:ec2/subnet:Subnet": CreateOnly(
        "aws-native:ec2:Subnet",
        {p: p for p in ("availabilityZone", "availabilityZoneId", "cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength",
                        "ipv6IpamPoolId", "ipv6Native", "ipv6NetmaskLength", "outpostArn", "vpcId")}),
    "aws:ec2/vpc:Vpc": CreateOnly(
        "aws-native:ec2:Vpc",
        {"cidrBlock": "cidrBlock", "ipv4IpamPoolId": "ipv4IpamPoolId", "ipv4NetmaskLength": "ipv4NetmaskLength"},
        {"vpcEncryptionControl": "pulumi-aws has no such input on Vpc"}),
    "aws:ec2/vpcEndpoint:VpcEndpoint": CreateOnly(
        "aws-native:ec2:VpcEndpoint",
        {"dnsOptions.privateDnsPreference": "dnsOptions.privateDnsPreference",
         "dnsOptions.privateDnsSpecifiedDomains": "dnsOptions.privateDnsSpecifiedDomains[*]",
         **{p: p for p in ("resourceConfigurationArn", "serviceName", "serviceNetworkArn", "serviceRegion",
                           "vpcEndpointType", "vpcId")}}),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": CreateOnly(
        "aws-native:ecr:Repository", {"repository": "repositoryName"}, {"encryptionConfiguration": _SET_ON_PARENT}),
    "aws:ecr/registryPolicy:RegistryPolicy": CreateOnly("aws-native:ecr:RegistryPolicy", {}),
    "aws:ecr/replicationConfiguration:ReplicationConfiguration": CreateOnly(
        "aws-native:ecr:ReplicationConfiguration", {}),
    "aws:ecr/repository:Repository": CreateOnly(
        "aws-native:ecr:Repository",
        {"name": "repositoryName", "encryptionConfigurations": "encryptionConfiguration"}, name="name",
        label="ECR repository",
        holds="Its images go with it, and with them every digest a stack file or a running endpoint refers to."),
    "aws:eks/accessEntry:AccessEntry": CreateOnly(
        "aws-native:eks:AccessEntry", {"clusterName": "clusterName", "principalArn": "principalArn", "type": "type"}),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": CreateOnly(
        "aws-native:eks:AccessEntry", {"clusterName": "clusterName", "principalArn": "principalArn"},
        {"type": _SET_ON_PARENT}),
    "aws:eks/addon:Addon": CreateOnly(
        "aws-native:eks:Addon",
        {"addonName": "addonName", "clusterName": "clusterName", "namespaceConfig": "namespaceConfig"}),
    "aws:eks/cluster:Cluster": CreateOnly(
        "aws-native:eks:Cluster",
        {"accessConfig.bootstrapClusterCreatorAdminPermissions": "accessConfig.bootstrapClusterCreatorAdminPermissions",
         "bootstrapSelfManagedAddons": "bootstrapSelfManagedAddons", "encryptionConfig": "encryptionConfig[*]",
         "kubernetesNetworkConfig.ipFamily": "kubernetesNetworkConfig.ipFamily",
         "kubernetesNetworkConfig.serviceIpv4Cidr": "kubernetesNetworkConfig.serviceIpv4Cidr",
         "name": "name", "outpostConfig": "outpostConfig", "roleArn": "roleArn"},
        name="name",
        label="EKS cluster",
        holds="The cluster's whole Kubernetes state goes with it: every object, secret and running workload."),
    "aws:eks/nodeGroup:NodeGroup": CreateOnly(
        "aws-native:eks:Nodegroup",
        {"amiType": "amiType", "capacityType": "capacityType", "clusterName": "clusterName", "diskSize": "diskSize",
         "instanceTypes": "instanceTypes[*]", "nodeRoleArn": "nodeRole", "nodeGroupName": "nodegroupName",
         "nodeGroupNamePrefix": "nodegroupName", "remoteAccess": "remoteAccess", "subnetIds": "subnets[*]"},
        name="nodeGroupName"),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": CreateOnly(
        "aws-native:eks:PodIdentityAssociation",
        {"clusterName": "clusterName", "namespace": "namespace", "serviceAccount": "serviceAccount"}),
    "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation": CreateOnly(
        "aws-native:fsx:DataRepositoryAssociation",
        {p: p for p in ("batchImportMetaDataOnCreate", "dataRepositoryPath", "fileSystemId", "fileSystemPath")}),
    "aws:fsx/lustreFileSystem:LustreFileSystem": CreateOnly(
        "botocore:fsx",
        {"subnetIds": "SubnetIds", "securityGroupIds": "SecurityGroupIds", "kmsKeyId": "KmsKeyId",
         "deploymentType": "LustreConfiguration.DeploymentType", "importPath": "LustreConfiguration.ImportPath",
         "exportPath": "LustreConfiguration.ExportPath",
         "importedFileChunkSize": "LustreConfiguration.ImportedFileChunkSize",
         "copyTagsToBackups": "LustreConfiguration.CopyTagsToBackups",
         "driveCacheType": "LustreConfiguration.DriveCacheType", "efaEnabled": "LustreConfiguration.EfaEnabled"},
        {"FileSystemType": "the resource type itself (LUSTRE)", "Tags": "tags change through TagResource"},
        one_way={
            "storageCapacity": "botocore's FSx UpdateFileSystem: for Lustre \"the value must be greater than the "
                               "current storage capacity\"",
            "fileSystemTypeVersion": "pulumi-aws LustreFileSystem: \"Changing to a lower version forces resource "
                                     "replacement (destroy and recreate).\""},
        label="FSx for Lustre file system",
        holds="Its files go with it: datasets imported from S3 can be imported again; anything written only to "
              "Lustre is lost."),
    "aws:iam/role:Role": CreateOnly(
        "aws-native:iam:Role", {"name": "roleName", "namePrefix": "roleName", "path": "path"}, name="name"),
    "aws:iam/rolePolicy:RolePolicy": CreateOnly(
        "aws-native:iam:RolePolicy", {"name": "policyName", "namePrefix": "policyName", "role": "roleName"},
        name="name"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": CreateOnly(
        "aws-native:iam:Role", {"role": "roleName"}, {"path": _SET_ON_PARENT}),
    "aws:kms/alias:Alias": CreateOnly(
        "aws-native:kms:Alias", {"name": "aliasName", "namePrefix": "aliasName"}, name="name"),
    "aws:kms/key:Key": CreateOnly(
        "aws-native:kms:Key", {},
        immutable={"customerMasterKeySpec": "You can't change the ``KeySpec`` value after the KMS key is created.",
                   "keyUsage": "You can't change the ``KeyUsage`` value after the KMS key is created.",
                   "multiRegion": "You can't change the ``MultiRegion`` value after the KMS key is created."},
        label="KMS key",
        holds="Everything encrypted with it (the buckets' objects, the images, the cluster's secrets, the logs) "
              "becomes unreadable once its deletion window ends."),
    "aws:s3/bucket:Bucket": CreateOnly(
        "aws-native:s3:Bucket",
        {"bucket": "bucketName", "bucketPrefix": "bucketNamePrefix", "bucketNamespace": "bucketNamespace"},
        name="bucket", label="S3 bucket",
        holds="Its objects, and every version of them, go with it."),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _settings_of_bucket(),
    "aws:s3/bucketLogging:BucketLogging": _settings_of_bucket(),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _settings_of_bucket(),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _settings_of_bucket(),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _settings_of_bucket(),
    "aws:s3/bucketVersioning:BucketVersioning": _settings_of_bucket(),
    "aws:s3/bucketPolicy:BucketPolicy": CreateOnly("aws-native:s3:BucketPolicy", {"bucket": "bucket"}),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": CreateOnly(
        "aws-native:sagemaker:EndpointConfig",
        {"asyncInferenceConfig": "asyncInferenceConfig", "dataCaptureConfig": "dataCaptureConfig",
         "name": "endpointConfigName", "namePrefix": "endpointConfigName", "executionRoleArn": "executionRoleArn",
         "kmsKeyArn": "kmsKeyId", "productionVariants": "productionVariants[*]",
         "shadowProductionVariants": "shadowProductionVariants[*]"},
        {"enableNetworkIsolation": "pulumi-aws sets network isolation on the model",
         "vpcConfig": "pulumi-aws sets the VPC on the model",
         "explainerConfig": "pulumi-aws has no such input on EndpointConfiguration",
         "metricsConfig": "pulumi-aws has no such input on EndpointConfiguration"},
        name="name"),
    "aws:sagemaker/model:Model": CreateOnly(
        "aws-native:sagemaker:Model",
        {"containers": "containers[*]", "enableNetworkIsolation": "enableNetworkIsolation",
         "executionRoleArn": "executionRoleArn", "inferenceExecutionConfig": "inferenceExecutionConfig",
         "name": "modelName", "primaryContainer": "primaryContainer", "vpcConfig": "vpcConfig"},
        name="name"),
    "aws:sns/topic:Topic": CreateOnly(
        "aws-native:sns:Topic", {"fifoTopic": "fifoTopic", "name": "topicName", "namePrefix": "topicName"},
        name="name"),
    "aws:sns/topicPolicy:TopicPolicy": CreateOnly("aws-native:sns:TopicInlinePolicy", {"arn": "topicArn"}),
    "aws:sns/topicSubscription:TopicSubscription": CreateOnly(
        "aws-native:sns:Subscription", {"endpoint": "endpoint", "protocol": "protocol", "topic": "topicArn"}),
    "aws:sqs/queue:Queue": CreateOnly(
        "aws-native:sqs:Queue", {"fifoQueue": "fifoQueue", "name": "queueName", "namePrefix": "queueName"},
        name="name"),
    "aws:sqs/queuePolicy:QueuePolicy": CreateOnly("aws-native:sqs:QueueInlinePolicy", {"queueUrl": "queue"}),
    "aws-native:sagemaker:Endpoint": CreateOnly(
        "aws-native:sagemaker:Endpoint", {"endpointName": "endpointName"}, name="endpointName"),
    # A model on a shared endpoint: CloudFormation updates every property in place, the name included.
    "aws-native:sagemaker:InferenceComponent": CreateOnly(
        "aws-native:sagemaker:InferenceComponent", {}, name="inferenceComponentName"),
    # The vLLM endpoint's configuration (pulumi-aws's has no MetricsConfig): every property is create-only.
    "aws-native:sagemaker:EndpointConfig": CreateOnly(
        "aws-native:sagemaker:EndpointConfig",
        {name: name for name in ("asyncInferenceConfig", "dataCaptureConfig", "enableNetworkIsolation",
                                 "endpointConfigName", "executionRoleArn", "explainerConfig", "kmsKeyId",
                                 "metricsConfig", "vpcConfig")}
        | {"productionVariants": "productionVariants[*]", "shadowProductionVariants": "shadowProductionVariants[*]"},
        name="endpointConfigName"),
}
"""pulumi-aws type -> its create-only data. Every AWS type the program creates has an entry."""

KUBERNETES_IDENTITY = ("metadata.name", "metadata.namespace")
"""A Kubernetes object is its kind, name and namespace: changing either is a new object."""


@dataclass(frozen=True)
class Reason:
    """Why an input change replaces its resource."""

    path: str
    because: str


def value_at(inputs: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted input path, or None where any part is absent."""
    value: Any = inputs
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _smaller(old: Any, new: Any) -> bool:
    def key(value: Any) -> tuple[float, ...]:
        return tuple(float(part) for part in str(value).split("."))
    try:
        return key(new) < key(old)
    except ValueError:
        return False


def replacing(resource_type: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Reason]:
    """The changed inputs that make this change a replacement (empty: an update in place)."""
    reasons = []
    if resource_type.startswith("kubernetes:"):
        for path in KUBERNETES_IDENTITY:
            if value_at(before, path) != value_at(after, path):
                reasons.append(Reason(path, "a Kubernetes object is named by its metadata"))
        return reasons
    entry = CREATE_ONLY.get(resource_type)
    if entry is None:
        return reasons
    for path, native in entry.properties.items():
        if value_at(before, path) != value_at(after, path):
            reasons.append(Reason(path, f"create-only `{native}` of {entry.source}"))
    for path, sentence in entry.immutable.items():
        if value_at(before, path) != value_at(after, path):
            reasons.append(Reason(path, f"{entry.source}: {sentence}"))
    for path, sentence in entry.one_way.items():
        old, new = value_at(before, path), value_at(after, path)
        if old is not None and new is not None and _smaller(old, new):
            reasons.append(Reason(path, f"can only grow ({sentence})"))
    return reasons


def create_only_inputs(resource_type: str) -> set[str]:
    """Top-level inputs under which a change may replace the resource (for values known only after apply)."""
    if resource_type.startswith("kubernetes:"):
        return {"metadata"}
    entry = CREATE_ONLY.get(resource_type)
    if entry is None:
        return set()
    return {path.split(".")[0] for path in (*entry.properties, *entry.immutable, *entry.one_way)}


def keeps_identity(resource_type: str, inputs: Mapping[str, Any]) -> bool:
    """Whether a replacement of this resource keeps its physical name: then what reads its name or
    ARN sees the same value afterwards."""
    entry = CREATE_ONLY.get(resource_type)
    return entry is not None and entry.name is not None and isinstance(inputs.get(entry.name), str)


def holds_data(resource_type: str) -> str | None:
    entry = CREATE_ONLY.get(resource_type)
    return entry.holds if entry is not None else None


def label(resource_type: str) -> str:
    entry = CREATE_ONLY.get(resource_type)
    return entry.label if entry is not None and entry.label else resource_type
