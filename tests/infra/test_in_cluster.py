"""The cluster's in-cluster side under Pulumi's mocks: Karpenter's pools, the releases, the training
namespace and role, FSx, teardown order, and every object against its schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from hoist.jobs.api_checks import kubernetes_errors, node_pod, trainer_api_errors
from hoist.plan.recording import Plan, PlannedResource
from infra import catalog
from infra.config import GpuPoolConfig
from infra.kube.karpenter import node_class, node_pool
from infra.kube.training_runtime import training_runtime
from infra.stack_files import load_stack
from tests.conftest import planned
from tests.infra.crd_schemas import EC2_NODE_CLASS, NODE_POOL

NODE_POOL_TYPE = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS_TYPE = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RELEASE = "kubernetes:helm.sh/v3:Release"


def one(plan: Plan, typ: str, name: str) -> PlannedResource:
    found = [r for r in plan.of_type(typ) if r.name.endswith(name)]
    assert len(found) == 1, f"{typ} *{name}: {[r.name for r in plan.of_type(typ)]}"
    return found[0]


def custom_object(resource: PlannedResource) -> dict[str, Any]:
    """A custom resource as the cluster receives it: the program's inputs, numbers as JSON has them."""
    raw = {key: resource.inputs[key] for key in ("apiVersion", "kind", "metadata", "spec")}
    decoded: dict[str, Any] = json.loads(json.dumps(raw), parse_float=lambda text: (
        int(float(text)) if float(text).is_integer() else float(text)))
    return decoded


def test_one_node_class_and_pool_per_gpu_pool(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    assert {r.inputs["metadata"]["name"] for r in plan.of_type(NODE_POOL_TYPE)} == set(cfg.gpu_pools)
    assert {r.inputs["metadata"]["name"] for r in plan.of_type(NODE_CLASS_TYPE)} == set(cfg.gpu_pools)
    for pool_name, pool in cfg.gpu_pools.items():
        spec = one(plan, NODE_POOL_TYPE, f"nodepool-{pool_name}").inputs["spec"]
        requirements = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
        assert requirements["node.kubernetes.io/instance-type"] == list(pool.instance_types)
        assert requirements["karpenter.sh/capacity-type"] == [pool.capacity_type]
        assert requirements["topology.kubernetes.io/zone"] == list(cfg.pool_zones(pool))
        assert spec["limits"] == {"nvidia.com/gpu": str(pool.max_gpus)}
        assert spec["template"]["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true",
                                                       "effect": "NoSchedule"}]
        # Running training is never consolidated or expired away; empty nodes go, so idle costs nothing.
        assert spec["disruption"]["consolidationPolicy"] == "WhenEmpty"
        assert spec["template"]["spec"]["expireAfter"] == "Never"
        node = one(plan, NODE_CLASS_TYPE, f"nodeclass-{pool_name}").inputs["spec"]
        assert node["metadataOptions"]["httpTokens"] == "required"
        assert node["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert node["associatePublicIPAddress"] is False
        assert node["blockDeviceMappings"][0]["ebs"]["volumeSize"] == f"{pool.volume_gb}Gi"
        assert node["blockDeviceMappings"][0]["ebs"]["encrypted"] is True
        assert node["amiSelectorTerms"] == [{"alias": catalog.GPU_NODE_AMI.value}]
        assert len(node["subnetSelectorTerms"]) == len(cfg.pool_zones(pool))
        assert node["tags"]["cost-center"] == cfg.cost_center


def test_efa_pool_stays_in_one_az_with_one_subnet() -> None:
    plan = planned("prod")
    pool = load_stack("prod").gpu_pools["h100-efa"]
    spec = one(plan, NODE_POOL_TYPE, "nodepool-h100-efa").inputs["spec"]
    zones = [r["values"] for r in spec["template"]["spec"]["requirements"] if r["key"] == "topology.kubernetes.io/zone"]
    assert zones == [[pool.availability_zone]]
    assert spec["template"]["metadata"]["labels"]["hoist.dev/efa"] == "true"
    subnets = one(plan, NODE_CLASS_TYPE, "nodeclass-h100-efa").inputs["spec"]["subnetSelectorTerms"]
    az_subnet = one(plan, "aws:ec2/subnet:Subnet", f"private-{pool.availability_zone}")
    assert az_subnet.inputs["availabilityZone"] == "us-east-1a"
    assert subnets == [{"id": plan.outputs["private_subnet_ids"][0]}]


def test_reserved_pool_launches_into_its_capacity_reservations() -> None:
    pool = GpuPoolConfig(instance_types=("p5.48xlarge",), capacity_type="reserved", max_gpus=16, efa=True,
                         capacity_reservation_ids=("cr-0123456789abcdef0",))
    spec = node_class("h100", pool, node_role="r", subnet_ids=["subnet-0a"], security_group_id="sg-0b",
                      kms_key_arn="arn:aws:kms:us-east-1:111122223333:key/k", tags={})["spec"]
    assert spec["capacityReservationSelectorTerms"] == [{"id": "cr-0123456789abcdef0"}]
    requirements = node_pool("h100", pool, ("us-east-1a",))["spec"]["template"]["spec"]["requirements"]
    assert {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["reserved"]} in requirements


def test_karpenter_objects_match_karpenters_crd_schemas(stack: str) -> None:
    plan = planned(stack)
    for resource in plan.of_type(NODE_POOL_TYPE):
        jsonschema.validate(custom_object(resource), NODE_POOL)
    for resource in plan.of_type(NODE_CLASS_TYPE):
        jsonschema.validate(custom_object(resource), EC2_NODE_CLASS)


def test_crd_schemas_reject_what_karpenter_would() -> None:
    obj = custom_object(one(planned("prod"), NODE_POOL_TYPE, "nodepool-h100-efa"))
    obj["spec"]["disruption"]["consolidationPolicy"] = "Always"
    with pytest.raises(jsonschema.ValidationError, match="Always"):
        jsonschema.validate(obj, NODE_POOL)
    node = custom_object(one(planned("prod"), NODE_CLASS_TYPE, "nodeclass-h100-efa"))
    node["spec"]["metadataOptions"]["httpToken"] = "required"
    with pytest.raises(jsonschema.ValidationError, match="httpToken"):
        jsonschema.validate(node, EC2_NODE_CLASS)


def test_releases_are_pinned_and_configured(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    releases = {r.inputs["name"]: r.inputs for r in plan.of_type(RELEASE)}
    expected = {"karpenter", "nvidia-device-plugin", "kubeflow-trainer", "kueue"}
    if any(pool.efa for pool in cfg.gpu_pools.values()):
        expected.add("aws-efa-k8s-device-plugin")
    assert set(releases) == expected
    for name, release in releases.items():
        chart = catalog.HELM_CHARTS[name]
        assert (release["chart"], release["version"]) == (chart.chart, chart.version)
        assert release["atomic"] is True
    karpenter = releases["karpenter"]["values"]
    assert karpenter["settings"]["interruptionQueue"] == f"hoist-{stack}-karpenter"
    assert karpenter["settings"]["featureGates"] == {"reservedCapacity": True, "spotToSpotConsolidation": False,
                                                     "nodeRepair": True}
    assert karpenter["serviceAccount"]["name"] == "karpenter" and karpenter["nodeSelector"] == {
        "hoist.dev/role": "system"}
    kueue = json.loads(releases["kueue"]["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert kueue["waitForPodsReady"]["enable"] is True and kueue["waitForPodsReady"]["blockAdmission"] is True
    assert kueue["waitForPodsReady"]["timeout"] == f"{cfg.cluster.admission_timeout_minutes}m"


def test_gpu_metrics_come_from_container_insights() -> None:
    addon = one(planned("dev"), "aws:eks/addon:Addon", "amazon-cloudwatch-observability")
    metrics = json.loads(addon.inputs["configurationValues"])["agent"]["config"]["logs"]["metrics_collected"]
    assert metrics["kubernetes"]["accelerated_compute_metrics"] is True


def test_queues_hold_exactly_each_pools_gpus(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    for pool_name, pool in cfg.gpu_pools.items():
        queue = one(plan, "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue", f"clusterqueue-{pool_name}")
        resources = queue.inputs["spec"]["resourceGroups"][0]["flavors"][0]["resources"]
        assert {"name": "nvidia.com/gpu", "nominalQuota": str(pool.max_gpus)} in resources
        local = one(plan, "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue", f"localqueue-{pool_name}")
        assert local.inputs["metadata"]["namespace"] == "training"


def _in_project(resource: PlannedResource) -> set[str]:
    """The resource's dependencies inside its own project: the edges the engine orders a destroy by
    (the recorder adds only AWS-side URNs, for the contract's values)."""
    return {urn for urn in resource.dependencies if urn.split("::")[1] == resource.project}


def test_teardown_order_inside_the_in_cluster_project(stack: str) -> None:
    """Pulumi deletes dependents first: jobs' namespace, then NodePools (Karpenter, still running,
    terminates their GPU nodes), then their EC2NodeClasses, and only then Karpenter. All of it is the
    in-cluster project, which the teardown workflow destroys before the AWS side (tests/workflows)."""
    plan = planned(stack)
    urns = {r.name: r.urn for r in plan.resources}
    karpenter = one(plan, RELEASE, "-karpenter")
    assert karpenter.part == "in-cluster"
    for pool_name in load_stack(stack).gpu_pools:
        pool = one(plan, NODE_POOL_TYPE, f"nodepool-{pool_name}")
        assert pool.part == "in-cluster"
        assert {karpenter.urn, urns[f"hoist-{stack}-nodeclass-{pool_name}"]} <= _in_project(pool)
        assert karpenter.urn in _in_project(one(plan, NODE_CLASS_TYPE, f"nodeclass-{pool_name}"))
    namespace = one(plan, "kubernetes:core/v1:Namespace", "-training")
    assert {r.urn for r in plan.of_type(NODE_POOL_TYPE)} <= _in_project(namespace)
    provider = next(r for r in plan.resources if r.type == "pulumi:providers:kubernetes")
    assert karpenter.provider.startswith(provider.urn)


def test_the_contract_carries_the_aws_resources_the_in_cluster_objects_use(stack: str) -> None:
    """The StackReference hides where its values came from, so the recorder names the AWS resources
    whose values the contract carries (no engine orders across projects; teardown.yml does): the
    controller gets the cluster's endpoint, each node class the node role."""
    plan = planned(stack)
    cluster = f"urn:pulumi:{stack}::hoist::hoist:cluster:GpuCluster$aws:eks/cluster:Cluster::hoist-{stack}-cluster"
    karpenter = one(plan, RELEASE, "-karpenter")
    assert cluster in karpenter.dependencies and cluster not in _in_project(karpenter)
    node_role = one(plan, "aws:iam/role:Role", "-karpenter-node").urn
    for nodeclass in plan.of_type(NODE_CLASS_TYPE):
        assert node_role in nodeclass.dependencies


def test_the_in_cluster_project_holds_kubernetes_objects_only(stack: str) -> None:
    plan = planned(stack)
    parts = {r.part for r in plan.resources}
    assert parts == {"aws", "in-cluster"}
    for resource in plan.resources:
        kubernetes = resource.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))
        in_cluster = resource.type == "hoist:in_cluster:InCluster" or kubernetes
        assert (resource.part == "in-cluster") == in_cluster, resource.urn
        assert resource.project == ("hoist-in-cluster" if in_cluster else "hoist"), resource.urn


def test_training_role_reads_datasets_writes_checkpoints_and_models_only(stack: str) -> None:
    plan = planned(stack)
    role = one(plan, "aws:iam/role:Role", "-trainer")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    binding = one(plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "-trainer")
    assert (binding.inputs["namespace"], binding.inputs["serviceAccount"]) == ("training", "trainer")
    statements = {s["Sid"]: s for s in json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "-trainer")
                                                   .inputs["policy"])["Statement"]}
    assert set(statements) == {"ReadDatasets", "ReadWriteCheckpoints", "WriteModels", "ReadBaseModels",
                               "ListBaseModels", "UseStackKey"}
    buckets = {role_name: b["arn"] for role_name, b in plan.outputs["buckets"].items()}
    # Base checkpoints to fine-tune: read and list only under base/ of the models bucket.
    assert statements["ReadBaseModels"]["Resource"] == f"{buckets['models']}/base/*"
    assert statements["ListBaseModels"]["Resource"] == buckets["models"]
    assert statements["ListBaseModels"]["Condition"] == {"StringLike": {"s3:prefix": ["base/*"]}}
    assert statements["ReadDatasets"]["Action"] == ["s3:GetObject", "s3:ListBucket"]
    assert statements["ReadDatasets"]["Resource"][0] == buckets["datasets"]
    assert statements["ReadWriteCheckpoints"]["Resource"][0] == buckets["checkpoints"]
    assert statements["WriteModels"]["Resource"] == f"{buckets['models']}/*"
    assert not any("*" in action for s in statements.values() for action in
                   ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))


def test_fsx_is_lustre_linked_to_datasets_and_reachable_only_from_private_subnets() -> None:
    plan = planned("prod")
    filesystem = one(plan, "aws:fsx/lustreFileSystem:LustreFileSystem", "-fsx")
    assert filesystem.inputs["deploymentType"] == "PERSISTENT_2"
    assert (filesystem.inputs["storageCapacity"], filesystem.inputs["perUnitStorageThroughput"]) == (2400, 250)
    link = one(plan, "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation", "-fsx-datasets")
    assert link.inputs["dataRepositoryPath"] == f"s3://{plan.outputs['buckets']['datasets']['name']}/"
    group = one(plan, "aws:ec2/securityGroup:SecurityGroup", "-fsx")
    private = {s.inputs["cidrBlock"] for s in plan.of_type("aws:ec2/subnet:Subnet") if "private" in s.name}
    ports = set()
    for rule in group.inputs["ingress"]:
        ports.add((rule["fromPort"], rule["toPort"]))
        assert rule.get("self") or set(rule["cidrBlocks"]) == private
    assert ports == {(988, 988), (1018, 1023)}
    claim = one(plan, "kubernetes:core/v1:PersistentVolumeClaim", "-fsx")
    assert claim.inputs["metadata"] == {"name": "fsx", "namespace": "training"}
    assert not planned("dev").of_type("aws:fsx/lustreFileSystem:LustreFileSystem")


CORE = {"kubernetes:core/v1:Namespace": ("v1", "Namespace"),
        "kubernetes:core/v1:ServiceAccount": ("v1", "ServiceAccount"),
        "kubernetes:core/v1:PersistentVolume": ("v1", "PersistentVolume"),
        "kubernetes:core/v1:PersistentVolumeClaim": ("v1", "PersistentVolumeClaim")}


def test_core_objects_match_the_kubernetes_schema(stack: str) -> None:
    plan, version = planned(stack), load_stack(stack).cluster.kubernetes_version
    checked = 0
    for resource in plan.resources:
        if resource.type in CORE:
            api_version, kind = CORE[resource.type]
            obj = {"apiVersion": api_version, "kind": kind,
                   **{k: v for k, v in resource.inputs.items() if k not in ("apiVersion", "kind")}}
            obj = json.loads(json.dumps(obj))
            kubernetes_validate.validate(obj, f"{version}.0", strict=True)
            checked += 1
    assert checked >= 2


def test_training_runtime_matches_the_trainer_api_and_its_pod_the_kubernetes_schema(stack: str) -> None:
    plan, cfg = planned(stack), load_stack(stack)
    runtime = custom_object(one(plan, "kubernetes:trainer.kubeflow.org/v1alpha1:TrainingRuntime", "-runtime"))
    assert trainer_api_errors(runtime, "TrainingRuntime") == []
    assert runtime == json.loads(json.dumps(training_runtime("training", cfg.cluster, plan.outputs["images"][
        "training"])))
    template = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "node"}, "spec": template["spec"]}
    assert kubernetes_errors(job, cfg.cluster.kubernetes_version) == []
    pod = template["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"karpenter.sh/do-not-disrupt": "true"}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["spec"]["volumes"]
    assert runtime["spec"]["template"]["spec"]["failurePolicy"] == {"maxRestarts": cfg.cluster.job_max_restarts}


def test_schema_checks_name_the_wrong_field() -> None:
    cfg = load_stack("prod")
    runtime = training_runtime("training", cfg.cluster, "registry/training@sha256:" + "0" * 64)
    runtime["spec"]["mlPolicy"]["numNode"] = 2
    assert trainer_api_errors(runtime, "TrainingRuntime")[0].startswith("TrainingRuntime.spec.mlPolicy.numNode")
    pod = node_pod(training_runtime("training", cfg.cluster, "img"), {
        "metadata": {"name": "j", "namespace": "training"},
        "spec": {"trainer": {"image": "img", "command": ["python"], "args": [], "resourcesPerNode": {
            "requests": {"nvidia.com/gpu": "1"}, "limit": {}}}}})
    assert kubernetes_errors(pod, "1.35")[0].startswith("Pod spec.containers.0.resources")
