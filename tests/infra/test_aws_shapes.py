"""Resource inputs checked against botocore's service models: the requests AWS would receive."""

from __future__ import annotations

import pytest

from infra import aws_shapes
from tests.conftest import planned
from tests.infra.aws_requests import TRANSLATORS, wire_numbers


def test_request_errors_reports_missing_unknown_wrong_type_and_enum() -> None:
    errors = aws_shapes.request_errors("ec2", "CreateVpcEndpoint", {
        "ServiceName": "com.amazonaws.us-east-1.s3", "VpcEndpointType": "Tunel", "Colour": "blue",
        "PrivateDnsEnabled": "yes"})
    text = "\n".join(errors)
    assert "Missing required parameter" in text and "VpcId" in text
    assert 'Unknown parameter in input: "Colour"' in text
    assert "PrivateDnsEnabled" in text and "valid types: <class 'bool'>" in text
    assert "CreateVpcEndpoint.VpcEndpointType: 'Tunel' is not one of" in text


def test_enum_membership_is_checked_where_param_validator_does_not() -> None:
    assert "ml.g5.xlarge" in aws_shapes.sagemaker_endpoint_instance_types()
    assert "ml.bogus.xlarge" not in aws_shapes.sagemaker_endpoint_instance_types()
    assert {"p5.48xlarge", "g6e.xlarge", "trn2.48xlarge"} <= aws_shapes.ec2_instance_types()


def test_every_resource_with_an_api_is_covered(stack: str) -> None:
    # Kubernetes objects are checked against the Kubernetes and CRD schemas (tests/infra/test_in_cluster.py).
    types = {r.type for r in planned(stack).resources if r.custom and not r.type.startswith(
        ("kubernetes:", "pulumi:providers:kubernetes"))}
    without_api = {"pulumi:providers:aws", "pulumi:providers:aws-native",
                   "aws:s3/bucket:Bucket", "aws:kms/alias:Alias", "aws:ec2/eip:Eip",
                   "aws:ec2/internetGateway:InternetGateway", "aws:ec2/natGateway:NatGateway",
                   "aws:ec2/routeTable:RouteTable", "aws:ec2/routeTableAssociation:RouteTableAssociation",
                   "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"}
    assert types - without_api <= set(TRANSLATORS), types - without_api - set(TRANSLATORS)


@pytest.mark.parametrize("stack_name", ["dev", "staging", "prod"])
def test_program_requests_match_the_aws_service_models(stack_name: str) -> None:
    checked = 0
    for resource in planned(stack_name).resources:
        translate = TRANSLATORS.get(resource.type)
        if translate is None:
            continue
        for service, operation, params in translate(resource):
            errors = aws_shapes.request_errors(service, operation, wire_numbers(params))
            assert errors == [], f"{resource.urn}: {service}.{operation}: {errors}"
            checked += 1
    assert checked > 40
