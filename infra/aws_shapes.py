"""Offline checks against botocore's bundled AWS service models.

botocore ships the request shapes of every AWS API, so an instance type, a region or a whole
request can be checked without credentials or a network. ``ParamValidator`` reports missing and
unknown members, wrong types and out-of-range numbers, but not enum membership, so enums are
checked here explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.validate import ParamValidator


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def enum_values(service: str, shape_name: str) -> frozenset[str]:
    """The allowed values of an enum shape, e.g. ``("ec2", "InstanceType")``."""
    shape = _session().get_service_model(service).shape_for(shape_name)
    return frozenset(shape.enum)


def ec2_instance_types() -> frozenset[str]:
    return enum_values("ec2", "InstanceType")


def sagemaker_endpoint_instance_types() -> frozenset[str]:
    return enum_values("sagemaker", "ProductionVariantInstanceType")


def sagemaker_training_instance_types() -> frozenset[str]:
    return enum_values("sagemaker", "TrainingInstanceType")


@cache
def aws_regions() -> frozenset[str]:
    """Commercial-partition regions known to this botocore release."""
    endpoints = _session().get_data("endpoints")
    for partition in endpoints["partitions"]:
        if partition["partition"] == "aws":
            return frozenset(partition["regions"])
    raise RuntimeError("botocore endpoints data has no 'aws' partition")


def operation(service: str, name: str) -> OperationModel:
    return _session().get_service_model(service).operation_model(name)


def _enum_errors(value: Any, shape: Shape, path: str) -> list[str]:
    errors: list[str] = []
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        for key, member in shape.members.items():
            if key in value:
                errors += _enum_errors(value[key], member, f"{path}.{key}")
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for i, item in enumerate(value):
            errors += _enum_errors(item, shape.member, f"{path}[{i}]")
    elif isinstance(shape, MapShape) and isinstance(value, Mapping):
        for key, item in value.items():
            errors += _enum_errors(item, shape.value, f"{path}.{key}")
    elif getattr(shape, "enum", None) and isinstance(value, str) and value not in shape.enum:
        errors.append(f"{path}: {value!r} is not one of {shape.name}'s {len(shape.enum)} values")
    return errors


def request_errors(service: str, operation_name: str, params: Mapping[str, Any]) -> list[str]:
    """Every way ``params`` would be rejected by ``service.operation_name``, as readable lines.

    Empty when the request is well formed, including enum membership.
    """
    shape = operation(service, operation_name).input_shape
    assert shape is not None, f"{service}.{operation_name} takes no input"
    report = ParamValidator().validate(dict(params), shape)
    errors = [line.strip() for line in report.generate_report().splitlines() if line.strip()]
    errors = [e for e in errors if not e.startswith("Parameter validation failed")]
    return errors + _enum_errors(params, shape, operation_name)
