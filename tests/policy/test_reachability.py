"""Reachability: in every stack each workload has a path to each AWS service it needs, found from the
recorded plan; a broken route or egress rule trips exactly the workloads that lose the path."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import pytest

from hoist.plan.policies import evaluate, resource_views
from hoist.plan.recording import Plan, PlannedResource
from infra import catalog
from policy.reachability import NODE_CLASS, ROUTE_TABLE_ASSOCIATION, SECURITY_GROUP, VPC_ENDPOINT, Reach, analyse
from tests.conftest import planned
from tests.policy.test_policies import mutate, set_input

POLICY = "workload-reachability"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
SAGEMAKER = {"sagemaker-endpoint", "sagemaker-training-job", "sagemaker-processing-job"}


def rows(plan: Plan) -> list[Reach]:
    return [row for _, row in analyse(resource_views(plan))]


def unreachable(plan: Plan) -> set[tuple[str, str]]:
    return {(r.workload, r.service) for r in rows(plan) if not r.reachable}


def path(plan: Plan, workload: str, service: str) -> str:
    return next(r.path for r in rows(plan) if r.workload == workload and r.service == service)


def mutate_named(plan: Plan, typ: str, change: Callable[[PlannedResource], PlannedResource], name: str) -> Plan:
    """``plan`` with the resource of ``typ`` named exactly ``name`` changed."""
    assert any(r.type == typ and r.name == name for r in plan.resources), name
    return dataclasses.replace(plan, resources=[
        change(dataclasses.replace(r, inputs=copy.deepcopy(r.inputs))) if r.type == typ and r.name == name else r
        for r in plan.resources])


def drop_prefix_list_egress(resource: PlannedResource) -> PlannedResource:
    resource.inputs["egress"] = [r for r in resource.inputs["egress"] if "prefixListIds" not in r]
    return resource


@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_every_workload_reaches_every_service_it_needs(stack: str, preview: bool) -> None:
    plan = planned(stack, preview=preview)
    found = rows(plan)
    workloads = {r.workload for r in found}
    assert workloads == set(catalog.WORKLOAD_NEEDS)
    for workload in workloads:
        needs = catalog.WORKLOAD_NEEDS[workload]
        wanted = {n.service for n in (*needs.eni, *needs.platform)}
        assert {r.service for r in found if r.workload == workload} == wanted
    assert all(r.reachable for r in found), [r for r in found if not r.reachable]
    assert evaluate(plan).tripped() == set()


def test_each_service_takes_the_path_the_network_gives_it() -> None:
    plan = planned("staging")
    for workload in SAGEMAKER:
        assert path(plan, workload, "s3").startswith("gateway endpoint hoist-staging-s3")
        assert path(plan, workload, "ecr.dkr") == "the managing service, outside the VPC"
    assert path(plan, "eks-system-nodes", "ecr.api").startswith("interface endpoint hoist-staging-ecr-api")
    assert path(plan, "gpu-nodes", "sts").startswith("interface endpoint hoist-staging-sts")
    assert path(plan, "eks-system-nodes", "ec2").startswith("NAT gateway")
    assert path(plan, "eks-system-nodes", "s3").startswith("gateway endpoint")
    assert path(plan, "gpu-nodes", catalog.KUBERNETES_API).startswith("cluster hoist-staging-cluster's private")


def test_removing_the_endpoints_s3_egress_trips_only_the_endpoint() -> None:
    plan = mutate_named(planned("dev"), SECURITY_GROUP, drop_prefix_list_egress, "hoist-dev-endpoint")
    assert unreachable(plan) == {("sagemaker-endpoint", "s3")}
    report = evaluate(plan)
    assert report.tripped() == {POLICY}
    assert len(report.violations) == 1 and "sagemaker-endpoint" in report.violations[0].message


def test_removing_the_jobs_s3_egress_trips_only_the_jobs() -> None:
    """Training and processing jobs share one security group; the endpoint and the nodes keep their paths."""
    plan = mutate(planned("prod"), SECURITY_GROUP, drop_prefix_list_egress, "training-job")
    assert unreachable(plan) == {("sagemaker-training-job", "s3"), ("sagemaker-processing-job", "s3")}
    assert evaluate(plan).tripped() == {POLICY}


def test_without_the_s3_gateway_route_sagemaker_loses_s3_and_nodes_fall_back_to_nat() -> None:
    def unroute(resource: PlannedResource) -> PlannedResource:
        deps = dict(resource.property_dependencies)
        deps["routeTableIds"] = deps["routeTableIds"][1:]
        return dataclasses.replace(resource, property_dependencies=deps)

    plan = mutate(planned("staging"), VPC_ENDPOINT, unroute, "s3")
    assert unreachable(plan) == {(w, "s3") for w in SAGEMAKER}
    # The nodes' security group lets HTTPS out anywhere, so their S3 traffic takes the NAT gateway.
    assert path(plan, "eks-system-nodes", "s3").startswith("NAT gateway")


def test_a_subnet_without_its_route_table_cuts_what_runs_there() -> None:
    plan = mutate(planned("prod"), ROUTE_TABLE_ASSOCIATION, lambda r: None, "private")
    lost = unreachable(plan)
    assert {w for w, _ in lost} >= SAGEMAKER | {"eks-system-nodes"}
    # Interface endpoints are reached over the VPC's local route, whatever the subnet's route table.
    assert not any(service in ("ecr.api", "ecr.dkr", "sts", "logs") for _, service in lost)


def test_without_nat_nodes_lose_what_has_no_endpoint_and_sagemaker_keeps_its_paths() -> None:
    plan = planned("prod")
    for table in [r for r in plan.resources if r.type == ROUTE_TABLE and "private" in r.name]:
        plan = mutate(plan, ROUTE_TABLE, set_input("routes", []), table.name)
    lost = unreachable(plan)
    nat_only = {"ec2", "eks-auth", "ssm", "sqs", "eks", "pricing"}
    assert lost == ({("eks-system-nodes", s) for s in nat_only}
                    | {("gpu-nodes", s) for s in nat_only - {"sqs", "eks", "pricing"}}
                    | {("ci-runner", catalog.GITHUB), ("ci-runner", "kms")})
    assert evaluate(plan).tripped() == {POLICY}


def test_an_interface_endpoint_without_private_dns_is_not_a_path() -> None:
    plan = mutate(planned("dev"), VPC_ENDPOINT, set_input("privateDnsEnabled", False), "ecr-api")
    assert path(plan, "eks-system-nodes", "ecr.api").startswith("NAT gateway")
    assert unreachable(plan) == set()


def test_a_gpu_pool_whose_node_class_lost_its_subnets_is_named() -> None:
    def no_subnets(resource: PlannedResource) -> PlannedResource:
        deps = dict(resource.property_dependencies)
        deps["spec"] = tuple(u for u in deps["spec"] if ":ec2/subnet:Subnet::" not in u)
        return dataclasses.replace(resource, property_dependencies=deps)

    plan = mutate(planned("prod"), NODE_CLASS, no_subnets, "h100")
    lost = unreachable(plan)
    assert lost and {w for w, _ in lost} == {"gpu-nodes"}
    assert all("h100" in v.message for v in evaluate(plan).violations)


def test_a_default_route_that_is_not_a_nat_gateway_is_not_a_path() -> None:
    """Private subnets routed to the internet gateway: their nodes have no public address, so no way out."""
    def to_internet_gateway(resource: PlannedResource) -> PlannedResource:
        resource.inputs["routes"] = [{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-0123456789abcdef0"}]
        return dataclasses.replace(resource, property_dependencies={**resource.property_dependencies, "routes": ()})

    plan = planned("dev")
    for table in [r for r in plan.resources if r.type == ROUTE_TABLE and "private" in r.name]:
        plan = mutate_named(plan, ROUTE_TABLE, to_internet_gateway, table.name)
    assert ("eks-system-nodes", "ec2") in unreachable(plan)
    assert not {w for w, _ in unreachable(plan)} & SAGEMAKER


def test_the_ci_runners_reach_github_through_nat_and_sts_through_its_endpoint() -> None:
    """A job on a VPC runner asks GitHub for an OIDC token (through the NAT gateway) and exchanges it at STS
    (through the interface endpoint) for the stack's CI role; then the private API and the state."""
    plan = planned("prod")
    placements = {r.placement for r in rows(plan) if r.workload == "ci-runner"}
    assert placements == {"hoist-prod-deploy-runner", "hoist-prod-preview-runner"}
    assert path(plan, "ci-runner", catalog.GITHUB).startswith("NAT gateway")
    assert path(plan, "ci-runner", "sts").startswith("interface endpoint hoist-prod-sts")
    assert path(plan, "ci-runner", catalog.KUBERNETES_API).startswith("cluster hoist-prod-cluster's private")
    assert path(plan, "ci-runner", "s3").startswith("gateway endpoint hoist-prod-s3")


def test_a_runner_without_https_out_is_named() -> None:
    def no_egress(resource: PlannedResource) -> PlannedResource:
        resource.inputs["egress"] = []
        return resource

    plan = mutate_named(planned("staging"), SECURITY_GROUP, no_egress, "hoist-staging-runner")
    lost = unreachable(plan)
    assert lost == {("ci-runner", n.service) for n in catalog.WORKLOAD_NEEDS["ci-runner"].eni}
    report = evaluate(plan)
    assert report.tripped() == {POLICY}
    assert all("ci-runner hoist-staging-" in v.message for v in report.violations) and len(report.violations) == 10
