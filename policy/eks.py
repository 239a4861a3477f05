"""EKS controls: a private (or CIDR-restricted) API, encrypted secrets, every control-plane log, a
supported version on standard support, and nodes with IMDSv2, no SSH and encrypted volumes; roles
assumed through Pod Identity trust only this account's pods."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from infra import catalog
from policy.common import REQUIRED_TAGS, as_list, decoded, of_type, resource_policy, stack_policy, statements, targets

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
ROLE = "aws:iam/role:Role"
LOG_TYPES = frozenset({"api", "audit", "authenticator", "controllerManager", "scheduler"})
POD_IDENTITY = "pods.eks.amazonaws.com"


def _endpoint(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    vpc = props.get("vpcConfig") or {}
    if vpc.get("endpointPrivateAccess") is not True:
        yield "the API endpoint must be reachable privately (endpointPrivateAccess: true)"
    if vpc.get("endpointPublicAccess") is not False:
        cidrs = as_list(vpc.get("publicAccessCidrs"))
        if not cidrs or "0.0.0.0/0" in cidrs:
            yield "a public API endpoint must be restricted to named CIDRs, never 0.0.0.0/0"


def _secrets(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    encryption = decoded(props.get("encryptionConfig")) or {}
    if "secrets" not in as_list(encryption.get("resources")) or not (encryption.get("provider") or {}).get("keyArn"):
        yield "Kubernetes secrets must be encrypted with the stack's KMS key (encryptionConfig)"


def _explicit_access(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    # The creator's bootstrap entry duplicates the deploy role's explicit one when that role creates the
    # cluster, and CreateAccessEntry then fails (catalog.API_RULES["eks-no-creator-bootstrap"]).
    if (props.get("accessConfig") or {}).get("bootstrapClusterCreatorAdminPermissions") is not False:
        yield ("accessConfig.bootstrapClusterCreatorAdminPermissions must be false: cluster access comes from "
               "explicit access entries only, and the creator's bootstrap entry collides with the CI deploy role's")


def _logs(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    missing = LOG_TYPES - set(as_list(props.get("enabledClusterLogTypes")))
    if missing:
        yield f"control-plane logs missing: {', '.join(sorted(missing))}"


def _version(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    supported = catalog.eks_versions_in_standard_support()
    if props.get("version") not in supported:
        yield (f"Kubernetes {props.get('version')} is not in EKS standard support on {catalog.EKS_VERSIONS_AS_OF}; "
               f"use one of {', '.join(supported)}")
    if (props.get("upgradePolicy") or {}).get("supportType") != "STANDARD":
        yield "the upgrade policy must be STANDARD, so the cluster never drifts into paid extended support"


def _node_settings(props: Mapping[str, Any], args: ResourceValidationArgs) -> Mapping[str, Any]:
    """A launch template's inputs, or a Karpenter EC2NodeClass's spec (which uses the same names)."""
    return (decoded(props.get("spec")) or {}) if args.resource_type == NODE_CLASS else props


def _imdsv2(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    metadata = _node_settings(props, args).get("metadataOptions") or {}
    if metadata.get("httpTokens") != "required":
        yield "nodes must require IMDSv2 (metadataOptions.httpTokens: required)"
    if metadata.get("httpPutResponseHopLimit") != 1:
        yield "the metadata hop limit must be 1, so pods cannot reach the node's credentials"


def _no_ssh(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if props.get("remoteAccess") or props.get("keyName"):
        yield "nodes must have no SSH key or remote access; use SSM Session Manager"


def _no_public_ip(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    if args.resource_type == NODE_CLASS:
        if (decoded(props.get("spec")) or {}).get("associatePublicIPAddress") is not False:
            yield "GPU nodes must get no public IP (associatePublicIPAddress: false)"
        return
    for interface in as_list(props.get("networkInterfaces")):
        if str(interface.get("associatePublicIpAddress")).lower() == "true":
            yield "nodes must get no public IP (networkInterfaces.associatePublicIpAddress)"


def _ami_pinned(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    for term in as_list((decoded(props.get("spec")) or {}).get("amiSelectorTerms")):
        alias = str(term.get("alias", ""))
        if alias.endswith("@latest") or not (alias or term.get("id")):
            yield (f"GPU nodes must pin their AMI (an alias like al2023@v20260903, or an id), not {alias or term}; "
                   "a moving AMI drifts every node, and Karpenter replaces drifted nodes")


def _encrypted_volumes(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    volumes = as_list(_node_settings(props, args).get("blockDeviceMappings"))
    if args.resource_type == NODE_CLASS and not volumes:
        yield "GPU nodes must declare their root volume (blockDeviceMappings), encrypted"
    for mapping in volumes:
        if str((mapping.get("ebs") or {}).get("encrypted")).lower() != "true":
            yield f"volume {mapping.get('deviceName')} must be encrypted"


def _pod_identity_trust(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    for statement in statements(props.get("assumeRolePolicy")):
        services = as_list((statement.get("Principal") or {}).get("Service")) if isinstance(
            statement.get("Principal"), dict) else []
        if POD_IDENTITY not in services:
            continue
        actions = set(as_list(statement.get("Action")))
        if not actions <= {"sts:AssumeRole", "sts:TagSession"}:
            yield f"a Pod Identity role may only be assumed (sts:AssumeRole, sts:TagSession), not {sorted(actions)}"
        if "aws:SourceAccount" not in ((statement.get("Condition") or {}).get("StringEquals") or {}):
            yield "a Pod Identity trust must be limited to this account's clusters (aws:SourceAccount)"


TAGGED_LAUNCHES = ("instance", "volume")
"""What EKS launches from a node group's template; the provider's default tags do not reach them."""


def _launches_tagged(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterable[str]:
    specs = {s.get("resourceType"): dict(s.get("tags") or {}) for s in as_list(props.get("tagSpecifications"))}
    for kind in TAGGED_LAUNCHES:
        missing = [t for t in REQUIRED_TAGS if t not in specs.get(kind, {})]
        if missing:
            yield (f"launch template tags no {kind} with {', '.join(missing)}: add a tagSpecifications entry "
                   "with the stack's tags, or the budget's tag filter misses its cost")


ACCESS_POLICY_ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
# The CI roles are what every CI job that touches the cluster runs as: hosted jobs and the jobs on the
# stack's VPC runners alike assume them by OIDC (the runners' own roles hold no entry: ci-runner-no-cluster-access).
CI_ACCESS = {"AmazonEKSViewPolicy": "read-only access, Secrets left out, for previews and drift checks",
             "AmazonEKSClusterAdminPolicy": "admin access for deploys"}
ADMIN_VIEW = "AmazonEKSAdminViewPolicy"


def _ci_access(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    for cluster in of_type(resources, CLUSTER):
        associations = [a for a in of_type(resources, ACCESS_POLICY_ASSOCIATION)
                        if cluster.urn in targets(a, "clusterName")]
        scoped: dict[str, list[dict[str, Any]]] = {}
        for association in associations:
            policy = str(association.props.get("policyArn", "")).rsplit("/", 1)[-1]
            scope = association.props.get("accessScope") or {}
            scoped.setdefault(policy, []).append(scope)
            if policy == ADMIN_VIEW and scope.get("type") != "namespace":
                # Code from a pull request runs as the preview role: it must not read every Secret.
                yield (f"access policy association {association.name}: {ADMIN_VIEW} reads every Secret; scope it to "
                       f"the Helm releases' namespaces ({', '.join(catalog.helm_namespaces())})"), association
        for policy, purpose in CI_ACCESS.items():
            if not any(scope.get("type") == "cluster" for scope in scoped.get(policy, [])):
                yield (f"EKS cluster {cluster.name} grants no role {policy} ({purpose}); set "
                       "hoist:cluster.ci_preview_role_arn and ci_deploy_role_arn"), cluster
        # Helm keeps each release in a Secret of its namespace, which a preview reads.
        read = {n for scope in scoped.get(ADMIN_VIEW, []) for n in as_list(scope.get("namespaces"))}
        missing = sorted(set(catalog.helm_namespaces()) - read)
        if missing:
            yield (f"EKS cluster {cluster.name} grants no role {ADMIN_VIEW} in {', '.join(missing)}, where Helm "
                   "keeps its release Secrets that previews and drift checks read"), cluster


ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
NODE_ENTRY_TYPES = ("EC2_LINUX", "EC2_WINDOWS")


def _node_access_entries(resources: list[PolicyResource]) -> Iterable[tuple[str, PolicyResource]]:
    # EKS grants a node entry its permissions from the type; CreateAccessEntry and AssociateAccessPolicy
    # refuse groups or policies on it (catalog.API_RULES["eks-node-entry-no-policy"]).
    nodes = {e.urn: e for e in of_type(resources, ACCESS_ENTRY) if e.props.get("type") in NODE_ENTRY_TYPES}
    for entry in nodes.values():
        if as_list(entry.props.get("kubernetesGroups")):
            yield f"access entry {entry.name} ({entry.props.get('type')}) may not name kubernetesGroups", entry
    for association in of_type(resources, ACCESS_POLICY_ASSOCIATION):
        for urn in sorted(targets(association, "principalArn") & set(nodes)):
            yield (f"access policy association {association.name}: EKS refuses an access policy on the node "
                   f"access entry {nodes[urn].name} ({nodes[urn].props.get('type')})"), association


POLICIES = (
    resource_policy("eks-endpoint-private", "The EKS API is private, or public only to named CIDRs",
                    ("CKV_AWS_38", "CKV_AWS_39", "SecurityHub:EKS.1"), (CLUSTER,), _endpoint),
    resource_policy("eks-secrets-encrypted", "EKS encrypts Kubernetes secrets with the stack's KMS key",
                    ("CKV_AWS_58", "SecurityHub:EKS.3"), (CLUSTER,), _secrets),
    resource_policy("eks-control-plane-logs", "EKS sends all five control-plane log types",
                    ("CKV_AWS_37", "SecurityHub:EKS.8"), (CLUSTER,), _logs),
    resource_policy("eks-explicit-access-only", "EKS grants access through explicit access entries only, no "
                    "bootstrap entry for the cluster's creator", (), (CLUSTER,), _explicit_access),
    resource_policy("eks-supported-version", "EKS runs a version in standard support, with the STANDARD policy",
                    ("SecurityHub:EKS.2",), (CLUSTER,), _version),
    resource_policy("nodes-imdsv2", "Nodes require IMDSv2 with a hop limit of 1", ("CKV_AWS_79", "CKV_AWS_341"),
                    (LAUNCH_TEMPLATE, NODE_CLASS), _imdsv2),
    resource_policy("nodes-no-ssh", "Nodes have no SSH key or remote access", ("CKV_AWS_100",),
                    (NODE_GROUP, LAUNCH_TEMPLATE), _no_ssh),
    resource_policy("nodes-no-public-ip", "Nodes get no public IP address", ("CKV_AWS_88", "SecurityHub:EC2.9"),
                    (LAUNCH_TEMPLATE, NODE_CLASS), _no_public_ip),
    resource_policy("nodes-ami-pinned", "Karpenter's nodes run a pinned AMI release", (), (NODE_CLASS,),
                    _ami_pinned),
    resource_policy("nodes-encrypted-volumes", "Node volumes are encrypted", ("CKV_AWS_8",),
                    (LAUNCH_TEMPLATE, NODE_CLASS), _encrypted_volumes),
    stack_policy("eks-ci-access", "The CI roles, which the jobs on the VPC runners assume by OIDC, can read the "
                 "cluster (previews, drift) and administer it (deploys)", (),
                 _ci_access),
    stack_policy("eks-node-access-entries", "Node access entries (EC2_LINUX) carry no access policy or groups, "
                 "as EKS requires", (), _node_access_entries),
    resource_policy("nodes-tagged", "Instances and volumes launched from a template carry the stack's tags", (),
                    (LAUNCH_TEMPLATE,), _launches_tagged),
    resource_policy("pod-identity-trust", "Pod Identity roles trust only this account's pods, only to assume", (),
                    (ROLE,), _pod_identity_trust),
)
