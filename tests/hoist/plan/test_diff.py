"""The plan diff, on crafted changes: each made to the real program (a copy of the stack files, or a
change to the program's code as a pull request would make it), planned under mocks, and compared
with the unchanged plan. Each must give exactly the expected cost lines, grants and risks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest

from hoist.plan import comment, diff
from infra import catalog
from infra.components.iam import document, training_data_access
from tests.conftest import planned
from tests.hoist.plan import documents
from tests.hoist.plan.documents import by_action, diff_after, edit_stack

PROD_A10G = "      capacity_type: spot\n      max_gpus: 16\n"


def _cents(value: float) -> int:
    return round(value * 100)


def assert_lines_add_up(data: dict[str, Any]) -> None:
    cost = data["cost"]
    for key, line_key in (("monthly_max_usd", "delta_max_usd"), ("monthly_idle_usd", "delta_idle_usd")):
        assert sum(_cents(line[line_key]) for line in cost["lines"]) == _cents(cost["delta"][key])
        assert _cents(cost["after"][key]) - _cents(cost["before"][key]) == _cents(cost["delta"][key])


def test_a_pools_gpu_limit_is_one_cost_line_and_drains_nothing(stacks_copy: Path) -> None:
    data = diff_after("prod", lambda: edit_stack(stacks_copy, "prod", PROD_A10G,
                                                 "      capacity_type: spot\n      max_gpus: 32\n"))

    node = catalog.ec2_hour("g5.48xlarge").monthly_usd  # the dearest type fills the pool: 8 GPUs a node
    assert data["cost"]["lines"] == [{
        "component": "hoist:in_cluster:InCluster", "subject": "GPU pool a10g-spot",
        "before": {"monthly_max_usd": round(2 * node, 2), "monthly_idle_usd": 0.0, "quantity": "2 × g5.48xlarge spot"},
        "after": {"monthly_max_usd": round(4 * node, 2), "monthly_idle_usd": 0.0, "quantity": "4 × g5.48xlarge spot"},
        "delta_max_usd": round(2 * node, 2), "delta_idle_usd": 0.0}]
    assert_lines_add_up(data)
    # The limit is a behavioural field: Karpenter does not drift nodes for it.
    assert data["risks"] == [] and data["permissions"] == []
    assert by_action(data) == [("update", "hoist-prod-nodepool-a10g-spot", "NodePool"),
                               ("update", "hoist-prod-clusterqueue-a10g-spot", "ClusterQueue")]
    assert data["changes"][0]["inputs"] == [{"path": "spec.limits.nvidia.com/gpu", "before": "16", "after": "32"}]


def test_a_node_class_volume_drains_its_gpu_pool(stacks_copy: Path) -> None:
    # The h100-efa pool's volume (the training jobs' volume_gb sits at another indent).
    data = diff_after("prod", lambda: edit_stack(stacks_copy, "prod", "      volume_gb: 500\n",
                                                 "      volume_gb: 800\n"))

    assert data["cost"]["lines"] == [] and data["cost"]["delta"] == {"monthly_max_usd": 0, "monthly_idle_usd": 0}
    assert data["permissions"] == []
    assert by_action(data) == [("update", "hoist-prod-nodeclass-h100-efa", "EC2NodeClass")]
    assert data["changes"][0]["inputs"] == [
        {"path": "spec.blockDeviceMappings[0].ebs.volumeSize", "before": "500Gi", "after": "800Gi"}]
    (risk,) = data["risks"]
    pool = next(r for r in planned("prod").resources if r.name == "hoist-prod-nodepool-h100-efa")
    assert (risk["kind"], risk["severity"], risk["urn"], risk["title"]) == (
        "gpu-drain", "warning", pool.urn, "Drains GPU pool `h100-efa`")
    assert 'changes `spec.blockDeviceMappings[0].ebs.volumeSize` "500Gi" → "800Gi"' in risk["meaning"]
    assert "at most 10% of the pool's nodes at a time" in risk["meaning"]
    assert "`karpenter.sh/do-not-disrupt`" in risk["meaning"]


def test_a_buckets_create_only_name_replaces_it_and_everything_attached(monkeypatch: pytest.MonkeyPatch) -> None:
    real = aws.s3.Bucket

    def named_datasets_bucket(name: str, **kwargs: Any) -> aws.s3.Bucket:
        if name == "hoist-prod-datasets":
            kwargs["bucket"] = "hoist-prod-datasets-2"
        return real(name, **kwargs)

    data = diff_after("prod", lambda: monkeypatch.setattr(aws.s3, "Bucket", named_datasets_bucket))

    settings = ["BucketPublicAccessBlock", "BucketOwnershipControls", "BucketVersioning",
                "BucketLifecycleConfiguration", "BucketLogging", "BucketPolicy",
                "BucketServerSideEncryptionConfiguration"]
    assert sorted(by_action(data)) == sorted([
        ("replace", "hoist-prod-datasets", "Bucket"),
        *[("replace", "hoist-prod-datasets", kind) for kind in settings],
        # Lustre's link to the bucket names it in a create-only path: a new link, the file system stays.
        ("replace", "hoist-prod-fsx-datasets", "DataRepositoryAssociation"),
        ("update", "hoist-prod-trainer", "RolePolicy"),
        ("update", "hoist-prod-training-job", "RolePolicy")])
    bucket = next(c for c in data["changes"] if c["type"] == "aws:s3/bucket:Bucket")
    assert bucket["replaced_because"] == [
        {"path": "bucket", "because": "create-only `bucketName` of aws-native:s3:Bucket"}]
    (risk,) = data["risks"]
    assert (risk["kind"], risk["severity"], risk["title"]) == (
        "data-loss", "caution", "Replaces S3 bucket `hoist-prod-datasets`, which holds data")
    # prod protects and retains its buckets: say what that does to this change.
    assert "`pulumi up` stops with an error rather than replace it" in risk["meaning"]
    assert "retains the old one on delete" in risk["meaning"]
    assert ("| ± | `hoist-prod-datasets` | AWS | `aws:s3/bucket:Bucket` | **replace**, kept outside the stack "
            "(retained), refused while protected |") in comment.markdown(data)
    # Every grant on the old bucket moves to the new one, and only that.
    old = planned("prod").outputs["buckets"]["datasets"]["arn"]
    new = "arn:aws:s3:::hoist-prod-datasets-2"
    assert {p["name"] for p in data["permissions"]} == {"hoist-prod-datasets", "hoist-prod-trainer",
                                                         "hoist-prod-training-job"}
    for policy in data["permissions"]:
        moved = [{**g, "resource": g["resource"].replace(old, new)} for g in policy["removed"]]
        assert sorted(moved, key=str) == sorted(policy["added"], key=str) and policy["added"]


def test_an_added_iam_action_is_exactly_the_added_grants(monkeypatch: pytest.MonkeyPatch) -> None:
    def with_delete(buckets: dict[str, Any], kms_key_arn: Any) -> list[dict[str, Any]]:
        statements = training_data_access(buckets, kms_key_arn)
        statements[0] = {**statements[0], "Action": [*statements[0]["Action"], "s3:DeleteObject"]}
        return statements

    data = diff_after("prod", lambda: monkeypatch.setattr("infra.components.training_access.training_data_access",
                                                          with_delete))

    datasets = planned("prod").outputs["buckets"]["datasets"]["arn"]
    assert data["permissions"] == [{
        "urn": next(r.urn for r in planned("prod").resources if r.name == "hoist-prod-trainer"
                    and r.type == "aws:iam/rolePolicy:RolePolicy"),
        "name": "hoist-prod-trainer", "type": "aws:iam/rolePolicy:RolePolicy", "kind": "inline policy",
        "added": [
            {"effect": "Allow", "principal": "", "action": "s3:DeleteObject", "resource": datasets,
             "condition": "", "wildcards": []},
            {"effect": "Allow", "principal": "", "action": "s3:DeleteObject", "resource": f"{datasets}/*",
             "condition": "", "wildcards": ["resource"]}],
        "removed": []}]
    assert by_action(data) == [("update", "hoist-prod-trainer", "RolePolicy")]
    assert data["risks"] == [] and data["cost"]["lines"] == []


def test_a_tightened_bucket_policy_revokes_the_broad_grant_and_grants_the_narrow_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::hoist-prod-*"}}

    def tightened(*statements: dict[str, Any]) -> Any:
        return document(*[{**s, "Condition": {**s["Condition"], **source}}
                          if s.get("Sid") == "S3ServerAccessLogDelivery" else s for s in statements])

    data = diff_after("prod", lambda: monkeypatch.setattr("infra.components.storage.document", tightened))

    logs = planned("prod").outputs["buckets"]["access-logs"]["arn"]
    grant = {"effect": "Allow", "principal": "Service logging.s3.amazonaws.com", "action": "s3:PutObject",
             "resource": f"{logs}/*", "wildcards": ["resource"]}
    (policy,) = data["permissions"]
    assert (policy["name"], policy["kind"]) == ("hoist-prod-access-logs", "bucket policy")
    assert policy["removed"] == [{**grant, "condition": "StringEquals aws:SourceAccount = 777788889999"}]
    assert policy["added"] == [{**grant, "condition": "ArnLike aws:SourceArn = arn:aws:s3:::hoist-prod-*; "
                                                      "StringEquals aws:SourceAccount = 777788889999"}]
    assert by_action(data) == [("update", "hoist-prod-access-logs", "BucketPolicy")]
    assert data["risks"] == []


def test_a_model_promotion_rolls_out_the_endpoint_through_its_replaced_model_and_config(stacks_copy: Path) -> None:
    data = diff_after("prod", lambda: edit_stack(stacks_copy, "prod", "model_key: runs/reference/model.tar.gz",
                                                 "model_key: runs/v2/model.tar.gz"))

    # What is replaced comes first, then what changes in place.
    assert by_action(data) == [("replace", "hoist-prod-config", "EndpointConfiguration"),
                               ("replace", "hoist-prod-model", "Model"),
                               ("update", "hoist-prod-endpoint", "Endpoint"),
                               ("update", "hoist-prod-endpoint", "RolePolicy")]
    config, model, endpoint, _ = data["changes"]
    assert config["computed_from_replaced"] == [
        {"input": "productionVariants", "urn": model["urn"], "name": "hoist-prod-model"}]
    assert endpoint["inputs"][0]["path"] == "endpointConfigName" and endpoint["inputs"][0]["after"] == (
        "(known after apply)")
    (risk,) = data["risks"]
    assert (risk["kind"], risk["severity"], risk["title"]) == (
        "endpoint-rollout", "note", "Rolls out a new configuration on endpoint `hoist-prod`")
    assert "shifts traffic to it 25% at a time, 300 s apart" in risk["meaning"]
    assert "`primaryContainer.modelDataUrl`" in risk["meaning"] and "runs/v2/model.tar.gz" in risk["meaning"]
    (policy,) = data["permissions"]
    assert [g["resource"].rsplit(":::", 1)[-1].split("/", 1)[-1] for g in policy["removed"] + policy["added"]] == [
        "runs/reference/*", "runs/v2/*"]


def test_removing_lustre_deletes_its_files_and_its_cost(stacks_copy: Path) -> None:
    data = diff_after("prod", lambda: edit_stack(
        stacks_copy, "prod", "    fsx:\n      storage_gib: 2400\n      throughput_mb_s_per_tib: 250\n", ""))

    gigabytes = catalog.FSX_LUSTRE_P2_GB_MONTH[250].monthly_usd * 2400
    assert [(line["subject"], line["delta_max_usd"], line["delta_idle_usd"]) for line in data["cost"]["lines"]] == [
        ("FSx for Lustre hoist-prod-fsx", -round(gigabytes, 2), -round(gigabytes, 2))]
    assert_lines_add_up(data)
    (risk,) = data["risks"]
    assert risk["title"] == "Deletes FSx for Lustre file system `hoist-prod-fsx`, which holds data"
    # Lustre is not among the types prod protects: nothing stops the delete.
    assert "Pulumi deletes it. Its files go with it" in risk["meaning"] and "protects" not in risk["meaning"]
    assert "| − | `hoist-prod-fsx` | AWS | `aws:fsx/lustreFileSystem:LustreFileSystem` | delete, **loses data** |" in (
        comment.markdown(data))
    assert sorted(by_action(data)) == [
        ("delete", "hoist-prod-fsx", "LustreFileSystem"), ("delete", "hoist-prod-fsx", "PersistentVolume"),
        ("delete", "hoist-prod-fsx", "PersistentVolumeClaim"), ("delete", "hoist-prod-fsx", "SecurityGroup"),
        ("delete", "hoist-prod-fsx-datasets", "DataRepositoryAssociation")]


def _plan(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"components": {"c": resources}, "resource_count": len(resources), "cost": {"lines": []},
            "policy": {"passed": True, "policies": [], "violations": []}}


OLD = "urn:pulumi:dev::hoist::hoist:cluster:InCluster$aws:iam/role:Role::hoist-dev-trainer"
NEW = "urn:pulumi:dev::hoist::hoist:in_cluster:InCluster$aws:iam/role:Role::hoist-dev-trainer"
TRUST = '{{"Statement": [{{"Effect": "Allow", "Principal": {{"Service": "{}"}}, "Action": "sts:AssumeRole"}}]}}'


def _role(urn: str, service: str, aliases: list[str] | None = None) -> dict[str, Any]:
    return {"urn": urn, "type": "aws:iam/role:Role", "name": "hoist-dev-trainer", "protect": False,
            "retain_on_delete": False, "inputs": {"assumeRolePolicy": TRUST.format(service)},
            **({"aliases": aliases} if aliases else {})}


def test_a_renamed_resource_is_matched_at_its_old_urn() -> None:
    data = diff.compare("dev", "main", _plan([_role(OLD, "a")]), _plan([_role(NEW, "a", [OLD])]))
    assert data["changes"] == [] and data["permissions"] == []


def test_a_renamed_resource_that_also_changed_is_one_update() -> None:
    data = diff.compare("dev", "main", _plan([_role(OLD, "a")]), _plan([_role(NEW, "b", [OLD])]))
    assert by_action(data) == [("update", "hoist-dev-trainer", "Role")]
    (policy,) = data["permissions"]
    assert (policy["kind"], [g["principal"] for g in policy["added"]], [g["principal"] for g in policy["removed"]]) == (
        "trust policy", ["Service b"], ["Service a"])


def test_without_the_alias_it_would_be_a_new_resource_and_a_deleted_one() -> None:
    data = diff.compare("dev", "main", _plan([_role(OLD, "a")]), _plan([_role(NEW, "a")]))
    assert by_action(data) == [("delete", "hoist-dev-trainer", "Role"), ("create", "hoist-dev-trainer", "Role")]


def test_the_recording_carries_the_old_urns_of_a_renamed_component_and_its_children() -> None:
    # The trainer role and FSx left the in-cluster component for the AWS side's TrainingAccess; their
    # URNs under both of the component's old type tokens are aliases, so nothing is replaced.
    plan = planned("dev")
    component = next(r for r in plan.resources if r.type == "hoist:cluster:TrainingAccess")
    old = ("hoist:in_cluster:InCluster", "hoist:cluster:InCluster")
    assert component.aliases == tuple(component.urn.replace("hoist:cluster:TrainingAccess", t) for t in old)
    children = [r for r in plan.resources if r.parent == component.urn]
    assert children and all(r.aliases == tuple(r.urn.replace("hoist:cluster:TrainingAccess", t) for t in old)
                            for r in children)
    unrenamed = next(r for r in plan.resources if r.type == "hoist:network:Network")
    assert unrenamed.aliases == ()


def test_a_renamed_gpu_pool_terminates_the_old_pools_nodes(stacks_copy: Path) -> None:
    data = diff_after("dev", lambda: edit_stack(stacks_copy, "dev", "    a10g-spot:\n", "    a10g:\n"))

    (risk,) = data["risks"]
    assert (risk["kind"], risk["title"]) == ("gpu-drain", "Drains GPU pool `a10g-spot`")
    assert "its EC2NodeClass `a10g-spot` is deleted; its NodePool `a10g-spot` is deleted" in risk["meaning"]
    assert "outside its disruption budget" in risk["meaning"] and "drifted" not in risk["meaning"]
    # Same capacity under a new name: the cost line moves, the total stays.
    assert data["cost"]["delta"] == {"monthly_max_usd": 0, "monthly_idle_usd": 0}
    assert [(line["subject"], line["delta_idle_usd"]) for line in data["cost"]["lines"]] == [
        ("GPU pool a10g", 0), ("GPU pool a10g-spot", 0)]
    assert_lines_add_up(data)
    # The pools are the in-cluster project's; the comment says so on each row.
    assert "| − | `hoist-dev-nodepool-a10g-spot` | in-cluster | `kubernetes:karpenter.sh/v1:NodePool` | delete |" in (
        comment.markdown(data))


def test_an_ignored_create_only_input_is_no_change_and_no_replacement() -> None:
    """Clusters made with the creator's bootstrap entry keep it: the program ignores the create-only field,
    so the engine keeps the applied value and a diff must not promise a new cluster."""
    head = documents.document(planned("dev"))
    base = json.loads(json.dumps(head))
    (cluster,) = [r for group in base["components"].values() for r in group if r["type"] == "aws:eks/cluster:Cluster"]
    cluster["inputs"]["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] = True
    assert diff.compare("dev", "main", base, head)["changes"] == []
    for group in head["components"].values():
        for r in group:
            r.pop("ignore_changes", None)
    assert by_action(diff.compare("dev", "main", base, head)) == [("replace", "hoist-dev-cluster", "Cluster")]
