"""The `hoist plan` command: JSON for machines, speed, and the pull-request diff."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hoist.outputs import StackOutputs, from_file
from infra.stack_files import PROJECT_ROOT
from tests.conftest import planned
from tools import docs


def hoist(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    env.pop("HOIST_STACKS_DIR", None)
    return subprocess.run([sys.executable, "-m", "hoist.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False, timeout=300)


def test_prod_json_lists_components_with_their_controls() -> None:
    result = hoist("plan", "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    components = data["components"]
    assert {"hoist:network:Network", "hoist:storage:Storage", "hoist:registry:Registry",
            "hoist:budget:Budget"} <= set(components)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resources in components.values():
        for r in resources:
            by_type.setdefault(r["type"], []).append(r)
    blocks = by_type["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]
    assert len(blocks) == 4 and all(b["inputs"]["restrictPublicBuckets"] is True for b in blocks)
    assert all(r["inputs"]["imageTagMutability"] == "IMMUTABLE" for r in by_type["aws:ecr/repository:Repository"])
    assert all(b["protect"] and b["retain_on_delete"] for b in by_type["aws:s3/bucket:Bucket"])
    assert data["policy"] == {"passed": True, "policies": data["policy"]["policies"], "violations": [],
                              "not_applicable": {}}
    # NAT gateways, interface endpoints, public IPs, the KMS key, 6 ml.g5.xlarge endpoint instances, the EKS
    # control plane and 3 m6i.large system nodes, 2400 GB of Lustre at 250 MB/s/TiB, and the GPU pools full:
    # 2 p5.48xlarge (16 GPUs) and 2 g5.48xlarge (16 GPUs, dearer than 4 g5.12xlarge), at most; the two CI
    # runners at 100 jobs of 120 small build minutes each, at most.
    always = 3 * 0.045 * 730 + 18 * 0.01 * 730 + 3 * 0.005 * 730 + 1 + 0.10 * 730 + 2400 * 0.21
    assert data["cost"]["monthly_max_usd"] == round(
        always + 6 * 1.408 * 730 + 3 * 0.096 * 730 + 2 * 55.04 * 730 + 2 * 16.288 * 730 + 2 * 100 * 120 * 0.005, 2)
    # Idle: the endpoint at its minimum, 2 system nodes, and no GPU node at all.
    assert data["cost"]["monthly_idle_usd"] == round(always + 2 * 1.408 * 730 + 2 * 0.096 * 730, 2)
    assert all(line["source"] for line in data["cost"]["lines"])
    reach = data["reachability"]
    assert {r["workload"] for r in reach} == {"sagemaker-endpoint", "sagemaker-training-job",
                                              "sagemaker-processing-job", "eks-system-nodes", "gpu-nodes",
                                              "ci-runner"}
    assert all(r["reachable"] for r in reach)
    assert {r["placement"] for r in reach if r["workload"] == "gpu-nodes"} == {
        "hoist-prod-nodeclass-h100-efa", "hoist-prod-nodeclass-a10g-spot"}
    StackOutputs.model_validate(data["outputs"])


def test_plan_prints_the_reachability_table() -> None:
    env_columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "250"
    try:
        result = hoist("plan", "--stack", "staging")
    finally:
        if env_columns is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = env_columns
    assert result.returncode == 0, result.stderr
    table = result.stdout[result.stdout.index("Reachability, staging"):]
    row = next(line for line in table.splitlines() if "sagemaker-endpoint" in line and " s3 " in line)
    assert "gateway endpoint hoist-staging-s3" in row and "reachable" in row
    assert "UNREACHABLE" not in table


def test_outputs_file_round_trips(tmp_path: Path) -> None:
    data = json.loads(hoist("plan", "--stack", "dev", "--json").stdout)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data["outputs"]))
    assert from_file(path).stack == "dev"


def test_all_three_stacks_plan_in_under_ten_seconds() -> None:
    # CPU time of the command, not wall time: on a shared 2-core machine the wall clock measures the neighbours.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = hoist("plan", "--stack", "all", "--json")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert result.returncode == 0, result.stderr
    plans = json.loads(result.stdout)
    assert sorted(plans) == ["dev", "prod", "staging"]
    assert all(p["policy"]["passed"] and p["resource_count"] > 60 for p in plans.values())
    assert elapsed < 10, f"planning all stacks took {elapsed:.1f} s of CPU"


def test_diff_against_a_previous_commit_shows_changes_and_cost(tmp_path: Path) -> None:
    repo = docs.sample_repository(tmp_path / "repo", docs.NAT_PER_AZ)  # dev gets a NAT gateway per AZ
    stack_file = repo / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("flow_log_retention_days: 14", "flow_log_retention_days: 30"))

    result = hoist("plan", "--stack", "dev", "--diff", "HEAD", cwd=repo)
    assert result.returncode == 0, result.stderr
    comment = result.stdout
    assert comment.startswith("### hoist plan — `dev` compared with `HEAD`")
    # One more NAT gateway and its address: (0.045 + 0.005) × 730 = $36.50 a month, line by line.
    assert "| **delta** | **+$36.50** | **+$36.50** |" in comment
    assert "| NAT gateways (network) | 1 × NAT gateway: $32.85 | 2 × NAT gateway: $65.70 | +$32.85 | +$32.85 |" \
           in comment
    assert "| public IPv4 addresses (network) | 1 × public IPv4 address: $3.65 | 2 × public IPv4 address: $7.30 | " \
           "+$3.65 | +$3.65 |" in comment
    assert "2 to add, 2 to change, 0 to replace, 0 to remove" in comment
    assert "| + | `hoist-dev-us-east-1b` | AWS | `aws:ec2/natGateway:NatGateway` | create |  |" in comment
    assert "| + | `hoist-dev-nat-us-east-1b` | AWS | `aws:ec2/eip:Eip` | create |  |" in comment
    assert "`retentionInDays`: 14 → 30" in comment
    assert "no violations" in comment and "[!" not in comment  # nothing to warn about

    machine = hoist("plan", "--stack", "dev", "--diff", "HEAD", "--json", cwd=repo)
    assert machine.returncode == 0, machine.stderr
    data = json.loads(machine.stdout)
    assert data["format"] == 1 and data["base"] == {"ref": "HEAD", "exists": True}
    assert data["cost"]["delta"] == {"monthly_max_usd": 36.5, "monthly_idle_usd": 36.5}
    # The total is the new plan's: today's dev stack and its second NAT gateway and address.
    total = sum(r.custom for r in planned("dev").resources) + 2
    assert data["resources"] == {"create": 2, "update": 2, "replace": 0, "delete": 0, "total": total}
    assert data["risks"] == [] and data["permissions"] == []

    bad = hoist("plan", "--stack", "dev", "--diff", "no-such-ref", cwd=repo)
    assert bad.returncode == 2 and "--diff no-such-ref: not a revision" in bad.stderr
    preview = hoist("plan", "--stack", "dev", "--diff", "HEAD", "--preview", cwd=repo)
    assert preview.returncode == 2 and "drop --preview" in preview.stderr


def test_outputs_from_offline_plan_file_and_missing_cli(tmp_path: Path) -> None:
    offline = hoist("outputs", "--stack", "staging", "--offline")
    assert offline.returncode == 0, offline.stderr
    outputs = StackOutputs.model_validate_json(offline.stdout)
    assert outputs.account_id == "444455556666"

    path = tmp_path / "staging.json"
    path.write_text(offline.stdout)
    assert hoist("outputs", "--stack", "staging", "--outputs", str(path)).stdout == offline.stdout
    wrong = hoist("outputs", "--stack", "prod", "--outputs", str(path))
    assert wrong.returncode == 2 and "outputs are for stack 'staging', not 'prod'" in wrong.stderr

    path.write_text('{"stack": "staging"}')
    broken = hoist("outputs", "--stack", "staging", "--outputs", str(path))
    assert broken.returncode == 2 and "stack output 'region': Field required" in broken.stderr

    env_without_pulumi = hoist("outputs", "--stack", "dev") if shutil.which("pulumi") is None else None
    if env_without_pulumi is not None:
        assert env_without_pulumi.returncode == 2
        assert "the Pulumi CLI is not installed; pass --outputs FILE" in env_without_pulumi.stderr
