"""CiRunners: CodeBuild-hosted GitHub Actions runners inside the VPC, from which CI reaches the
cluster's private API (the in-cluster side's preview, apply and teardown).

Per stack two CodeBuild projects: the deploy runner and the preview runner, so a pull request's
preview never queues on the machine deploys run on. A runner's service role is no credential for the
work: it may only do what CodeBuild needs to run a VPC build (its interfaces in the private subnets,
its log group, the stack key, the GitHub connection's token). Each job gets its AWS identity as the
hosted jobs do, by GitHub OIDC: the stack's deploy role (trusted for the GitHub environment, so
reviewers and deployment branches gate it) or its preview role, which hold the cluster's access
entries (cluster.py) and the state backend. Both runners run in the private subnets behind a
security group that allows HTTPS out and nothing in, encrypt their logs and artifacts with the
stack's key, and never run privileged. Each webhook accepts only ``workflow_job`` events of the
named workflows of this repository (the connection's repository): CodeBuild's HEAD_REF filter does
not apply to those events, so a branch's own workflow named ``deploy`` still lands on the deploy
runner, and finds there a role that reaches nothing (README, "First apply from an empty account").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra import catalog
from infra.components.iam import document
from infra.config import CiRunnerConfig

RunnerKind = Literal["deploy", "preview"]
WORKFLOWS: dict[RunnerKind, tuple[str, ...]] = {
    # A called workflow's jobs are queued under its caller's name (deploy calls deploy-stack).
    "deploy": ("deploy", "deploy-stack", "teardown"),
    "preview": ("preview", "drift"),
}
"""The workflows (their `name:`) whose jobs each runner takes; tests/workflows holds the files to it."""
BUILD_TIMEOUT_MINUTES = 120


def runner_project(stack: str, kind: RunnerKind) -> str:
    """The CodeBuild project of a stack's runner; a workflow job asks for it with
    ``runs-on: codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}``."""
    return f"hoist-{stack}-{kind}-runner"


def runs_on(stack: str, kind: RunnerKind) -> str:
    return f"codebuild-{runner_project(stack, kind)}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"


def workflow_pattern(kind: RunnerKind) -> str:
    return f"^({'|'.join(WORKFLOWS[kind])})$"


@dataclass(frozen=True, kw_only=True)
class CiRunnersArgs:
    config: CiRunnerConfig
    stack: str
    cluster_security_group_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]
    log_retention_days: int
    account_id: pulumi.Input[str]
    region: str
    partition: pulumi.Input[str]


class CiRunners(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    projects: dict[RunnerKind, aws.codebuild.Project]
    roles: dict[RunnerKind, aws.iam.Role]

    def __init__(self, name: str, args: CiRunnersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # (A type of `hoist:runner:...` would print as an emoji in rich tables.)
        super().__init__("hoist:ci_runners:CiRunners", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-runner", description="CI runners: HTTPS out (GitHub, the EKS API, AWS APIs), nothing in",
            vpc_id=args.vpc_id, ingress=[],
            egress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"],
                     "description": "HTTPS: GitHub, chart registries, the cluster API, AWS APIs"}],
            opts=child)
        # The private endpoint's ENIs carry the cluster security group, which admits only itself.
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-runner-to-api", security_group_id=args.cluster_security_group_id,
            referenced_security_group_id=self.security_group.id, ip_protocol="tcp", from_port=443, to_port=443,
            description="The CI runners reach the private Kubernetes API", opts=child)
        self.projects, self.roles = {}, {}
        for kind in ("deploy", "preview"):
            self._runner(name, kind, args, child)
        self.register_outputs({kind: project.name for kind, project in self.projects.items()})

    def _runner(self, name: str, kind: RunnerKind, args: CiRunnersArgs, child: pulumi.ResourceOptions) -> None:
        project_name = runner_project(args.stack, kind)
        logs = aws.cloudwatch.LogGroup(f"{name}-{kind}-runner", name=f"/aws/codebuild/{project_name}",
                                       retention_in_days=args.log_retention_days, kms_key_id=args.kms_key_arn,
                                       opts=child)
        role = aws.iam.Role(f"{name}-{kind}-runner", assume_role_policy=document({
            "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole",
            # Only this account's projects may assume it (the confused-deputy guard CodeBuild documents).
            "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}}}), opts=child)
        aws.iam.RolePolicy(f"{name}-{kind}-runner", role=role.id,
                           policy=document(*runner_statements(args, logs.arn)), opts=child)
        project = aws.codebuild.Project(
            f"{name}-{kind}-runner", name=project_name,
            description=f"GitHub Actions runner in the VPC of stack {args.stack}: the in-cluster side's {kind}",
            service_role=role.arn, build_timeout=BUILD_TIMEOUT_MINUTES, queued_timeout=60,
            source={"type": "GITHUB", "location": args.config.repository_url, "git_clone_depth": 1,
                    "auth": {"type": "CODECONNECTIONS", "resource": args.config.connection_arn}},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "compute_type": args.config.compute_type,
                         "image": catalog.CODEBUILD_RUNNER_IMAGE.value, "image_pull_credentials_type": "CODEBUILD",
                         "privileged_mode": False},
            vpc_config={"vpc_id": args.vpc_id, "subnets": args.private_subnet_ids,
                        "security_group_ids": [self.security_group.id]},
            encryption_key=args.kms_key_arn,
            logs_config={"cloudwatch_logs": {"status": "ENABLED", "group_name": logs.name},
                         "s3_logs": {"status": "DISABLED"}},
            opts=child)
        aws.codebuild.Webhook(f"{name}-{kind}-runner", project_name=project.name, build_type="BUILD",
                              filter_groups=[{"filters": [
                                  {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"},
                                  {"type": "WORKFLOW_NAME", "pattern": workflow_pattern(kind)}]}],
                              opts=child)
        self.projects[kind], self.roles[kind] = project, role


def runner_statements(args: CiRunnersArgs, log_group_arn: pulumi.Input[str]) -> list[dict[str, object]]:
    """What CodeBuild itself needs to run a runner in the VPC, and nothing a job could use on the stack:
    the job's own identity comes from GitHub OIDC (the stack's CI roles)."""
    connection = args.config.connection_arn
    service = connection.split(":")[2]
    subnets = [pulumi.Output.format("arn:{0}:ec2:{1}:{2}:subnet/{3}", args.partition, args.region, args.account_id,
                                    subnet) for subnet in args.private_subnet_ids]
    return [
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": pulumi.Output.format("{0}:*", log_group_arn)},
        # CodeBuild's "Allow CodeBuild access to AWS services required to create a VPC network interface"
        # (auth-and-access-control-iam-identity-based-access-control.html): these describes and the
        # interface's create and delete on "*", the permission on interfaces in the named subnets only.
        {"Sid": "VpcDescribe", "Effect": "Allow", "Resource": "*", "Action": [
            "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeDhcpOptions",
            "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
            "ec2:DescribeVpcs"]},
        {"Sid": "VpcInterfaces", "Effect": "Allow", "Action": "ec2:CreateNetworkInterfacePermission",
         "Resource": pulumi.Output.format("arn:{0}:ec2:{1}:{2}:network-interface/*", args.partition, args.region,
                                          args.account_id),
         "Condition": {"StringEquals": {"ec2:Subnet": subnets, "ec2:AuthorizedService": "codebuild.amazonaws.com"}}},
        # "GitHub App connections" (connections-github-app.html), step 2: the two actions, on the connection.
        {"Sid": "GitHubConnection", "Effect": "Allow", "Resource": connection,
         "Action": [f"{service}:GetConnectionToken", f"{service}:GetConnection"]},
        {"Sid": "StackKey", "Effect": "Allow", "Resource": args.kms_key_arn,
         "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]},
    ]
