"""The whole Pulumi program under Pulumi's mock runtime, for every stack."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest

from hoist.outputs import StackOutputs
from hoist.plan import recording
from hoist.plan.recording import Plan, PlannedResource
from infra.program import STATEFUL_TYPES
from infra.stack_files import load_stack
from tests.conftest import STACKS, planned


def one(plan: Plan, typ: str) -> PlannedResource:
    found = plan.of_type(typ)
    assert len(found) == 1, f"expected one {typ}, found {len(found)}"
    return found[0]


def test_program_creates_each_component(stack: str) -> None:
    components = {r.type for r in planned(stack).resources if not r.custom}
    serving = ("hoist:inference_components:SharedEndpoint" if load_stack(stack).inference_components
               else "hoist:endpoint:Endpoint")
    assert components == {"hoist:network:Network", "hoist:storage:Storage", "hoist:registry:Registry",
                          "hoist:budget:Budget", serving, "hoist:training_jobs:TrainingJobs",
                          "hoist:cluster:GpuCluster", "hoist:cluster:TrainingAccess", "hoist:ci_runners:CiRunners",
                          "hoist:in_cluster:InCluster"}


def test_every_aws_resource_uses_the_pinned_tagged_provider(stack: str) -> None:
    plan = planned(stack)
    provider = one(plan, "pulumi:providers:aws")
    assert provider.inputs["allowedAccountIds"] == f'["{load_stack(stack).allowed_account_ids[0]}"]'
    assert f'"hoist:stack": "{stack}"' in provider.inputs["defaultTags"]
    for resource in plan.resources:
        if resource.type.startswith("aws:"):
            assert resource.provider.startswith(provider.urn), resource.urn


def test_network_layout_follows_the_config(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    azs = cfg.network.availability_zones
    subnets = plan.of_type("aws:ec2/subnet:Subnet")
    private = [s for s in subnets if "-private-" in s.name]
    public = [s for s in subnets if "-public-" in s.name]
    assert sorted(s.inputs["availabilityZone"] for s in private) == sorted(azs)
    assert sorted(s.inputs["availabilityZone"] for s in public) == sorted(azs)
    networks = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in subnets]
    vpc = ipaddress.IPv4Network(cfg.network.cidr)
    assert all(n.subnet_of(vpc) for n in networks)
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1:])
    assert all(s.inputs.get("mapPublicIpOnLaunch") is not True for s in subnets)
    assert all(s.inputs["tags"]["karpenter.sh/discovery"] == f"hoist-{stack}" for s in private)
    assert all(s.inputs["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    expected_nats = len(azs) if cfg.network.nat_gateways == "per_az" else 1
    assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == expected_nats


def test_private_routes_use_a_nat_in_their_own_az_when_per_az() -> None:
    plan = planned("prod")
    nat_az = {n.urn: n.name.rsplit("-", 3)[-3:] for n in plan.of_type("aws:ec2/natGateway:NatGateway")}
    for table in plan.of_type("aws:ec2/routeTable:RouteTable"):
        if "-private-" not in table.name:
            continue
        (nat_urn,) = table.property_dependencies["routes"]
        assert table.name.endswith("-".join(nat_az[nat_urn]))


def test_endpoints_are_private_and_cover_the_aws_apis(stack: str) -> None:
    plan = planned(stack)
    endpoints = plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    services = {e.inputs["serviceName"].removeprefix("com.amazonaws.us-east-1."): e for e in endpoints}
    assert set(services) == {"s3", "ecr.api", "ecr.dkr", "sts", "logs", "sagemaker.api", "sagemaker.runtime"}
    assert services["s3"].inputs["vpcEndpointType"] == "Gateway"
    private_subnets = {s.urn for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
    for name, endpoint in services.items():
        if name == "s3":
            continue
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert set(endpoint.property_dependencies["subnetIds"]) == private_subnets


def test_flow_logs_go_to_an_encrypted_log_group(stack: str) -> None:
    plan = planned(stack)
    flow = one(plan, "aws:ec2/flowLog:FlowLog")
    (group,) = [g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup") if g.component == "hoist:network:Network"]
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestination"].endswith(f"log-group:{group.inputs.get('name', group.name)}") or \
        group.urn in flow.property_dependencies["logDestination"]
    assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:")
    assert group.inputs["retentionInDays"] == load_stack(stack).network.flow_log_retention_days


def test_key_policy_lets_only_the_account_cloudwatch_and_budgets_use_the_key(stack: str) -> None:
    key = one(planned(stack), "aws:kms/key:Key")
    account = load_stack(stack).allowed_account_ids[0]
    policy = json.loads(key.inputs["policy"])
    principals = [s["Principal"] for s in policy["Statement"]]
    assert principals == [{"AWS": f"arn:aws:iam::{account}:root"}, {"Service": "logs.us-east-1.amazonaws.com"},
                          {"Service": "cloudwatch.amazonaws.com"}, {"Service": "budgets.amazonaws.com"}]
    # The alerts topic's publishers may use the key only on this account's behalf.
    assert all(s["Condition"] == {"StringEquals": {"aws:SourceAccount": account}} for s in policy["Statement"][2:])
    assert key.inputs["enableKeyRotation"] is True


def test_stateful_resources_are_protected_and_retained_only_in_prod(stack: str) -> None:
    plan = planned(stack)
    protected = load_stack(stack).protect_stateful
    stateful = [r for r in plan.resources if r.type in STATEFUL_TYPES]
    assert len(stateful) == 4 + 1 + 3  # buckets, key, repositories (training, serving, llm)
    for resource in plan.resources:
        expected = protected and resource.type in STATEFUL_TYPES
        assert (resource.protect, resource.retain_on_delete) == (expected, expected), resource.urn


def test_force_destroy_only_in_dev(stack: str) -> None:
    buckets = planned(stack).of_type("aws:s3/bucket:Bucket")
    assert {b.inputs.get("forceDestroy") for b in buckets} == {stack == "dev"}


def test_budget_tracks_the_stack_tag(stack: str) -> None:
    budget = one(planned(stack), "aws:budgets/budget:Budget")
    cfg = load_stack(stack)
    assert float(budget.inputs["limitAmount"]) == cfg.budget.monthly_limit_usd
    assert budget.inputs["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:hoist:stack${stack}"]}]
    kinds = {n["notificationType"] for n in budget.inputs["notifications"]}
    assert kinds == {"ACTUAL", "FORECASTED"}


ARN = re.compile(r"^arn:aws:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+|^arn:aws:s3:::[a-z0-9.-]+$")


def test_outputs_fill_stack_outputs_with_realistic_values(stack: str) -> None:
    outputs = StackOutputs.model_validate(planned(stack).outputs)
    account = load_stack(stack).allowed_account_ids[0]
    assert outputs.account_id == account
    assert ARN.match(outputs.kms_key_arn)
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", outputs.vpc_id)
    assert all(re.fullmatch(r"subnet-[0-9a-f]{17}", s) for s in outputs.private_subnet_ids)
    assert set(outputs.buckets) == {"datasets", "checkpoints", "models", "access-logs"}
    assert all(ARN.match(b.arn) and b.name.startswith(f"hoist-{stack}-") for b in outputs.buckets.values())
    assert outputs.repositories["training"] == f"{account}.dkr.ecr.us-east-1.amazonaws.com/hoist/training"
    assert outputs.bucket_uri("checkpoints", "run-1/").startswith("s3://hoist-")


def test_preview_runs_with_unknown_computed_values(stack: str) -> None:
    from pulumi.output import Unknown

    plan = planned(stack, preview=True)
    assert len(plan.resources) == len(planned(stack).resources)
    assert isinstance(plan.outputs["vpc_id"], Unknown)
    policy = plan.of_type("aws:s3/bucketPolicy:BucketPolicy")[0]
    assert isinstance(policy.inputs["policy"], Unknown)


@pytest.mark.parametrize("name", STACKS)
def test_bucket_families_are_complete(name: str) -> None:
    plan = planned(name)
    buckets = {b.urn for b in plan.of_type("aws:s3/bucket:Bucket")}
    for typ in ("bucketPublicAccessBlock:BucketPublicAccessBlock", "bucketVersioning:BucketVersioning",
                "bucketOwnershipControls:BucketOwnershipControls", "bucketPolicy:BucketPolicy",
                "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        configured: set[Any] = {u for r in plan.of_type(f"aws:s3/{typ}") for u in r.property_dependencies["bucket"]}
        assert configured == buckets, typ


def test_protect_stateful_transformation_directly() -> None:
    import pulumi

    from infra.program import protect_stateful

    def args(typ: str) -> pulumi.ResourceTransformationArgs:
        return pulumi.ResourceTransformationArgs(resource=None, type_=typ, name="x", props={"a": 1},  # type: ignore[arg-type]
                                                 opts=pulumi.ResourceOptions(protect=False))

    result = protect_stateful(args("aws:s3/bucket:Bucket"))
    assert result is not None
    assert result.opts.protect is True and result.opts.retain_on_delete is True
    assert result.props == {"a": 1}
    assert protect_stateful(args("aws:ec2/vpc:Vpc")) is None


def test_sagemaker_security_groups_reach_s3_through_the_gateway_prefix_list(stack: str) -> None:
    """SageMaker's VPC documentation for hosting, training and processing: S3 goes through the gateway
    endpoint, whose addresses are the S3 prefix list's public ranges, not the VPC CIDR."""
    plan = planned(stack)
    (s3,) = [e for e in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["vpcEndpointType"] == "Gateway"]
    groups = [g for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup")
              if g.name.endswith(("-endpoint", "-training-job"))]
    cfg = load_stack(stack)
    assert len(groups) == (2 if cfg.endpoint is not None or cfg.inference_components is not None else 1)
    for group in groups:
        https = [r for r in group.inputs["egress"] if r["protocol"] == "tcp" and r["fromPort"] <= 443 <= r["toPort"]]
        assert any(str(pl).startswith("pl-") for r in https for pl in r.get("prefixListIds", [])), group.name
        assert s3.urn in group.property_dependencies["egress"], group.name


def test_alarms_and_the_budget_publish_to_the_stacks_encrypted_alerts_topic(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    topic = one(plan, "aws:sns/topic:Topic")
    key = one(plan, "aws:kms/key:Key")
    assert key.urn in topic.property_dependencies["kmsMasterKeyId"]
    emails = sorted(s.inputs["endpoint"] for s in plan.of_type("aws:sns/topicSubscription:TopicSubscription")
                    if s.inputs["protocol"] == "email")
    assert emails == sorted(cfg.budget.alert_emails)
    # Scale-from-zero alarms start a scaling policy instead (tests/infra/test_inference_components.py).
    alarms = [a for a in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if not a.inputs["name"].endswith("-no-capacity")]
    # Errors and p99 model latency; a vLLM endpoint watches the engine's two token latencies instead; each
    # inference component its errors.
    expected = (len(cfg.inference_components.models) if cfg.inference_components else 0 if cfg.endpoint is None
                else 2 if cfg.endpoint.engine == "classic" else 3)
    assert len(alarms) == expected
    for alarm in alarms:
        assert topic.urn in alarm.property_dependencies["alarmActions"], alarm.name
    budget = one(plan, "aws:budgets/budget:Budget")
    assert topic.urn in budget.property_dependencies["notifications"]
    # CloudWatch and Budgets publish to an encrypted topic only if the key lets them use it.
    key_policy = json.loads(key.inputs["policy"])
    services = {s["Principal"].get("Service") for s in key_policy["Statement"]
                if "kms:GenerateDataKey*" in s["Action"] and "kms:Decrypt" in s["Action"]}
    assert {"cloudwatch.amazonaws.com", "budgets.amazonaws.com"} <= services


def test_a_public_api_stack_without_ci_runner_gets_no_runner(stacks_copy: Path) -> None:
    path = stacks_copy / "Pulumi.dev.yaml"
    text = path.read_text()
    start = text.index("  hoist:ci_runner:")
    end = text.index("  hoist:cluster:", start)
    text = text[:start] + text[end:]
    cluster = text.index("  hoist:cluster:\n") + len("  hoist:cluster:\n")
    path.write_text(text[:cluster] + "    public_access_cidrs: [203.0.113.0/24]\n" + text[cluster:])
    plan = recording.record("dev")
    assert not [r for r in plan.resources if r.type.startswith("aws:codebuild/") or "runner" in r.name]
    assert "ci_runners" not in plan.outputs and plan.in_cluster_outputs["node_pools"] == ["a10g-spot"]
