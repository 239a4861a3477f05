"""Reachability: every workload has a network path to each AWS service it needs.

The needs are data (``infra.catalog.WORKLOAD_NEEDS``, from the SageMaker and EKS VPC documentation). This
module finds each workload in the stack's resources (its subnets and security groups), then looks for a
path to each service that leaves the workload's own interfaces, in this order:

- a gateway endpoint (S3): the endpoint routes every subnet's route table, and the security group lets
  HTTPS out to the endpoint's prefix list (or anywhere);
- an interface endpoint with private DNS: the endpoint's security group lets HTTPS in from the workload
  (its CIDR or its group), and the workload's group lets HTTPS out to the endpoint's subnets;
- a NAT gateway: every subnet's route table sends 0.0.0.0/0 to a NAT gateway, and HTTPS may leave for
  anywhere;
- for the cluster's own API server, its private endpoint: EKS's interfaces in the cluster's subnets;
- for GitHub (a CI runner's jobs), a NAT gateway only.

What the managing service does outside our VPC (SageMaker pulling an image) is listed, never judged.
Values unknown during preview (ids, prefix lists) are never read: the paths follow input dependencies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from infra import catalog
from policy.common import as_list, of_type, stack_policy, targets

SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG = "aws-native:sagemaker:EndpointConfig"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
CLUSTER = "aws:eks/cluster:Cluster"
CODEBUILD_PROJECT = "aws:codebuild/project:Project"
TRAINING_JOBS = "hoist:training_jobs:TrainingJobs"
PRIVATE_SUBNET_TAG = "kubernetes.io/role/internal-elb"
"""Marks the private subnets, where `hoist train` and `hoist data prepare` place SageMaker jobs."""
ANYWHERE = "0.0.0.0/0"
EKS_CLUSTER_GROUP = "the EKS cluster security group"

_MISSING = object()


def _get(props: Mapping[str, Any], key: str) -> Any:
    """``props[key]``; None when absent, ``_MISSING`` when the value is unknown during preview."""
    try:
        return props.get(key)
    except UnknownValueError:
        return _MISSING


def _present(props: Mapping[str, Any], key: str) -> bool:
    """Whether ``key`` is set, known or not (a prefix list id is unknown until the endpoint exists)."""
    value = _get(props, key)
    return value is _MISSING or bool(value)


@dataclass(frozen=True)
class Rule:
    """One security group rule, as far as reachability cares."""

    protocol: str
    from_port: int
    to_port: int
    cidrs: tuple[str, ...]
    prefix_lists: bool
    groups: bool
    """References other security groups (or its own, ``self``)."""

    @classmethod
    def of(cls, rule: Mapping[str, Any]) -> Rule:
        return cls(protocol=str(rule.get("protocol")), from_port=int(rule.get("fromPort") or 0),
                   to_port=int(rule.get("toPort") or 0), cidrs=tuple(str(c) for c in as_list(rule.get("cidrBlocks"))),
                   prefix_lists=_present(rule, "prefixListIds"),
                   groups=_present(rule, "securityGroups") or bool(_get(rule, "self")))

    @property
    def https(self) -> bool:
        tcp = self.protocol in ("tcp", "6") and self.from_port <= 443 <= self.to_port
        return self.protocol in ("-1", "all") or tcp

    def covers(self, cidr: str) -> bool:
        """HTTPS to or from every address of ``cidr``."""
        network = ipaddress.IPv4Network(cidr)
        return self.https and any(network.subnet_of(ipaddress.IPv4Network(c)) for c in self.cidrs)


@dataclass(frozen=True)
class Placement:
    """Where one workload's interfaces sit: its subnets and the egress of its security groups."""

    workload: str
    name: str
    anchor: PolicyResource
    """The resource a violation names."""
    subnets: tuple[PolicyResource, ...]
    egress: tuple[Rule, ...]
    egress_targets: frozenset[str]
    """URNs the groups' egress rules were computed from (prefix lists' endpoints, other groups)."""
    groups: frozenset[str]
    group_label: str


@dataclass(frozen=True)
class Reach:
    workload: str
    placement: str
    service: str
    why: str
    carrier: Literal["eni", "platform"]
    path: str
    reachable: bool


@dataclass
class _Network:
    resources: list[PolicyResource]
    subnets: list[PolicyResource] = field(default_factory=list)
    groups: dict[str, PolicyResource] = field(default_factory=dict)
    table_of: dict[str, PolicyResource] = field(default_factory=dict)
    """Subnet URN -> its route table."""

    def __post_init__(self) -> None:
        self.subnets = of_type(self.resources, SUBNET)
        self.groups = {g.urn: g for g in of_type(self.resources, SECURITY_GROUP)}
        by_urn = {r.urn: r for r in self.resources}
        for association in of_type(self.resources, ROUTE_TABLE_ASSOCIATION):
            tables = [by_urn[u] for u in targets(association, "routeTableId") if u in by_urn]
            for subnet in targets(association, "subnetId"):
                if tables:
                    self.table_of[subnet] = tables[0]
        self.nats = {n.urn for n in of_type(self.resources, NAT_GATEWAY)}
        self.endpoints = of_type(self.resources, VPC_ENDPOINT)

    def placement(self, workload: str, name: str, anchor: PolicyResource, subnet_urns: set[str],
                  group_urns: set[str], eks_cluster_group: bool = False) -> Placement:
        groups = [self.groups[u] for u in sorted(group_urns) if u in self.groups]
        egress = [Rule.of(r) for g in groups for r in as_list(g.props.get("egress"))]
        label = ", ".join(g.name for g in groups)
        if eks_cluster_group:
            egress += [Rule.of(r) for r in catalog.EKS_CLUSTER_SECURITY_GROUP_EGRESS]
            label = ", ".join(filter(None, (label, EKS_CLUSTER_GROUP)))
        return Placement(workload=workload, name=name, anchor=anchor,
                         subnets=tuple(s for s in self.subnets if s.urn in subnet_urns), egress=tuple(egress),
                         egress_targets=frozenset(u for g in groups for u in targets(g, "egress")),
                         groups=frozenset(g.urn for g in groups), group_label=label or "no security group")

    def placements(self) -> list[Placement]:
        found = []
        for model in of_type(self.resources, MODEL):
            deps = targets(model, "vpcConfig")
            found.append(self.placement("sagemaker-endpoint", model.name, model, deps, deps))
        for config in of_type(self.resources, ENDPOINT_CONFIG):
            # An endpoint of inference components is placed by its configuration, not by a model.
            if config.props.get("vpcConfig"):
                deps = targets(config, "vpcConfig")
                found.append(self.placement("sagemaker-endpoint", config.name, config, deps, deps))
        job_groups = {u for u in self.groups if f"{TRAINING_JOBS}$" in u}
        private = {s.urn for s in self.subnets if (s.props.get("tags") or {}).get(PRIVATE_SUBNET_TAG) == "1"}
        for urn in sorted(job_groups):
            for workload in ("sagemaker-training-job", "sagemaker-processing-job"):
                found.append(self.placement(workload, self.groups[urn].name, self.groups[urn], private, {urn}))
        templates = {t.urn: t for t in of_type(self.resources, LAUNCH_TEMPLATE)}
        for group in of_type(self.resources, NODE_GROUP):
            own: set[str] = set()
            for template in (templates[u] for u in targets(group, "launchTemplate") if u in templates):
                own |= targets(template, "vpcSecurityGroupIds")
            # Without groups of its own, a managed node group gets the cluster security group EKS creates.
            found.append(self.placement("eks-system-nodes", group.name, group, targets(group, "subnetIds"), own,
                                        eks_cluster_group=not own))
        for project in of_type(self.resources, CODEBUILD_PROJECT):
            deps = targets(project, "vpcConfig")
            if deps:
                found.append(self.placement("ci-runner", str(project.props.get("name") or project.name), project,
                                            deps, deps))
        clusters = {c.urn for c in of_type(self.resources, CLUSTER)}
        # The in-cluster project alone (its own `pulumi preview`) holds no network to judge the GPU
        # nodes' paths by; `hoist plan`, which records both projects, judges them.
        node_classes = of_type(self.resources, NODE_CLASS) if self.subnets else []
        for node_class in node_classes:
            deps = targets(node_class, "spec")
            own = deps & set(self.groups)
            found.append(self.placement("gpu-nodes", node_class.name, node_class, deps, own,
                                        eks_cluster_group=not own and bool(deps & clusters)))
        return found

    # --- paths ---------------------------------------------------------------------------------

    def _endpoints(self, service: str, kind: str) -> list[PolicyResource]:
        return [e for e in self.endpoints if e.props.get("vpcEndpointType") == kind
                and str(e.props.get("serviceName", "")).endswith(f".{service}")]

    def gateway(self, service: str, where: Placement) -> str | None:
        for endpoint in self._endpoints(service, "Gateway"):
            routed = targets(endpoint, "routeTableIds")
            if not where.subnets or any(self.table_of.get(s.urn) is None or self.table_of[s.urn].urn not in routed
                                        for s in where.subnets):
                continue
            to_prefix_list = endpoint.urn in where.egress_targets and any(
                r.https and r.prefix_lists for r in where.egress)
            if to_prefix_list or any(r.covers(ANYWHERE) for r in where.egress):
                return f"gateway endpoint {endpoint.name}: routed from every subnet, egress to its prefix list"
        return None

    def interface(self, service: str, where: Placement) -> str | None:
        cidrs = [str(s.props.get("cidrBlock")) for s in where.subnets]
        for endpoint in self._endpoints(service, "Interface"):
            if endpoint.props.get("privateDnsEnabled") is not True:
                continue  # without private DNS the service's public name resolves past the endpoint
            endpoint_cidrs = [str(s.props.get("cidrBlock")) for s in self.subnets
                              if s.urn in targets(endpoint, "subnetIds")]
            endpoint_groups = [self.groups[u] for u in targets(endpoint, "securityGroupIds") if u in self.groups]
            inbound = any(
                all(rule.covers(c) for c in cidrs)
                or (rule.https and rule.groups and bool(targets(group, "ingress") & where.groups))
                for group in endpoint_groups for rule in (Rule.of(r) for r in as_list(group.props.get("ingress"))))
            to_group = bool(where.egress_targets & {g.urn for g in endpoint_groups})
            outbound = any(all(r.covers(c) for c in endpoint_cidrs) or (r.https and r.groups and to_group)
                           for r in where.egress)
            if cidrs and endpoint_cidrs and inbound and outbound:
                return f"interface endpoint {endpoint.name} (private DNS): HTTPS out of the workload and in"
        return None

    def nat(self, where: Placement) -> str | None:
        if not where.subnets or not any(r.covers(ANYWHERE) for r in where.egress):
            return None
        for subnet in where.subnets:
            table = self.table_of.get(subnet.urn)
            if table is None or not (targets(table, "routes") & self.nats) or not any(
                    route.get("cidrBlock") == ANYWHERE and _present(route, "natGatewayId")
                    for route in as_list(table.props.get("routes"))):
                return None
        return "NAT gateway: every subnet's default route, egress to 0.0.0.0/0"

    def kubernetes_api(self, where: Placement) -> str | None:
        for cluster in of_type(self.resources, CLUSTER):
            vpc = cluster.props.get("vpcConfig") or {}
            cidrs = [str(s.props.get("cidrBlock")) for s in self.subnets if s.urn in targets(cluster, "vpcConfig")]
            if vpc.get("endpointPrivateAccess") is True and cidrs and any(
                    all(r.covers(c) for c in cidrs) for r in where.egress):
                return f"cluster {cluster.name}'s private endpoint: EKS's interfaces in its subnets"
            if vpc.get("endpointPublicAccess") is True and self.nat(where):
                return f"cluster {cluster.name}'s public endpoint through NAT"
        return None

    def path(self, service: str, where: Placement) -> str | None:
        if service == catalog.KUBERNETES_API:
            return self.kubernetes_api(where)
        if service == catalog.GITHUB:
            return self.nat(where)
        found = self.gateway(service, where) if service in catalog.GATEWAY_ENDPOINT_SERVICES else None
        return found or self.interface(service, where) or self.nat(where)


def analyse(resources: list[PolicyResource]) -> list[tuple[Placement, Reach]]:
    """One row per workload placement and service it needs."""
    network = _Network(resources)
    rows = []
    for where in network.placements():
        needs = catalog.WORKLOAD_NEEDS[where.workload]
        for need in needs.eni:
            path = network.path(need.service, where)
            rows.append((where, Reach(workload=where.workload, placement=where.name, service=need.service,
                                      why=need.why, carrier="eni", reachable=path is not None,
                                      path=path or f"no path from {len(where.subnets)} subnets with "
                                                   f"{where.group_label}: no endpoint route or interface it may "
                                                   "use, no NAT route with egress to 0.0.0.0/0")))
        for need in needs.platform:
            rows.append((where, Reach(workload=where.workload, placement=where.name, service=need.service,
                                      why=need.why, carrier="platform", reachable=True,
                                      path="the managing service, outside the VPC")))
    return rows


def _reachability(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    for where, row in analyse(resources):
        if not row.reachable:
            yield (f"{row.workload} {row.placement} cannot reach {row.service} ({row.why}): {row.path}; see "
                   f"{catalog.WORKLOAD_NEEDS[row.workload].source}"), where.anchor


POLICIES = (
    stack_policy("workload-reachability", "Every workload (SageMaker endpoint, training and processing jobs, EKS "
                 "and GPU nodes, CI runners) has a network path to each AWS service it needs", (), _reachability),
)
