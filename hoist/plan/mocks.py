"""Realistic computed outputs for the resources hoist creates, for Pulumi's mock runtime.

Under ``preview=True`` computed outputs are left out, so they are unknown to every resource that
consumes them, as they are in a real ``pulumi preview`` of a new stack.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def _uuid(seed: str) -> str:
    h = _hex(seed, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Resource type -> (id prefix, ARN service, ARN resource form). "{id}" and "{name}" are filled in.
_EC2_IDS = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/flowLog:FlowLog": "fl",
}


STACK_REFERENCE = "pulumi:pulumi:StackReference"

_SAGEMAKER_ARN_KINDS = {"aws:sagemaker/model:Model": "model",
                        "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "endpoint-config"}


class StackMocks(pulumi.runtime.Mocks):
    """Computes the outputs AWS would return, deterministically from each resource's name."""

    def __init__(self, *, account_id: str, region: str, preview: bool,
                 stack_outputs: dict[str, dict[str, Any]] | None = None) -> None:
        self.account_id = account_id
        self.region = region
        self.preview = preview
        self.stack_outputs = stack_outputs or {}
        """Outputs of the stacks a StackReference may read, by fully qualified stack name."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ == STACK_REFERENCE:
            # Read, not created: its outputs exist in a preview too (the other stack is applied).
            name = str(inputs["name"])
            if name not in self.stack_outputs:
                raise KeyError(f"no recorded stack {name!r} for a StackReference; recorded: "
                               f"{', '.join(self.stack_outputs) or 'none'}")
            return name, {"name": name, "outputs": self.stack_outputs[name], "secretOutputNames": []}
        if self.preview:
            return None, inputs
        physical = self._physical_name(args.typ, args.name, inputs)
        resource_id, computed = self._computed(args.typ, args.name, physical, inputs)
        return resource_id, {**inputs, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        invokes = {
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": self.account_id, "arn": f"arn:aws:iam::{self.account_id}:user/ci",
                "userId": "AIDAEXAMPLE", "id": self.account_id},
            "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
            "aws:index/getRegion:getRegion": {"name": self.region, "region": self.region, "id": self.region},
        }
        if args.token not in invokes:
            raise NotImplementedError(f"no mock for invoke {args.token}")
        return invokes[args.token], []

    @staticmethod
    def _physical_name(typ: str, name: str, inputs: dict[str, Any]) -> str:
        for key in ("bucket", "name"):
            if isinstance(inputs.get(key), str):
                return str(inputs[key])
        # Pulumi auto-naming appends a random 7-character suffix.
        return f"{name}-{_hex(typ + name, 7)}"

    def _computed(self, typ: str, name: str, physical: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        acct, region = self.account_id, self.region
        if typ in _EC2_IDS:
            rid = f"{_EC2_IDS[typ]}-{_hex(typ + name, 17)}"
            arn = f"arn:aws:ec2:{region}:{acct}:{_EC2_IDS[typ]}/{rid}"
            computed = {"arn": arn, "ownerId": acct}
            if typ == "aws:ec2/vpcEndpoint:VpcEndpoint" and inputs.get("vpcEndpointType") == "Gateway":
                computed["prefixListId"] = f"pl-{_hex(typ + name, 8)}"
            return rid, computed
        if typ == "aws:s3/bucket:Bucket":
            return physical, {"bucket": physical, "arn": f"arn:aws:s3:::{physical}",
                              "bucketDomainName": f"{physical}.s3.amazonaws.com", "region": region}
        if typ == "aws:kms/key:Key":
            key_id = _uuid(name)
            return key_id, {"keyId": key_id, "arn": f"arn:aws:kms:{region}:{acct}:key/{key_id}"}
        if typ == "aws:kms/alias:Alias":
            return str(inputs["name"]), {"arn": f"arn:aws:kms:{region}:{acct}:{inputs['name']}"}
        if typ == "aws:ecr/repository:Repository":
            return physical, {"arn": f"arn:aws:ecr:{region}:{acct}:repository/{physical}",
                              "repositoryUrl": f"{acct}.dkr.ecr.{region}.amazonaws.com/{physical}",
                              "registryId": acct}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            return physical, {"arn": f"arn:aws:logs:{region}:{acct}:log-group:{physical}", "name": physical}
        if typ == "aws:iam/role:Role":
            return physical, {"arn": f"arn:aws:iam::{acct}:role/{physical}", "name": physical,
                              "uniqueId": f"AROA{_hex(name, 17).upper()}"}
        if typ == "aws:budgets/budget:Budget":
            return f"{acct}:{physical}", {"arn": f"arn:aws:budgets::{acct}:budget/{physical}"}
        if typ in _SAGEMAKER_ARN_KINDS:
            return physical, {"name": physical,
                              "arn": f"arn:aws:sagemaker:{region}:{acct}:{_SAGEMAKER_ARN_KINDS[typ]}/{physical}"}
        if typ == "aws:eks/cluster:Cluster":
            return physical, {"arn": f"arn:aws:eks:{region}:{acct}:cluster/{physical}",
                              "vpcConfig": {**dict(inputs.get("vpcConfig") or {}),
                                            "clusterSecurityGroupId": f"sg-{_hex(name + 'cluster-sg', 17)}"},
                              "endpoint": f"https://{_hex(name, 32).upper()}.gr7.{region}.eks.amazonaws.com",
                              "certificateAuthority": {"data": "LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t"},
                              "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/"
                                                                   f"{_hex(name, 32).upper()}"}]}]}
        if typ == "aws:codebuild/project:Project":
            return physical, {"arn": f"arn:aws:codebuild:{region}:{acct}:project/{physical}", "name": physical}
        if typ == "aws:sqs/queue:Queue":
            return f"https://sqs.{region}.amazonaws.com/{acct}/{physical}", {
                "arn": f"arn:aws:sqs:{region}:{acct}:{physical}",
                "url": f"https://sqs.{region}.amazonaws.com/{acct}/{physical}"}
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            return f"lt-{_hex(name, 17)}", {"arn": f"arn:aws:ec2:{region}:{acct}:launch-template/lt-{_hex(name, 17)}",
                                            "latestVersion": 1}
        if typ == "aws-native:sagemaker:EndpointConfig":
            return physical, {"endpointConfigName": physical,
                              "endpointConfigArn": f"arn:aws:sagemaker:{region}:{acct}:endpoint-config/{physical}"}
        if typ == "aws-native:sagemaker:Endpoint":
            endpoint = str(inputs["endpointName"])
            return endpoint, {"endpointArn": f"arn:aws:sagemaker:{region}:{acct}:endpoint/{endpoint}"}
        if typ == "aws:fsx/lustreFileSystem:LustreFileSystem":
            fs_id = f"fs-{_hex(name, 17)}"
            return fs_id, {"arn": f"arn:aws:fsx:{region}:{acct}:file-system/{fs_id}",
                           "dnsName": f"{fs_id}.fsx.{region}.amazonaws.com", "mountName": _hex(name + "mount", 8)}
        if typ.startswith("kubernetes:"):
            # Kubernetes objects are named by their metadata; ids are namespace/name.
            metadata = dict(inputs.get("metadata") or {})
            object_name = str(metadata.get("name") or inputs.get("name") or physical)
            namespace = metadata.get("namespace") or inputs.get("namespace")
            return f"{namespace}/{object_name}" if namespace else object_name, {
                "metadata": {**metadata, "name": object_name}}
        if typ.startswith("pulumi:providers:"):
            return _uuid(name), {}
        # Auto-named resources report the name they were given.
        return f"{physical}", {"arn": f"arn:aws:{typ.split(':')[1].split('/')[0]}:{region}:{acct}:{physical}",
                               "name": inputs.get("name", physical)}


def policy_document(raw: Any) -> dict[str, Any]:
    """A policy document from a resource input (JSON text or an already-decoded mapping)."""
    if isinstance(raw, str):
        decoded: dict[str, Any] = json.loads(raw)
        return decoded
    return dict(raw or {})
