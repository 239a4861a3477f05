"""The policy pack: every stack passes, in both modes, and every policy trips on a one-field change."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from hoist.plan.policies import evaluate
from hoist.plan.recording import Plan, PlannedResource
from policy.pack import POLICIES
from tests.conftest import planned

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_every_stack_passes_with_zero_violations(stack: str, preview: bool) -> None:
    report = evaluate(planned(stack, preview=preview))
    assert report.violations == []
    assert report.policies == [p.name for p in POLICIES]


def test_preview_unknowns_are_not_applicable_not_failures() -> None:
    report = evaluate(planned("prod", preview=True))
    # The bucket policies embed bucket ARNs, unknown before the buckets exist.
    assert report.not_applicable.get("s3-tls-only") == 1
    assert evaluate(planned("prod")).not_applicable == {}


def test_policy_names_are_unique_and_described() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names))
    assert all(p.description for p in POLICIES)


Mutation = Callable[[PlannedResource], PlannedResource | None]
"""Returns the changed resource, or None to remove it."""


def mutate(plan: Plan, typ: str, change: Mutation, name_contains: str = "") -> Plan:
    """A copy of ``plan`` with the first resource of ``typ`` (whose name contains ``name_contains``) changed."""
    resources: list[PlannedResource] = []
    done = False
    for resource in plan.resources:
        if not done and resource.type == typ and name_contains in resource.name:
            done = True
            changed = change(dataclasses.replace(resource, inputs=copy.deepcopy(resource.inputs)))
            if changed is not None:
                resources.append(changed)
            continue
        resources.append(resource)
    assert done, f"no {typ} named *{name_contains}* in the plan"
    return dataclasses.replace(plan, resources=resources)


def set_input(path: str, value: Any) -> Mutation:
    def change(resource: PlannedResource) -> PlannedResource:
        node: Any = resource.inputs
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is REMOVE:
            del node[last]
        else:
            node[last] = value
        return resource
    return change


def edit_json(key: str, edit: Callable[[Any], None]) -> Mutation:
    def change(resource: PlannedResource) -> PlannedResource:
        document = json.loads(resource.inputs[key])
        edit(document)
        resource.inputs[key] = json.dumps(document)
        return resource
    return change


def remove(resource: PlannedResource) -> None:
    return None


REMOVE = object()
S3 = "aws:s3/"


def _first_statement(**fields: Any) -> Callable[[Any], None]:
    def edit(document: Any) -> None:
        document["Statement"][0].update(fields)
    return edit


def _drop_tag(tag: str) -> Callable[[Any], None]:
    def edit(document: Any) -> None:
        del document["tags"][tag]
    return edit


RUNNER_ROLE = "urn:pulumi:{stack}::hoist::hoist:ci_runners:CiRunners$aws:iam/role:Role::hoist-{stack}-{kind}-runner"


def principal(role_urn: str) -> Mutation:
    """An access entry's principalArn computed from ``role_urn`` (its one input, and the dependency it records)."""
    def change(resource: PlannedResource) -> PlannedResource:
        resource.inputs["principalArn"] = f"arn:aws:iam::444455556666:role/{role_urn.rsplit('::', 1)[1]}"
        return dataclasses.replace(resource, property_dependencies={
            **resource.property_dependencies, "principalArn": (role_urn,)})
    return change


# policy -> (stack, resource type, name fragment, one-field mutation)
MUTATIONS: dict[str, tuple[str, str, str, Mutation]] = {
    "s3-block-public-access": ("dev", f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock", "models",
                               set_input("restrictPublicBuckets", False)),
    "s3-kms-encryption": ("staging", f"{S3}bucketServerSideEncryptionConfiguration:"
                          "BucketServerSideEncryptionConfiguration", "datasets",
                          set_input("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256")),
    "s3-tls-only": ("prod", f"{S3}bucketPolicy:BucketPolicy", "checkpoints",
                    edit_json("policy", _first_statement(Effect="Allow"))),
    "s3-versioning": ("dev", f"{S3}bucketVersioning:BucketVersioning", "checkpoints",
                      set_input("versioningConfiguration.status", "Suspended")),
    "s3-lifecycle": ("prod", f"{S3}bucketLifecycleConfiguration:BucketLifecycleConfiguration", "datasets",
                     set_input("rules.0.abortIncompleteMultipartUpload", REMOVE)),
    "s3-access-logging": ("staging", f"{S3}bucketLogging:BucketLogging", "models", remove),
    "s3-no-acls": ("dev", f"{S3}bucketOwnershipControls:BucketOwnershipControls", "datasets",
                   set_input("rule.objectOwnership", "ObjectWriter")),
    "s3-no-force-destroy": ("staging", f"{S3}bucket:Bucket", "models", set_input("forceDestroy", True)),
    "kms-key-rotation": ("prod", "aws:kms/key:Key", "", set_input("enableKeyRotation", False)),
    "kms-no-wildcard-principal": ("dev", "aws:kms/key:Key", "",
                                  edit_json("policy", _first_statement(Principal={"AWS": "*"}))),
    "iam-no-wildcard-actions": ("dev", "aws:iam/rolePolicy:RolePolicy", "flow-logs",
                                edit_json("policy", _first_statement(Action="logs:*"))),
    "iam-no-admin-policies": ("prod", "aws:iam/role:Role", "flow-logs",
                              set_input("managedPolicyArns", ["arn:aws:iam::aws:policy/AmazonS3FullAccess"])),
    "ecr-scan-on-push": ("dev", "aws:ecr/repository:Repository", "training",
                         set_input("imageScanningConfiguration.scanOnPush", False)),
    "ecr-immutable-tags": ("prod", "aws:ecr/repository:Repository", "serving",
                           set_input("imageTagMutability", "MUTABLE")),
    "ecr-kms": ("staging", "aws:ecr/repository:Repository", "serving",
                set_input("encryptionConfigurations.0.encryptionType", "AES256")),
    "ecr-lifecycle": ("dev", "aws:ecr/lifecyclePolicy:LifecyclePolicy", "serving", remove),
    "ecr-registry-replication-only": ("prod", "aws:ecr/registryPolicy:RegistryPolicy", "",
                                      edit_json("policy", _first_statement(Principal={"AWS": "*"}))),
    "sagemaker-network-isolation": ("staging", "aws:sagemaker/model:Model", "",
                                    set_input("enableNetworkIsolation", False)),
    # Staging's LLM loaded from a compressed archive rather than its uncompressed prefix.
    "sagemaker-llm-model-data": ("staging", "aws:sagemaker/model:Model", "",
                                 set_input("primaryContainer.modelDataSource.s3DataSources.0.compressionType",
                                           "Gzip")),
    "sagemaker-endpoint-kms": ("dev", "aws-native:sagemaker:EndpointConfig", "", set_input("kmsKeyId", REMOVE)),
    # A component created with no copy, and an endpoint for components without the role that fetches them.
    "sagemaker-inference-component": ("dev", "aws-native:sagemaker:InferenceComponent", "",
                                      set_input("runtimeConfig.copyCount", 0)),
    "sagemaker-component-endpoint": ("dev", "aws-native:sagemaker:EndpointConfig", "",
                                     set_input("executionRoleArn", REMOVE)),
    # The alarm that wakes an idle model watches another component.
    "sagemaker-scale-from-zero": ("dev", "aws:cloudwatch/metricAlarm:MetricAlarm", "no-capacity",
                                  set_input("dimensions.InferenceComponentName", "hoist-dev-other")),
    "sagemaker-prod-data-capture": ("prod", "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "",
                                    set_input("dataCaptureConfig.enableCapture", False)),
    "sagemaker-prod-capacity": ("prod", "aws:appautoscaling/target:Target", "", set_input("minCapacity", 1)),
    "sagemaker-safe-rollout": ("staging", "aws-native:sagemaker:Endpoint", "",
                               set_input("retainAllVariantProperties", False)),
    "sagemaker-rollback-alarms-bound": ("prod", "aws:cloudwatch/metricAlarm:MetricAlarm", "latency",
                                        set_input("dimensions.EndpointName", "hoist-staging")),
    "alarms-notify": ("staging", "aws:cloudwatch/metricAlarm:MetricAlarm", "5xx", set_input("alarmActions", [])),
    # Staging serves vLLM: its configuration stops publishing the engine's metrics.
    "sagemaker-llm-engine-metrics": ("staging", "aws-native:sagemaker:EndpointConfig", "",
                                     set_input("metricsConfig.enableDetailedObservability", False)),
    "eks-endpoint-private": ("prod", "aws:eks/cluster:Cluster", "", set_input("vpcConfig.endpointPublicAccess", True)),
    "eks-secrets-encrypted": ("dev", "aws:eks/cluster:Cluster", "", set_input("encryptionConfig.resources", [])),
    "eks-control-plane-logs": ("staging", "aws:eks/cluster:Cluster", "",
                               set_input("enabledClusterLogTypes", ["api", "audit"])),
    "eks-explicit-access-only": ("staging", "aws:eks/cluster:Cluster", "",
                                 set_input("accessConfig.bootstrapClusterCreatorAdminPermissions", True)),
    "eks-supported-version": ("prod", "aws:eks/cluster:Cluster", "", set_input("version", "1.33")),
    "nodes-imdsv2": ("dev", "aws:ec2/launchTemplate:LaunchTemplate", "",
                     set_input("metadataOptions.httpPutResponseHopLimit", 2)),
    "nodes-no-ssh": ("staging", "aws:eks/nodeGroup:NodeGroup", "", set_input("remoteAccess", {"ec2SshKey": "ops"})),
    "nodes-encrypted-volumes": ("prod", "aws:ec2/launchTemplate:LaunchTemplate", "",
                                set_input("blockDeviceMappings.0.ebs.encrypted", "false")),
    "ci-runner-in-vpc": ("dev", "aws:codebuild/project:Project", "deploy", set_input("vpcConfig", REMOVE)),
    "ci-runner-not-privileged": ("staging", "aws:codebuild/project:Project", "preview",
                                 set_input("environment.privilegedMode", True)),
    "ci-runner-kms": ("prod", "aws:codebuild/project:Project", "deploy", set_input("encryptionKey", "alias/aws/s3")),
    # The deploy runner's webhook without its workflow filter: any workflow of the repository gets the role.
    "ci-runner-webhook-filtered": ("prod", "aws:codebuild/webhook:Webhook", "deploy",
                                   set_input("filterGroups.0.filters", [{"type": "EVENT",
                                                                         "pattern": "WORKFLOW_JOB_QUEUED"}])),
    # The cluster's preview entry handed to the deploy runner's own role (which any branch's `deploy` reaches).
    "ci-runner-no-cluster-access": ("staging", "aws:eks/accessEntry:AccessEntry", "ci-preview",
                                    principal(RUNNER_ROLE.format(stack="staging", kind="deploy"))),
    # The deploy runner's role given the state bucket's objects instead of its log streams.
    "ci-runner-no-state-access": ("staging", "aws:iam/rolePolicy:RolePolicy", "deploy-runner",
                                  edit_json("policy", _first_statement(Action=["s3:GetObject", "s3:PutObject"]))),
    "eks-node-access-entries": ("prod", "aws:eks/accessEntry:AccessEntry", "karpenter-node",
                                set_input("kubernetesGroups", ["system:masters"])),
    "eks-ci-access": ("staging", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "ci-preview", remove),
    "nodes-tagged": ("dev", "aws:ec2/launchTemplate:LaunchTemplate", "", set_input("tagSpecifications.1.tags", {})),
    "nodes-no-public-ip": ("prod", NODE_CLASS, "h100", set_input("spec.associatePublicIPAddress", True)),
    "nodes-ami-pinned": ("staging", NODE_CLASS, "", set_input("spec.amiSelectorTerms.0.alias", "al2023@latest")),
    "gpu-instance-types-allowed": ("dev", NODE_POOL, "", set_input("spec.template.spec.requirements.0.values",
                                                                  ["g5.xlarge", "p5.48xlarge"])),
    "gpu-pool-limit": ("staging", NODE_POOL, "", set_input("spec.limits", {})),
    "efa-pool-single-az": ("prod", NODE_POOL, "h100", set_input("spec.template.spec.requirements.2.values",
                                                                ["us-east-1a", "us-east-1b"])),
    "dev-gpu-spot-only": ("dev", NODE_POOL, "", set_input("spec.template.spec.requirements.1.values", ["on-demand"])),
    "pod-identity-trust": ("dev", "aws:iam/role:Role", "ebs-csi",
                           edit_json("assumeRolePolicy", _first_statement(Condition={}))),
    "vpc-flow-logs": ("prod", "aws:ec2/flowLog:FlowLog", "", set_input("trafficType", "REJECT")),
    "vpc-default-sg-closed": ("dev", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "",
                              set_input("ingress", [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}])),
    "workload-reachability": ("staging", "aws:ec2/securityGroup:SecurityGroup", "training-job",
                            set_input("egress", [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}])),
    "logs-kms": ("staging", "aws:cloudwatch/logGroup:LogGroup", "", set_input("kmsKeyId", REMOVE)),
    "aws-account-pinned": ("prod", "pulumi:providers:aws", "", set_input("allowedAccountIds", "[]")),
    "required-tags": ("dev", "pulumi:providers:aws", "", edit_json("defaultTags", _drop_tag("cost-center"))),
    "prod-state-protected": ("prod", "aws:s3/bucket:Bucket", "checkpoints",
                             lambda r: dataclasses.replace(r, protect=False)),
}


# Policies that also judge Karpenter's EC2NodeClass trip on it as they do on a launch template.
NODE_CLASS_MUTATIONS: dict[str, tuple[str, str, Mutation]] = {
    "nodes-imdsv2": ("prod", "a10g", set_input("spec.metadataOptions.httpTokens", "optional")),
    "nodes-encrypted-volumes": ("dev", "", set_input("spec.blockDeviceMappings.0.ebs.encrypted", False)),
}


@pytest.mark.parametrize("policy", sorted(NODE_CLASS_MUTATIONS))
def test_node_class_mutation_trips_the_node_policy(policy: str) -> None:
    stack, name, change = NODE_CLASS_MUTATIONS[policy]
    assert evaluate(mutate(planned(stack), NODE_CLASS, change, name)).tripped() == {policy}


def test_gpu_rules_read_the_stack_configuration() -> None:
    """The same plan passes or fails by the pack configuration: allowed types, and dev's on-demand opt-in."""
    on_demand = mutate(planned("dev"), NODE_POOL, set_input("spec.template.spec.requirements.1.values",
                                                            ["on-demand"]))
    allowed = {"gpu-instance-types-allowed": {"allowedInstanceTypes": ["g5.xlarge", "g5.2xlarge"]}}
    assert evaluate(on_demand, config={**allowed, "dev-gpu-spot-only": {"allowOnDemandGpus": True}}).passed
    assert evaluate(on_demand, config=allowed).tripped() == {"dev-gpu-spot-only"}
    narrower = {"gpu-instance-types-allowed": {"allowedInstanceTypes": ["g5.xlarge"]}}
    assert evaluate(planned("dev"), config=narrower).tripped() == {"gpu-instance-types-allowed"}
    # Staging buys on-demand GPUs; the spot-only rule is dev's alone.
    assert evaluate(planned("staging"), config={}).passed


ADMIN_VIEW_ASSOCIATION = ("staging", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "ci-preview")


def test_the_preview_role_reads_secrets_only_where_helm_keeps_its_releases() -> None:
    """Pull-request code runs as the preview role: AdminView (every Secret) cluster-wide is refused, and so is
    a namespace list that misses a release's namespace (the preview could not read that release)."""
    stack, typ, name = ADMIN_VIEW_ASSOCIATION
    assert planned(stack).of_type(typ) and evaluate(planned(stack)).passed
    cluster_wide = evaluate(mutate(planned(stack), typ, set_input("accessScope", {"type": "cluster"}), name))
    assert cluster_wide.tripped() == {"eks-ci-access"}
    fewer = evaluate(mutate(planned(stack), typ, set_input("accessScope.namespaces", ["kube-system"]), name))
    assert fewer.tripped() == {"eks-ci-access"}
    # The cluster-wide view, without Secrets, stays required.
    assert evaluate(mutate(planned(stack), typ, remove, "ci-view")).tripped() == {"eks-ci-access"}


def test_every_policy_has_a_tripping_mutation() -> None:
    assert set(MUTATIONS) == {p.name for p in POLICIES}


@pytest.mark.parametrize("policy", sorted(MUTATIONS))
def test_one_field_mutation_trips_exactly_that_policy(policy: str) -> None:
    stack, typ, name, change = MUTATIONS[policy]
    report = evaluate(mutate(planned(stack), typ, change, name))
    assert report.tripped() == {policy}
    # Either project of the stack: the AWS side (hoist) or the in-cluster side (hoist-in-cluster).
    assert all(v.urn.split("::")[:2] in ([f"urn:pulumi:{stack}", "hoist"], [f"urn:pulumi:{stack}", "hoist-in-cluster"])
               for v in report.violations)


def test_force_destroy_is_allowed_in_dev_only() -> None:
    assert evaluate(planned("dev")).violations == []
    assert any(b.inputs["forceDestroy"] for b in planned("dev").of_type(f"{S3}bucket:Bucket"))


def test_missing_provider_trips_required_tags() -> None:
    plan = mutate(planned("dev"), "aws:ecr/repository:Repository", lambda r: dataclasses.replace(r, provider=""),
                  "training")
    assert evaluate(plan).tripped() == {"required-tags"}


def test_an_unencrypted_alerts_topic_trips_alarms_notify() -> None:
    plan = mutate(planned("dev"), "aws:sns/topic:Topic", set_input("kmsMasterKeyId", REMOVE))
    assert evaluate(plan).tripped() == {"alarms-notify"}


def test_a_key_on_a_local_nvme_endpoint_trips_the_endpoint_kms_policy() -> None:
    """Prod serves on ml.g5 (local NVMe, hardware-encrypted): CreateEndpointConfig fails with a KmsKeyId."""
    plan = mutate(planned("prod"), "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
                  set_input("kmsKeyArn", "arn:aws:kms:us-east-1:777788889999:key/k"))
    report = evaluate(plan)
    assert report.tripped() == {"sagemaker-endpoint-kms"}
    assert "local NVMe, encrypted by the instance's hardware" in report.violations[0].message


NATIVE_CONFIG = "aws-native:sagemaker:EndpointConfig"
PROMQL = "evaluationCriteria.promqlCriteria.query"


def _rollback_without(alarm: str) -> Mutation:
    def change(resource: PlannedResource) -> PlannedResource:
        rollback = resource.inputs["deploymentConfig"]["autoRollbackConfiguration"]
        rollback["alarms"] = [a for a in rollback["alarms"] if not a["alarmName"].endswith(alarm)]
        return resource
    return change


@pytest.mark.parametrize(("typ", "name", "change", "policy", "says"), [
    # Rolling back on errors and TTFT only: the inter-token latency goes unwatched.
    ("aws-native:sagemaker:Endpoint", "", _rollback_without("-p99-inter-token"), "sagemaker-llm-engine-metrics",
     "inter-token latency: no rollback alarm queries vllm:inter_token_latency_seconds"),
    # A PromQL rollback alarm that selects another endpoint's series.
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "ttft",
     lambda r: set_input(PROMQL, r.inputs["evaluationCriteria"]["promqlCriteria"]["query"].replace(
         '"hoist-staging"', '"hoist-prod"'))(r),
     "sagemaker-rollback-alarms-bound", 'does not select "aws.sagemaker.endpoint.name"="hoist-staging"'),
    # A key on the local-NVMe GPU type, through CloudFormation's name for it.
    (NATIVE_CONFIG, "", set_input("kmsKeyId", "arn:aws:kms:us-east-1:444455556666:key/k"), "sagemaker-endpoint-kms",
     "kmsKeyId encrypts no local storage"),
    (NATIVE_CONFIG, "", set_input("dataCaptureConfig.kmsKeyId", REMOVE), "sagemaker-endpoint-kms",
     "captured data must be encrypted"),
], ids=["no inter-token rollback", "alarm on another endpoint", "key on local NVMe", "capture unencrypted"])
def test_the_llm_endpoints_guards_trip(typ: str, name: str, change: Mutation, policy: str, says: str) -> None:
    report = evaluate(mutate(planned("staging"), typ, change, name))
    assert report.tripped() == {policy}
    assert says in report.violations[0].message


@pytest.mark.parametrize("part", ["aws", "in-cluster"])
def test_each_project_alone_passes_the_pack(stack: str, part: str) -> None:
    """`pulumi preview` runs the pack on one project at a time; neither may fail for lack of the other."""
    plan = planned(stack)
    alone = dataclasses.replace(plan, resources=[r for r in plan.resources if r.part == part])
    assert alone.resources and evaluate(alone).violations == []
