"""The catalog's AWS API rules: each row names an enforcement that exists, and each trips on a stack that breaks it."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib
import io
import types
import typing
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from pydantic import BaseModel

from hoist.jobs import sagemaker as sagemaker_jobs
from hoist.outputs import from_mapping
from hoist.plan.policies import evaluate
from hoist.plan.recording import PlannedResource
from hoist.release import capacity, invoke
from infra import catalog
from infra.config import StackConfig
from infra.stack_files import ConfigError, load_stack, parse
from policy.pack import POLICIES
from tests.conftest import planned
from tests.infra.test_config import SOURCE, _set, raw
from tests.policy.test_policies import mutate, set_input


def _model_field(model: type[BaseModel], dotted: str) -> bool:
    """Whether ``dotted`` names a field of ``model``, through nested (and optional) models."""
    head, _, rest = dotted.partition(".")
    info = model.model_fields.get(head)
    if info is None:
        return False
    if not rest:
        return True
    annotation = info.annotation
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    return any(isinstance(c, type) and issubclass(c, BaseModel) and _model_field(c, rest) for c in candidates)


def _enforcement_exists(enforced_by: str) -> bool:
    kind, _, target = enforced_by.partition(":")
    if kind == "config":
        return _model_field(StackConfig, target)
    if kind == "policy":
        return target in {p.name for p in POLICIES}
    if kind == "request":
        return importlib.util.find_spec(target) is not None
    return False


@pytest.mark.parametrize("rule", sorted(catalog.API_RULES))
def test_every_rule_is_quoted_dated_and_enforced_by_something_that_exists(rule: str) -> None:
    row = catalog.API_RULES[rule]
    assert row.url.startswith(("https://docs.aws.amazon.com/", "https://karpenter.sh/docs/"))
    assert len(row.quote) > 40 and row.read in (catalog.API_RULES_READ, catalog.COMPONENT_RULES_READ)
    assert _enforcement_exists(row.enforced_by), row.enforced_by


def test_a_made_up_enforcement_is_not_accepted() -> None:
    assert not _enforcement_exists("config:storage.no_such_field")
    assert not _enforcement_exists("config:endpoint.llm.no_such_field")
    assert not _enforcement_exists("policy:no-such-policy")
    assert not _enforcement_exists("request:hoist.jobs.no_such_module")
    assert not _enforcement_exists("assert:anything")


def _config_error(stack: str, path: str, value: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(_set(raw(stack), path, value), source=SOURCE)
    return str(caught.value)


def _trips(stack: str, typ: str, change: Callable[[PlannedResource], PlannedResource | None],
           name: str = "") -> set[str]:
    return evaluate(mutate(planned(stack), typ, change, name)).tripped()


def _node_entry_gets_a_policy() -> set[str]:
    plan = planned("staging")
    node_entry = next(r for r in plan.resources if r.type == "aws:eks/accessEntry:AccessEntry"
                      and "karpenter-node" in r.name)

    def retarget(resource: PlannedResource) -> PlannedResource:
        deps = {**resource.property_dependencies, "principalArn": (node_entry.urn,)}
        return dataclasses.replace(resource, property_dependencies=deps)

    return evaluate(mutate(plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", retarget,
                           "ci-preview")).tripped()


def _nvme_training_request_has_no_volume_key() -> bool:
    cfg = load_stack("dev")
    outputs = from_mapping(planned("dev").outputs, "offline")
    for instance_type, keyed in (("ml.g5.2xlarge", False), ("ml.c5.xlarge", True)):
        jobs = cfg.training_jobs.model_copy(update={"instance_type": instance_type})
        params = sagemaker_jobs.submit("dev", cfg.model_copy(update={"training_jobs": jobs}), outputs,
                                       "gpu_single_node", [], dry_run=True,
                                       now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)).params
        if ("VolumeKmsKeyId" in params["ResourceConfig"]) is not keyed:
            return False
    return True


def _invoke_retries_only_the_no_copy_refusal() -> set[str]:
    """Which refusals ``hoist invoke``'s wait retries (a botocore Stubber answers, then the call succeeds)."""
    retried = set()
    for code, message in (("ValidationError", "Inference Component has no capacity to process this request. "
                                              "ApplicationAutoScaling may be in-progress (if configured)"),
                          ("ValidationError", "Endpoint hoist-dev not found."), ("ModelError", "no capacity")):
        client = boto3.client("sagemaker-runtime", region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="x")
        stub = Stubber(client)
        stub.add_client_error("invoke_endpoint", code, message, 400)
        stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"{}"), 2)})
        wait = capacity.CapacityWait("reference", 60, say=lambda line: None, sleep=lambda s: None,
                                     clock=lambda: 0.0)
        with stub, contextlib.suppress(ClientError):
            invoke.invoke(client, "hoist-dev", b"{}", "application/json", "application/json", "ic", wait)
            retried.add(message)
    return retried


TRIPS: dict[str, Callable[[], None]] = {
    "kms-deletion-window": lambda: _expect("kms_deletion_window_days",
                                           _config_error("dev", "storage.kms_deletion_window_days", 5)),
    "training-max-runtime": lambda: _expect("max_runtime_hours",
                                            _config_error("dev", "training_jobs.max_runtime_hours", 700)),
    "training-spot-max-wait": lambda: _expect("max_wait_hours", _config_error(
        "dev", "training_jobs", {**raw("dev").get("training_jobs", {}), "spot": True, "max_runtime_hours": 10,
                                 "max_wait_hours": 5})),
    "endpoint-startup-timeout": lambda: _expect("startup_health_check_timeout_s", _config_error(
        "prod", "endpoint.startup_health_check_timeout_s", 30)),
    # A 2 TB LLM cannot be copied onto the instance within SageMaker's longest download timeout.
    "endpoint-model-download-timeout": lambda: _expect("at most 3600 s", _config_error("prod", "endpoint", {
        **raw("prod")["endpoint"], "engine": "vllm", "model_key": "runs/llm/", "instance_type": "ml.g5.12xlarge",
        "llm": {"model_gb": 2000}})),
    "endpoint-kms-local-nvme": lambda: _expect_set({"sagemaker-endpoint-kms"}, _trips(
        "prod", "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        set_input("kmsKeyArn", "arn:aws:kms:us-east-1:777788889999:key/k"))),
    "job-volume-kms-local-nvme": lambda: _expect_set({True}, {_nvme_training_request_has_no_volume_key()}),
    "eks-access-entry-once": lambda: _expect("named twice", _config_error(
        "staging", "cluster.ci_deploy_role_arn", raw("staging")["cluster"]["ci_preview_role_arn"])),
    "eks-access-entry-no-session": lambda: _expect("is not an IAM role ARN", _config_error(
        "dev", "cluster.admin_role_arns", ["arn:aws:sts::111122223333:assumed-role/admin/alice"])),
    # The deploy role creates the cluster on the cloud path: a bootstrap entry would duplicate its own.
    "eks-no-creator-bootstrap": lambda: _expect_set({"eks-explicit-access-only"}, _trips(
        "prod", "aws:eks/cluster:Cluster", set_input("accessConfig.bootstrapClusterCreatorAdminPermissions", True))),
    "eks-node-entry-no-policy": lambda: _expect_set({"eks-node-access-entries"}, _node_entry_gets_a_policy()),
    "karpenter-pool-limits": lambda: _expect_set({"gpu-pool-limit"}, _trips(
        "staging", "kubernetes:karpenter.sh/v1:NodePool", set_input("spec.limits", {}))),
    "scale-to-zero-needs-components": lambda: _expect("min_instances", _config_error(
        "prod", "endpoint.min_instances", 0)),
    "scale-from-zero-step-policy": lambda: _expect_set({"sagemaker-scale-from-zero"}, _trips(
        "dev", "aws:appautoscaling/policy:Policy", set_input("policyType", "TargetTrackingScaling"),
        "reference-int8-from-zero")),
    "component-artifact-tar-gz": lambda: _expect_set({"sagemaker-inference-component"}, _trips(
        "dev", "aws-native:sagemaker:InferenceComponent",
        set_input("specification.container.artifactUrl", "s3://hoist-dev-models/runs/reference/"), "reference")),
    "component-rolling-batch": lambda: _expect("rollout_batch_percent", _config_error(
        "dev", "inference_components.rollout_batch_percent", 100)),
    # A branch filter on the deploy runner's webhook would look like a guard and restrict nothing.
    "codebuild-workflow-job-filters": lambda: _expect_set({"ci-runner-webhook-filtered"}, _trips(
        "prod", "aws:codebuild/webhook:Webhook", set_input("filterGroups.0.filters", [
            {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}, {"type": "WORKFLOW_NAME", "pattern": "^deploy$"},
            {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]))),
    "invoke-at-zero-copies": lambda: _expect_set(
        {"Inference Component has no capacity to process this request. ApplicationAutoScaling may be in-progress "
         "(if configured)"}, _invoke_retries_only_the_no_copy_refusal()),
    "sagemaker-hosting-two-azs": lambda: _expect("at least 2 availability zones", _config_error(
        "dev", "network.availability_zones", ["us-east-1a"])),
}


def _expect(phrase: str, message: str) -> None:
    assert "\n" not in message and phrase in message, message


def _expect_set(expected: set[Any], found: set[Any]) -> None:
    assert found == expected


def test_every_rule_has_a_tripping_test() -> None:
    assert set(TRIPS) == set(catalog.API_RULES)


@pytest.mark.parametrize("rule", sorted(TRIPS))
def test_breaking_the_rule_is_refused(rule: str) -> None:
    TRIPS[rule]()

