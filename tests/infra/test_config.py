"""Stack config: the three stack files parse, and bad values fail with one precise line."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import StackConfig
from infra.stack_files import ConfigError, load_stack, parse, read_stack_file, stack_file
from tests.conftest import STACKS

SOURCE = "stacks/Pulumi.test.yaml"


def raw(stack: str) -> dict[str, Any]:
    return read_stack_file(stack_file(stack))


@pytest.mark.parametrize("name", STACKS)
def test_stack_files_parse(name: str) -> None:
    cfg = load_stack(name)
    assert isinstance(cfg, StackConfig)
    assert cfg.environment == name


def test_stacks_differ_in_size_and_protection() -> None:
    dev, staging, prod = (load_stack(s) for s in STACKS)
    assert len(dev.network.availability_zones) == 2 and dev.network.nat_gateways == "single"
    assert len(prod.network.availability_zones) >= 3 and prod.network.nat_gateways == "per_az"
    assert prod.protect_stateful and not dev.protect_stateful
    assert dev.storage.force_destroy and not prod.storage.force_destroy
    assert dev.budget.monthly_limit_usd < staging.budget.monthly_limit_usd < prod.budget.monthly_limit_usd


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``document`` with ``path`` (dotted) set to ``value``, or deleted when value is DELETE."""
    result = copy.deepcopy(document)
    node = result
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return result


DELETE = object()

# (id, base stack, dotted key, new value, the key the error must name, a phrase saying what is allowed)
INVALID: list[tuple[str, str, str, Any, str, str]] = [
    ("unknown top-level key", "dev", "regoin", "us-east-1", "hoist:regoin", "allowed keys here"),
    ("unknown nested key", "dev", "network.cidrr", "10.0.0.0/16", "hoist:network.cidrr", "allowed keys here"),
    ("typo'd instance type", "dev", "gpu_pools.a10g-spot.instance_types", ["g5.xlarg"],
     "hoist:gpu_pools.a10g-spot.instance_types", "not an EC2 instance type"),
    ("CPU type in a GPU pool", "dev", "gpu_pools.a10g-spot.instance_types", ["m6i.large"],
     "hoist:gpu_pools.a10g-spot.instance_types", "allowed: g5.12xlarge"),
    ("zero GPUs", "dev", "gpu_pools.a10g-spot.max_gpus", 0, "hoist:gpu_pools.a10g-spot.max_gpus",
     "greater than or equal to 1"),
    ("negative budget", "dev", "budget.monthly_limit_usd", -5, "hoist:budget.monthly_limit_usd", "greater than 0"),
    ("too few AZs for prod", "prod", "network.availability_zones", ["us-east-1a", "us-east-1b"],
     "hoist:network.availability_zones", "at least 3"),
    ("invalid CIDR", "dev", "network.cidr", "10.0.0.0/33", "hoist:network.cidr", "expected e.g. 10.0.0.0/16"),
    ("public CIDR", "dev", "network.cidr", "8.8.0.0/16", "hoist:network.cidr", "private (RFC 1918)"),
    ("CIDR too small", "dev", "network.cidr", "10.0.0.0/24", "hoist:network.cidr", "/16 to /20"),
    ("missing account id", "dev", "allowed_account_ids", DELETE, "hoist:allowed_account_ids", "required"),
    ("malformed account id", "dev", "allowed_account_ids", ["12345"], "hoist:allowed_account_ids.0", "12-digit"),
    ("AZ outside the region", "dev", "network.availability_zones", ["us-east-1a", "eu-west-1b"],
     "hoist:network.availability_zones", "not an AZ of region us-east-1"),
    ("unknown region", "dev", "region", "us-east-9", "hoist:region", "e.g. us-east-1"),
    ("retention not allowed by CloudWatch", "dev", "network.flow_log_retention_days", 10,
     "hoist:network.flow_log_retention_days", "CloudWatch retention value"),
    ("force_destroy outside dev", "staging", "storage.force_destroy", True, "hoist:storage.force_destroy",
     "only in dev"),
    ("single NAT in prod", "prod", "network.nat_gateways", "single", "hoist:network.nat_gateways", "'per_az'"),
    ("unprotected prod", "prod", "protect_stateful", False, "hoist:protect_stateful", "set true"),
    ("bad alert e-mail", "dev", "budget.alert_emails", ["ops"], "hoist:budget.alert_emails.0", "e-mail address"),
    ("EFA on instances without EFA", "dev", "gpu_pools.a10g-spot.efa", True, "hoist:gpu_pools.a10g-spot",
     "has no EFA interface"),
    ("duplicate AZs", "dev", "network.availability_zones", ["us-east-1a", "us-east-1a"],
     "hoist:network.availability_zones", "distinct"),
    ("upper-case pool name", "dev", "gpu_pools.A10G", {"instance_types": ["g5.xlarge"]}, "hoist:gpu_pools",
     "lower-case"),
    ("KMS deletion window too short", "dev", "storage.kms_deletion_window_days", 3,
     "hoist:storage.kms_deletion_window_days", "greater than or equal to 7"),
    ("unknown NAT mode", "dev", "network.nat_gateways", "two", "hoist:network.nat_gateways", "'single' or 'per_az'"),
    ("wrong type", "dev", "budget.alert_threshold_percent", "lots", "hoist:budget.alert_threshold_percent",
     "valid integer"),
    ("endpoint model given as a URI", "prod", "endpoint.model_key", "s3://bucket/m/model.tar.gz",
     "hoist:endpoint.model_key", "no s3://"),
    ("unknown hosting instance type", "prod", "endpoint.instance_type", "ml.c5.xlarg", "hoist:endpoint.instance_type",
     "SageMaker hosting instance type"),
    ("one endpoint instance in prod", "prod", "endpoint.min_instances", 1, "hoist:endpoint.min_instances",
     "at least 2 instances"),
    ("direct deploys to prod", "prod", "endpoint.allow_apply", True, "hoist:endpoint.allow_apply", "only dev"),
    ("no data capture in prod", "prod", "endpoint.data_capture_percent", 0, "hoist:endpoint.data_capture_percent",
     "capture traffic"),
    ("endpoint without a serving image", "prod", "images.serving", DELETE, "hoist:images.serving",
     "needs the serving image's digest"),
    ("vLLM endpoint without its image", "staging", "images.llm", DELETE, "hoist:images.llm",
     "needs the LLM serving image's digest"),
    ("an LLM that does not fit its GPUs", "staging", "endpoint.llm.max_num_seqs", 16, "hoist:endpoint.llm",
     "does not fit ml.g5.2xlarge: needs 24.7 GB (weights 16.07 GB + KV cache 8.6 GB), 1 GPU(s) give 21.6 GB"),
    ("a tag instead of a digest", "dev", "images.training", "latest", "hoist:images.training", "sha256:"),
    ("autoscaling bounds reversed", "prod", "endpoint.max_instances", 0, "hoist:endpoint.max_instances",
     "greater than or equal to 1"),
    ("on-demand GPUs in dev", "dev", "gpu_pools.a10g-spot.capacity_type", "on-demand",
     "hoist:gpu_pools.a10g-spot.capacity_type", "allow_on_demand_gpus"),
    ("a GPU type the stack does not allow", "prod", "gpu_pools.a10g-spot.instance_types", ["g6e.12xlarge"],
     "hoist:gpu_pools.a10g-spot.instance_types", "cluster.allowed_gpu_instance_types"),
    ("reserved pool without reservations", "staging", "gpu_pools.a10g.capacity_type", "reserved",
     "hoist:gpu_pools.a10g", "needs capacity_reservation_ids"),
    ("malformed capacity reservation", "prod", "gpu_pools.h100-efa.capacity_reservation_ids", ["cr-zz"],
     "hoist:gpu_pools.h100-efa.capacity_reservation_ids", "capacity reservation id"),
    ("EFA pool in an AZ the stack lacks", "prod", "gpu_pools.h100-efa.availability_zone", "us-east-1f",
     "hoist:gpu_pools.h100-efa.availability_zone", "us-east-1a, us-east-1b, us-east-1c"),
    ("GPU limit below one node", "prod", "gpu_pools.h100-efa.max_gpus", 4, "hoist:gpu_pools.h100-efa.max_gpus",
     "fewer than one node's 8 GPUs"),
    ("Lustre capacity off the steps", "prod", "cluster.fsx.storage_gib", 3000, "hoist:cluster.fsx.storage_gib",
     "multiple of 2400"),
    ("Lustre prefix escaping the bucket", "prod", "cluster.fsx.import_prefix", "../other/",
     "hoist:cluster.fsx.import_prefix", "ending in '/'"),
    ("unknown FSx setting", "prod", "cluster.fsx.size", 1200, "hoist:cluster.fsx.size",
     "storage_gib, throughput_mb_s_per_tib"),
]


@pytest.mark.parametrize(("case", "base", "path", "value", "key", "allowed"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_config_is_one_precise_line(case: str, base: str, path: str, value: Any, key: str,
                                            allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_set(raw(base), path, value), source=SOURCE)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{SOURCE}: {key}")
    assert allowed in message
    if value is not DELETE and not key.endswith(("regoin", "cidrr", "fsx.size")) and "pool name" not in case:
        # A bad list element is named by its index and shown alone.
        shown = value[int(key.rsplit(".", 1)[1])] if key.rsplit(".", 1)[-1].isdigit() else value
        assert json.dumps(shown) in message or repr(shown) in message or str(shown) in message


def test_pulumi_runtime_config_is_validated_the_same_way() -> None:
    from infra.stack_files import from_pulumi_config

    values = {f"hoist:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw("prod").items()}
    assert from_pulumi_config(values, "prod") == load_stack("prod")
    values["hoist:network"] = json.dumps({"cidr": "10.0.0.0/8"})
    with pytest.raises(ConfigError, match=r"^stacks/Pulumi.prod.yaml: hoist:network.cidr"):
        from_pulumi_config(values, "prod")


def _hoist(args: list[str], stacks_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOIST_STACKS_DIR": str(stacks_dir)}
    return subprocess.run([sys.executable, "-m", "hoist.cli", *args], capture_output=True, text=True, env=env,
                          check=False, timeout=120)


def test_cli_reports_a_bad_stack_file_in_one_line(tmp_path: Path) -> None:
    document = yaml.safe_load(stack_file("dev").read_text())
    document["config"]["hoist:network"]["cidr"] = "10.0.0.0/33"
    (tmp_path / "Pulumi.broken.yaml").write_text(yaml.safe_dump(document))
    result = _hoist(["plan", "--stack", "broken"], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Pulumi.broken.yaml: hoist:network.cidr = \"10.0.0.0/33\"" in lines[0]


def test_cli_names_the_stacks_that_exist(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.alpha.yaml").write_text("config: {}\n")
    result = _hoist(["plan", "--stack", "nope"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "hoist: error: unknown stack 'nope'; available: alpha"


@pytest.mark.parametrize(("path", "value", "phrase"), [
    ("ci_runner.connection_arn", "arn:aws:codestar:us-east-1:777788889999:connection/x",
     "is not a CodeConnections connection ARN"),
    ("ci_runner.connection_arn", "arn:aws:codeconnections:us-east-1:123456789012:connection/"
     "6754af96-32a2-745e-85c2-93e5aac08633", "the connection is in account 123456789012"),
    ("ci_runner.repository_url", "git@github.com:example-org/hoist.git", "is not a GitHub repository URL"),
    # The runners hold no state access any more: the CI roles the jobs assume do.
    ("ci_runner.state_bucket", "example-org-pulumi-state-prod", "ci_runner.state_bucket"),
    ("ci_runner.compute_type", "BUILD_GENERAL1_2XLARGE", "ci_runner.compute_type"),
])
def test_a_bad_runner_setting_is_one_line_naming_it(path: str, value: Any, phrase: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_set(raw("prod"), path, value), source=SOURCE)
    message = str(caught.value)
    assert "\n" not in message and phrase in message and "ci_runner" in message, message


def test_a_stack_with_a_public_api_may_have_no_runners() -> None:
    public = _set(raw("dev"), "cluster.public_access_cidrs", ["203.0.113.0/24"])
    cfg = parse(_set(public, "ci_runner", DELETE), source=SOURCE)
    assert cfg.ci_runner is None


def test_a_private_api_without_runners_is_one_line_naming_the_key() -> None:
    """CI sends each in-cluster job to the stack's runner label; with no runner it would queue forever."""
    with pytest.raises(ConfigError) as caught:
        parse(_set(raw("dev"), "ci_runner", DELETE), source=SOURCE)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{SOURCE}: hoist:ci_runner = (unset): required while"), message
    assert "cluster.public_access_cidrs" in message
