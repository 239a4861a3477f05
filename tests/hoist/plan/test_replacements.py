"""The create-only mapping is CloudFormation's data, written in pulumi-aws's names: checked both ways
against pulumi-aws-native's SDK (and botocore for FSx), and complete for every type hoist creates."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from typing import Any

import botocore.session
import pulumi_aws
import pulumi_aws_native
import pytest

from hoist.plan import replacements
from hoist.plan.replacements import CREATE_ONLY
from infra import program
from infra.stack_files import PROJECT_ROOT
from tests.conftest import STACKS, planned

_REPLACE_ON_CHANGES = re.compile(r"replace_on_changes=(\[.*?\])\)")


def _native_class(token: str) -> type:
    _, module, name = token.split(":")
    cls: type = getattr(importlib.import_module(f"pulumi_aws_native.{module}"), name)
    return cls


def native_create_only(token: str) -> set[str]:
    """The create-only properties pulumi-aws-native's generated constructor passes as replace_on_changes."""
    source = inspect.getsource(_native_class(token)._internal_init)  # type: ignore[attr-defined]
    match = _REPLACE_ON_CHANGES.search(source)
    return set(json.loads(match.group(1))) if match else set()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def pulumi_aws_inputs(token: str) -> set[str]:
    """The inputs pulumi-aws's resource takes, in the camelCase the engine sees."""
    module, name = token.split(":")[1].split("/")[0], token.split(":")[2]
    cls = getattr(importlib.import_module(f"pulumi_aws.{module}"), name)
    parameters = inspect.signature(cls._internal_init).parameters
    return {_camel(p) for p in parameters if p not in ("self", "resource_name", "opts") and not p.startswith("_")}


def created_types() -> set[str]:
    """Every pulumi-aws and aws-native resource type infra/ constructs, conditional ones included
    (read from the source), plus those the three stacks record."""
    found = set()
    for path in (PROJECT_ROOT / "infra").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            chain = ast.unparse(node.func).split(".")
            if len(chain) == 3 and chain[0] in ("aws", "aws_native") and chain[2][:1].isupper():
                package = pulumi_aws if chain[0] == "aws" else pulumi_aws_native
                cls = getattr(getattr(package, chain[1]), chain[2])
                if hasattr(cls, "pulumi_type") and not chain[2].endswith("Args") and chain[2] != "Provider":
                    found.add(str(cls.pulumi_type))
    for stack in STACKS:
        found |= {r.type for r in planned(stack).resources if r.custom and r.type.startswith(("aws:", "aws-native:"))}
    return found


def test_every_aws_type_hoist_creates_has_create_only_data() -> None:
    types = created_types()
    assert "aws:eks/accessPolicyAssociation:AccessPolicyAssociation" in types  # created only with admin roles
    assert "aws:fsx/lustreFileSystem:LustreFileSystem" in types and "aws-native:sagemaker:Endpoint" in types
    missing = sorted(types - set(CREATE_ONLY))
    assert not missing, f"add these types to hoist/plan/replacements.py CREATE_ONLY: {missing}"


def test_the_data_holding_types_are_classified() -> None:
    holding = {t for t, entry in CREATE_ONLY.items() if entry.holds}
    assert all(CREATE_ONLY[t].label for t in holding)
    assert {"aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:fsx/lustreFileSystem:LustreFileSystem",
            "aws:ecr/repository:Repository", "aws:eks/cluster:Cluster", "aws:cloudwatch/logGroup:LogGroup"} == holding
    # What the program protects in protected stacks holds data here too.
    assert holding >= program.STATEFUL_TYPES


NATIVE_SOURCED = sorted(t for t, entry in CREATE_ONLY.items() if entry.source.startswith("aws-native:"))


@pytest.mark.parametrize("resource_type", NATIVE_SOURCED)
def test_each_entry_accounts_for_every_create_only_property_of_its_source(resource_type: str) -> None:
    entry = CREATE_ONLY[resource_type]
    accounted = set(entry.properties.values()) | set(entry.unmatched)
    assert accounted == native_create_only(entry.source), resource_type
    assert not set(entry.properties.values()) & set(entry.unmatched)


@pytest.mark.parametrize("resource_type", sorted(t for t in CREATE_ONLY if t.startswith("aws:")))
def test_each_mapped_input_is_an_input_of_the_pulumi_aws_resource(resource_type: str) -> None:
    entry = CREATE_ONLY[resource_type]
    inputs = pulumi_aws_inputs(resource_type)
    paths = {*entry.properties, *entry.immutable, *entry.one_way, *([entry.name] if entry.name else [])}
    assert {p.split(".")[0] for p in paths} <= inputs, resource_type


def test_the_kms_keys_immutable_inputs_are_documented_so_by_aws_native() -> None:
    source = inspect.getsource(pulumi_aws_native.kms.Key)
    immutable = CREATE_ONLY["aws:kms/key:Key"].immutable
    assert immutable and all(sentence in source for sentence in immutable.values())


OTHER_FILE_SYSTEMS = {"WindowsConfiguration", "OntapConfiguration", "OpenZFSConfiguration"}


def _lustre_members(shape: Any) -> set[str]:
    """A request's members that concern a Lustre file system, with LustreConfiguration's flattened."""
    found = set()
    for name, member in shape.members.items():
        if name == "LustreConfiguration":
            found |= {f"{name}.{sub}" for sub in member.members}
        elif name not in OTHER_FILE_SYSTEMS | {"ClientRequestToken", "FileSystemId"}:
            found.add(name)
    return found


def test_the_lustre_entry_is_what_fsx_can_create_but_not_update() -> None:
    model = botocore.session.get_session().get_service_model("fsx")
    create = _lustre_members(model.operation_model("CreateFileSystem").input_shape)
    update = _lustre_members(model.operation_model("UpdateFileSystem").input_shape)
    entry = CREATE_ONLY["aws:fsx/lustreFileSystem:LustreFileSystem"]
    assert set(entry.properties.values()) | set(entry.unmatched) == create - update
    assert "storageCapacity" in entry.one_way  # in UpdateFileSystem, but only upwards


def test_replacing_names_the_create_only_input_and_its_source() -> None:
    reasons = replacements.replacing("aws:ecr/repository:Repository",
                                     {"name": "hoist/training", "encryptionConfigurations": [{"kmsKey": "a"}]},
                                     {"name": "hoist/training", "encryptionConfigurations": [{"kmsKey": "b"}]})
    assert [(r.path, r.because) for r in reasons] == [
        ("encryptionConfigurations", "create-only `encryptionConfiguration` of aws-native:ecr:Repository")]
    assert replacements.replacing("aws:ecr/repository:Repository", {"imageTagMutability": "MUTABLE"},
                                  {"imageTagMutability": "IMMUTABLE"}) == []
    nested = replacements.replacing("aws:eks/cluster:Cluster",
                                    {"accessConfig": {"authenticationMode": "API",
                                                      "bootstrapClusterCreatorAdminPermissions": False}},
                                    {"accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP",
                                                      "bootstrapClusterCreatorAdminPermissions": False}})
    assert nested == []


def test_lustre_capacity_grows_in_place_and_shrinks_by_replacement() -> None:
    lustre = "aws:fsx/lustreFileSystem:LustreFileSystem"
    assert replacements.replacing(lustre, {"storageCapacity": 1200}, {"storageCapacity": 2400}) == []
    assert [r.path for r in replacements.replacing(lustre, {"storageCapacity": 2400}, {"storageCapacity": 1200})] == [
        "storageCapacity"]
    assert [r.path for r in replacements.replacing(lustre, {"fileSystemTypeVersion": "2.15"},
                                                   {"fileSystemTypeVersion": "2.12"})] == ["fileSystemTypeVersion"]
