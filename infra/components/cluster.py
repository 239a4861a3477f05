"""GpuCluster: the EKS cluster for distributed training — control plane, system nodes, managed
add-ons, and the AWS side of Karpenter (its roles, node access, interruption queue and rules).

- The API endpoint is private; public access only from configured CIDRs. Authentication is by EKS
  access entries (API mode); Kubernetes secrets are encrypted with the stack's key; all five
  control-plane log types go to a KMS-encrypted log group created first, with its retention.
- System nodes: a small managed node group on AL2023 in the private subnets, IMDSv2 required with a
  hop limit of 1 (pods cannot reach the node's credentials), encrypted root volumes, no SSH (SSM
  Session Manager instead).
- Add-ons run with EKS Pod Identity: every role they assume trusts ``pods.eks.amazonaws.com`` from
  this account only.
- Karpenter's controller role, its nodes' role (admitted by an EC2_LINUX access entry) and the SQS
  queue that EventBridge feeds spot interruptions, rebalance recommendations, scheduled changes and
  instance state changes into, so Karpenter drains a node before AWS takes it away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import catalog
from infra.components.iam import document, pod_identity_trust
from infra.config import ClusterConfig

CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# The preview role reads every object but Secrets cluster-wide (View), and Secrets too (AdminView) only
# in the namespaces of hoist's Helm releases, whose records a preview and a drift check read: code from
# a pull request runs as this role, and must not read every Secret of the stack.
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
ADMIN_VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"
KARPENTER_NAMESPACE = catalog.HELM_CHARTS["karpenter"].namespace
KARPENTER_SERVICE_ACCOUNT = "karpenter"
INTERRUPTION_EVENTS: dict[str, dict[str, Any]] = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}


def managed(partition: pulumi.Input[str], name: str) -> pulumi.Output[str]:
    return pulumi.Output.format("arn:{0}:iam::aws:policy/{1}", partition, name)


@dataclass(frozen=True, kw_only=True)
class GpuClusterArgs:
    config: ClusterConfig
    cluster_name: str
    kms_key_arn: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    account_id: pulumi.Input[str]
    region: str
    partition: pulumi.Input[str]
    tags: dict[str, str]
    """The stack's tags, for what EKS launches from the system nodes' template (outside the provider's
    default tags): the budget's tag filter must see those instances and volumes."""


def kubeconfig(cluster: str, endpoint: str, certificate: str, region: str) -> str:
    """A kubeconfig that authenticates with the caller's AWS credentials (``aws eks get-token``)."""
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                     "args": ["eks", "get-token", "--cluster-name", cluster, "--region", region]}}
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster,
        "clusters": [{"name": cluster, "cluster": {"server": endpoint, "certificate-authority-data": certificate}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "users": [{"name": cluster, "user": user}],
    })


class GpuCluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    node_group: aws.eks.NodeGroup
    karpenter_role: aws.iam.Role
    karpenter_node_role: aws.iam.Role
    interruption_queue: aws.sqs.Queue
    kubeconfig: pulumi.Output[str]
    """Secret: the kubeconfig the in-cluster resources and `hoist train` use."""
    karpenter_ready: list[pulumi.Resource]
    """What Karpenter's controller needs before it starts: nodes, its role's policy and binding, node access."""

    def __init__(self, name: str, args: GpuClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:cluster:GpuCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config, cluster_name = args.config, args.cluster_name

        cluster_role = aws.iam.Role(f"{name}-cluster", assume_role_policy=document({
            "Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"]}), opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-cluster", role=cluster_role.name,
                                     policy_arn=managed(args.partition, "AmazonEKSClusterPolicy"), opts=child)
        # Created before the cluster, so EKS writes into a group with our key and retention.
        logs = aws.cloudwatch.LogGroup(f"{name}-cluster", name=f"/aws/eks/{cluster_name}/cluster",
                                       retention_in_days=config.log_retention_days, kms_key_id=args.kms_key_arn,
                                       opts=child)
        vpc: aws.eks.ClusterVpcConfigArgsDict = {
            "subnet_ids": args.private_subnet_ids,
            "endpoint_private_access": True,
            "endpoint_public_access": bool(config.public_access_cidrs),
        }
        if config.public_access_cidrs:
            vpc["public_access_cidrs"] = list(config.public_access_cidrs)
        self.cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            version=config.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=vpc,
            # Access comes from the explicit entries below alone: a bootstrap entry for the creator (the CI
            # deploy role on the cloud path) would make the deploy role's own entry fail as a duplicate
            # (catalog.API_RULES["eks-no-creator-bootstrap"]). The field is create-only: clusters made
            # before keep theirs rather than being replaced.
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": args.kms_key_arn}},
            enabled_cluster_log_types=list(CONTROL_PLANE_LOGS),
            upgrade_policy={"support_type": "STANDARD"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs],
                                        ignore_changes=["accessConfig.bootstrapClusterCreatorAdminPermissions"]),
        )
        cluster_wide: aws.eks.AccessPolicyAssociationAccessScopeArgsDict = {"type": "cluster"}
        helm_namespaces: aws.eks.AccessPolicyAssociationAccessScopeArgsDict = {
            "type": "namespace", "namespaces": list(catalog.helm_namespaces())}
        grants = [(f"{name}-admin-{index}", arn, [(f"{name}-admin-{index}", ADMIN_POLICY, cluster_wide)])
                  for index, arn in enumerate(config.admin_role_arns)]
        # CI reads the in-cluster resources on every preview and drift check, and changes them on deploy:
        # the jobs on the stack's VPC runners assume these roles by GitHub OIDC (ci_runners.py), and the
        # deploy role's trust names the GitHub environment, so its reviewers and branches gate cluster-admin.
        if config.ci_deploy_role_arn is not None:
            grants.append((f"{name}-ci-deploy", config.ci_deploy_role_arn,
                           [(f"{name}-ci-deploy", ADMIN_POLICY, cluster_wide)]))
        if config.ci_preview_role_arn is not None:
            # "You can assign one or more access policies to access entries of type STANDARD", each scoped to the
            # cluster or to namespaces (docs.aws.amazon.com/eks/latest/userguide/access-policies.html, 2026-12-02).
            grants.append((f"{name}-ci-preview", config.ci_preview_role_arn,
                           [(f"{name}-ci-preview", ADMIN_VIEW_POLICY, helm_namespaces),
                            (f"{name}-ci-view", VIEW_POLICY, cluster_wide)]))
        for entry_name, arn, associations in grants:
            entry = aws.eks.AccessEntry(entry_name, cluster_name=self.cluster.name, principal_arn=arn,
                                        type="STANDARD", opts=child)
            for resource_name, policy_arn, scope in associations:
                aws.eks.AccessPolicyAssociation(resource_name, cluster_name=self.cluster.name,
                                                principal_arn=entry.principal_arn, policy_arn=policy_arn,
                                                access_scope=scope, opts=child)
        self.node_group = self._system_nodes(name, args, child)
        self._addons(name, args, child)
        self._karpenter(name, args, child)
        certificate = self.cluster.certificate_authority.apply(lambda ca: ca.data if ca else "")
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, certificate).apply(
            lambda values: kubeconfig(values[0], values[1], values[2], args.region)))
        self.register_outputs({"cluster_name": self.cluster.name, "endpoint": self.cluster.endpoint})

    def _node_role(self, name: str, partition: pulumi.Input[str], child: pulumi.ResourceOptions) -> aws.iam.Role:
        role = aws.iam.Role(name, assume_role_policy=document({
            "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
            opts=child)
        for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy",
                       "AmazonSSMManagedInstanceCore"):
            aws.iam.RolePolicyAttachment(f"{name}-{policy}", role=role.name, policy_arn=managed(partition, policy),
                                         opts=child)
        return role

    def _system_nodes(self, name: str, args: GpuClusterArgs, child: pulumi.ResourceOptions) -> aws.eks.NodeGroup:
        role = self._node_role(f"{name}-system-node", args.partition, child)
        template = aws.ec2.LaunchTemplate(
            f"{name}-system-node",
            description="EKS system nodes: IMDSv2 with hop limit 1, encrypted root volume, no SSH key",
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                              "http_put_response_hop_limit": 1},
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                "volume_size": 50, "volume_type": "gp3", "encrypted": "true", "kms_key_id": args.kms_key_arn,
                "delete_on_termination": "true"}}],
            tag_specifications=[{"resource_type": kind, "tags": args.tags}
                                for kind in ("instance", "volume", "network-interface")],
            opts=child,
        )
        return aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=self.cluster.name,
            node_role_arn=role.arn,
            subnet_ids=args.private_subnet_ids,
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            instance_types=[args.config.system_instance_type],
            scaling_config={"desired_size": args.config.system_nodes, "min_size": args.config.system_nodes,
                            "max_size": args.config.system_nodes + 1},
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            labels={"hoist.dev/role": "system"},
            opts=child,
        )

    def _addons(self, name: str, args: GpuClusterArgs, child: pulumi.ResourceOptions) -> None:
        trust = pod_identity_trust(args.account_id)
        ebs_role = aws.iam.Role(f"{name}-ebs-csi", assume_role_policy=trust, opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-ebs-csi", role=ebs_role.name, policy_arn=pulumi.Output.format(
            "arn:{0}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy", args.partition), opts=child)
        observability_role = aws.iam.Role(f"{name}-observability", assume_role_policy=trust, opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-observability", role=observability_role.name,
                                     policy_arn=managed(args.partition, "CloudWatchAgentServerPolicy"), opts=child)
        # The agent must exist before any add-on that is bound to a role through it.
        pod_identity = aws.eks.Addon(f"{name}-eks-pod-identity-agent", cluster_name=self.cluster.name,
                                     addon_name="eks-pod-identity-agent", opts=child)
        after_nodes = pulumi.ResourceOptions(parent=self, depends_on=[self.node_group, pod_identity])
        for addon in ("vpc-cni", "kube-proxy"):
            aws.eks.Addon(f"{name}-{addon}", cluster_name=self.cluster.name, addon_name=addon, opts=child)
        aws.eks.Addon(f"{name}-coredns", cluster_name=self.cluster.name, addon_name="coredns", opts=after_nodes)
        aws.eks.Addon(f"{name}-aws-ebs-csi-driver", cluster_name=self.cluster.name, addon_name="aws-ebs-csi-driver",
                      pod_identity_associations=[{"role_arn": ebs_role.arn,
                                                  "service_account": "ebs-csi-controller-sa"}], opts=after_nodes)
        # Container Insights with its own DCGM exporter: GPU utilisation, memory and power per pod and
        # node land in CloudWatch next to the job metrics, with no second exporter to run.
        aws.eks.Addon(f"{name}-amazon-cloudwatch-observability", cluster_name=self.cluster.name,
                      addon_name="amazon-cloudwatch-observability",
                      configuration_values=json.dumps({"agent": {"config": {"logs": {"metrics_collected": {
                          "kubernetes": {"enhanced_container_insights": True,
                                         "accelerated_compute_metrics": True}}}}}}),
                      pod_identity_associations=[{"role_arn": observability_role.arn,
                                                  "service_account": "cloudwatch-agent"}], opts=after_nodes)
        aws.eks.Addon(f"{name}-aws-fsx-csi-driver", cluster_name=self.cluster.name, addon_name="aws-fsx-csi-driver",
                      opts=after_nodes)

    def _karpenter(self, name: str, args: GpuClusterArgs, child: pulumi.ResourceOptions) -> None:
        self.interruption_queue = aws.sqs.Queue(f"{name}-karpenter", name=f"{args.cluster_name}-karpenter",
                                                message_retention_seconds=300, sqs_managed_sse_enabled=True,
                                                opts=child)
        queue = self.interruption_queue
        aws.sqs.QueuePolicy(f"{name}-karpenter", queue_url=queue.url, policy=document(
            {"Sid": "EventBridgeSends", "Effect": "Allow",
             "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
             "Action": "sqs:SendMessage", "Resource": queue.arn},
            {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": queue.arn,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}), opts=child)
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(f"{name}-karpenter-{event}", event_pattern=pulumi.Output.json_dumps(
                pattern), description=f"Karpenter interruption handling: {event}", opts=child)
            aws.cloudwatch.EventTarget(f"{name}-karpenter-{event}", rule=rule.name, arn=queue.arn, opts=child)

        self.karpenter_node_role = self._node_role(f"{name}-karpenter-node", args.partition, child)
        node_access = aws.eks.AccessEntry(f"{name}-karpenter-node", cluster_name=self.cluster.name,
                                          principal_arn=self.karpenter_node_role.arn, type="EC2_LINUX", opts=child)
        self.karpenter_role = aws.iam.Role(f"{name}-karpenter", assume_role_policy=pod_identity_trust(
            args.account_id), opts=child)
        cluster_tag = f"aws:ResourceTag/kubernetes.io/cluster/{args.cluster_name}"
        request_tag = f"aws:RequestTag/kubernetes.io/cluster/{args.cluster_name}"

        def ec2(*kinds: str) -> list[pulumi.Output[str]]:
            return [pulumi.Output.format("arn:{0}:ec2:{1}:*:{2}/*", args.partition, args.region, kind)
                    for kind in kinds]

        launched = ec2("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
        policy = aws.iam.RolePolicy(f"{name}-karpenter", role=self.karpenter_role.id, policy=document(
            {"Sid": "LaunchScopedToCluster", "Effect": "Allow",
             "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
             "Resource": launched, "Condition": {"StringEquals": {request_tag: "owned"}}},
            {"Sid": "LaunchFromSharedResources", "Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
             "Resource": [*ec2("subnet", "security-group", "launch-template", "capacity-reservation",
                                "placement-group"),
                          pulumi.Output.format("arn:{0}:ec2:{1}::image/*", args.partition, args.region)]},
            {"Sid": "TagOnLaunch", "Effect": "Allow", "Action": "ec2:CreateTags",
             "Resource": launched,
             "Condition": {"StringEquals": {
                 request_tag: "owned", "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]}}},
            {"Sid": "TerminateOwnNodesOnly", "Effect": "Allow",
             "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
             "Resource": ec2("instance", "launch-template"), "Condition": {"StringEquals": {cluster_tag: "owned"}}},
            {"Sid": "Discover", "Effect": "Allow", "Resource": "*", "Action": [
                "ec2:DescribeAvailabilityZones", "ec2:DescribeImages", "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates",
                "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
                "ec2:DescribeCapacityReservations", "ec2:DescribePlacementGroups", "pricing:GetProducts"]},
            {"Sid": "AmiParameters", "Effect": "Allow", "Action": "ssm:GetParameter",
             "Resource": pulumi.Output.format("arn:{0}:ssm:{1}::parameter/aws/service/*", args.partition, args.region)},
            {"Sid": "PassNodeRole", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": self.karpenter_node_role.arn,
             "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
            {"Sid": "InstanceProfiles", "Effect": "Allow", "Resource": pulumi.Output.format(
                "arn:{0}:iam::{1}:instance-profile/*", args.partition, args.account_id), "Action": [
                "iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile"]},
            {"Sid": "InterruptionQueue", "Effect": "Allow", "Resource": queue.arn,
             "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]},
            {"Sid": "DescribeCluster", "Effect": "Allow", "Action": "eks:DescribeCluster",
             "Resource": self.cluster.arn},
        ), opts=child)
        binding = aws.eks.PodIdentityAssociation(f"{name}-karpenter", cluster_name=self.cluster.name,
                                                 namespace=KARPENTER_NAMESPACE,
                                                 service_account=KARPENTER_SERVICE_ACCOUNT,
                                                 role_arn=self.karpenter_role.arn, opts=child)
        self.karpenter_ready = [self.node_group, node_access, policy, binding]
