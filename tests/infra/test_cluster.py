"""The EKS cluster of every stack under mocks: control plane, system nodes, add-ons, and Karpenter's
AWS side (roles, node access, interruption queue and rules), with its outputs and cost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hoist.outputs import StackOutputs
from hoist.plan import cost
from hoist.plan.recording import Plan, PlannedResource
from infra import catalog
from infra.stack_files import ConfigError, load_stack, parse, read_stack_file, stack_file
from tests.conftest import planned

COMPONENT = "hoist:cluster:GpuCluster"


def of(plan: Plan, typ: str) -> list[PlannedResource]:
    return [r for r in plan.of_type(typ) if r.component == COMPONENT]


def one(plan: Plan, typ: str, name: str = "") -> PlannedResource:
    found = [r for r in of(plan, typ) if name in r.name]
    assert len(found) == 1, f"expected one {typ} named *{name}*, found {[r.name for r in found]}"
    return found[0]


def trust(role: PlannedResource) -> dict[str, Any]:
    statement: dict[str, Any] = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    return statement


def test_control_plane_is_private_encrypted_logged_and_supported(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    cluster = one(plan, "aws:eks/cluster:Cluster")
    outputs = StackOutputs.model_validate(plan.outputs)
    assert cluster.inputs["name"] == f"hoist-{stack}" and cluster.inputs["version"] == cfg.cluster.kubernetes_version
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert sorted(vpc["subnetIds"]) == sorted(outputs.private_subnet_ids)
    assert cluster.inputs["encryptionConfig"] == {"resources": ["secrets"], "provider": {"keyArn": outputs.kms_key_arn}}
    assert set(cluster.inputs["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager",
                                                             "scheduler"}
    assert cluster.inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    logs = one(plan, "aws:cloudwatch/logGroup:LogGroup")
    assert logs.inputs["name"] == f"/aws/eks/hoist-{stack}/cluster" and logs.inputs["kmsKeyId"] == outputs.kms_key_arn
    assert logs.urn in cluster.dependencies, "the log group exists before EKS would create its own"


def test_system_nodes_are_private_imdsv2_encrypted_without_ssh(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    group = one(plan, "aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert group.inputs["instanceTypes"] == [cfg.cluster.system_instance_type]
    assert "remoteAccess" not in group.inputs
    assert sorted(group.inputs["subnetIds"]) == sorted(StackOutputs.model_validate(plan.outputs).private_subnet_ids)
    template = one(plan, "aws:ec2/launchTemplate:LaunchTemplate")
    assert template.urn in group.dependencies
    assert template.inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                                  "httpPutResponseHopLimit": 1}
    (disk,) = template.inputs["blockDeviceMappings"]
    assert disk["ebs"]["encrypted"] == "true" and "keyName" not in template.inputs


def test_addons_bind_their_roles_through_pod_identity(stack: str) -> None:
    plan = planned(stack)
    addons = {a.inputs["addonName"]: a for a in of(plan, "aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver",
                           "amazon-cloudwatch-observability", "aws-fsx-csi-driver"}
    node_group = one(plan, "aws:eks/nodeGroup:NodeGroup").urn
    agent = addons["eks-pod-identity-agent"].urn
    for name in ("coredns", "aws-ebs-csi-driver", "amazon-cloudwatch-observability"):
        assert {node_group, agent} <= set(addons[name].dependencies), f"{name} waits for nodes and the agent"
    roles = of(plan, "aws:iam/role:Role")
    for name, role_name in (("aws-ebs-csi-driver", "ebs-csi"), ("amazon-cloudwatch-observability", "observability")):
        (association,) = addons[name].inputs["podIdentityAssociations"]
        role = next(r for r in roles if r.name.endswith(role_name))
        assert role_name in association["roleArn"]
        assert trust(role)["Principal"] == {"Service": "pods.eks.amazonaws.com"}


def test_karpenter_has_its_roles_node_access_and_interruption_queue(stack: str) -> None:
    plan = planned(stack)
    controller = next(r for r in of(plan, "aws:iam/role:Role") if r.name.endswith("-karpenter"))
    assert trust(controller)["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    association = one(plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("kube-system", "karpenter")
    node_access = [e for e in of(plan, "aws:eks/accessEntry:AccessEntry") if e.inputs["type"] == "EC2_LINUX"]
    assert len(node_access) == 1 and "karpenter-node" in node_access[0].inputs["principalArn"]
    queue = one(plan, "aws:sqs/queue:Queue")
    assert queue.inputs["name"] == f"hoist-{stack}-karpenter" and queue.inputs["sqsManagedSseEnabled"] is True
    rules = {json.loads(r.inputs["eventPattern"])["detail-type"][0]
             for r in of(plan, "aws:cloudwatch/eventRule:EventRule")}
    assert rules == {"AWS Health Event", "EC2 Spot Instance Interruption Warning",
                     "EC2 Instance Rebalance Recommendation", "EC2 Instance State-change Notification"}
    targets = of(plan, "aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 4 and {t.inputs["arn"] for t in targets} == {f"arn:aws:sqs:us-east-1:"
                                                                         f"{load_stack(stack).allowed_account_ids[0]}:"
                                                                         f"hoist-{stack}-karpenter"}
    policy = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "karpenter").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["LaunchScopedToCluster"]["Condition"] == {
        "StringEquals": {f"aws:RequestTag/kubernetes.io/cluster/hoist-{stack}": "owned"}}
    assert statements["TerminateOwnNodesOnly"]["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/hoist-{stack}": "owned"}}
    assert "karpenter-node" in statements["PassNodeRole"]["Resource"]


def test_outputs_name_the_cluster_its_pools_and_a_kubeconfig(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    outputs = StackOutputs.model_validate(plan.outputs)
    assert outputs.cluster is not None and outputs.cluster.name == f"hoist-{stack}"
    assert outputs.cluster.endpoint.startswith("https://") and outputs.cluster.namespace == "training"
    assert set(outputs.cluster.pools) == set(cfg.gpu_pools)
    for name, pool in cfg.gpu_pools.items():
        assert outputs.cluster.pools[name].max_gpus == pool.max_gpus
    assert outputs.kubeconfig is not None
    kubeconfig = json.loads(outputs.kubeconfig)
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:2] == ["eks", "get-token"]
    assert kubeconfig["clusters"][0]["cluster"]["server"] == outputs.cluster.endpoint


def test_cost_has_the_control_plane_and_system_nodes() -> None:
    lines = {line.subject: line for line in cost.estimate(planned("prod")).lines if line.component == COMPONENT}
    assert round(lines["EKS control plane"].monthly_max_usd, 2) == 73.0
    nodes = lines["EKS node group hoist-prod-system"]
    assert (nodes.item, nodes.quantity, nodes.idle_quantity) == ("m6i.large", 3, 2)


@pytest.mark.parametrize(("cluster", "message"), [
    ({"kubernetes_version": "1.33"}, "not in EKS standard support"),
    ({"public_access_cidrs": ["0.0.0.0/0"]}, "too much of the internet"),
    ({"admin_role_arns": ["arn:aws:iam::123:user/x"]}, "is not an IAM role ARN"),
    ({"log_retention_days": 10}, "must be a CloudWatch retention value"),
])
def test_bad_cluster_config_is_one_line(cluster: dict[str, Any], message: str) -> None:
    raw = {**read_stack_file(stack_file("dev")), "cluster": cluster}
    with pytest.raises(ConfigError) as error:
        parse(raw, source="stacks/Pulumi.test.yaml")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_system_node_instances_and_volumes_carry_the_stack_tags(stack: str) -> None:
    """The provider's default tags reach the launch template, not what EKS launches from it; the budget
    filters on the stack tag, so instances and volumes must carry it themselves."""
    from policy.common import REQUIRED_TAGS

    (template,) = planned(stack).of_type("aws:ec2/launchTemplate:LaunchTemplate")
    specs = {s["resourceType"]: s["tags"] for s in template.inputs.get("tagSpecifications", [])}
    assert set(specs) == {"instance", "volume", "network-interface"}
    for tags in specs.values():
        assert set(REQUIRED_TAGS) <= set(tags)
        assert tags["hoist:stack"] == stack


def test_access_comes_only_from_explicit_entries_and_old_clusters_keep_theirs(stack: str) -> None:
    """The deploy role creates the cluster on the cloud path; a bootstrap entry would duplicate its own entry."""
    plan, cfg = planned(stack), load_stack(stack)
    cluster = one(plan, "aws:eks/cluster:Cluster")
    assert cluster.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    # Create-only: a cluster made with the bootstrap entry is left as it is rather than replaced.
    assert cluster.ignore_changes == ("accessConfig.bootstrapClusterCreatorAdminPermissions",)
    principals = [e.inputs["principalArn"] for e in of(plan, "aws:eks/accessEntry:AccessEntry")]
    assert cfg.cluster.ci_deploy_role_arn in principals and len(principals) == len(set(principals))


def test_ci_roles_get_read_only_and_admin_access_entries(stack: str) -> None:
    """Previews and drift checks read the in-cluster resources; deploys change them. Pull-request code runs
    as the preview role, so it reads Secrets only where Helm keeps its releases."""
    plan, cfg = planned(stack), load_stack(stack)
    assert cfg.cluster.ci_preview_role_arn and cfg.cluster.ci_deploy_role_arn
    granted: dict[str, set[tuple[str, str, tuple[str, ...]]]] = {}
    for a in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation"):
        scope = a.inputs["accessScope"]
        granted.setdefault(a.inputs["principalArn"], set()).add(
            (a.inputs["policyArn"].rsplit("/", 1)[-1], scope["type"], tuple(scope.get("namespaces", ()))))
    assert granted[cfg.cluster.ci_preview_role_arn] == {
        ("AmazonEKSViewPolicy", "cluster", ()),
        ("AmazonEKSAdminViewPolicy", "namespace", ("kube-system", "kubeflow-system", "kueue-system"))}
    assert granted[cfg.cluster.ci_deploy_role_arn] == {("AmazonEKSClusterAdminPolicy", "cluster", ())}
    # The namespaces are the releases' own: one source of truth in the catalog.
    releases = {r.inputs["namespace"] for r in plan.of_type("kubernetes:helm.sh/v3:Release")}
    assert releases == set(catalog.helm_namespaces())


def test_one_role_named_twice_is_a_config_error() -> None:
    role = "arn:aws:iam::111122223333:role/hoist-ci"
    raw = {**read_stack_file(stack_file("dev")), "cluster": {"ci_deploy_role_arn": role, "ci_preview_role_arn": role}}
    with pytest.raises(ConfigError, match="named twice") as error:
        parse(raw, source="stacks/Pulumi.test.yaml")
    assert "\n" not in str(error.value)
