"""The GitHub workflows hoist's users run: schema-valid, zizmor-clean, hardened, and calling commands
that exist with the flags they pass."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hoist import cli
from hoist.plan import comment, diff
from infra import catalog
from infra.components import ci_runners as runner
from infra.stack_files import PROJECT_ROOT
from policy.pack import POLICIES
from tests.conftest import planned
from tests.hoist.plan.documents import document

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
BIN = Path(sys.executable).parent
USES = re.compile(r"^\s*(?:-\s+)?uses:\s+(\S+)(?:\s+#\s*(.*))?$")


def load(path: Path) -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in document["jobs"].items() for step in job.get("steps", [])]


def test_there_are_the_six_workflows() -> None:
    assert {p.stem for p in FILES} == {"ci", "preview", "deploy", "deploy-stack", "drift", "teardown"}


def test_workflows_match_githubs_schema(tmp_path: Path) -> None:
    check = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    result = subprocess.run([*check, *map(str, FILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-onn: ubuntu-latest\n    steps: [{run: echo}]\n")
    assert subprocess.run([*check, str(broken)], capture_output=True).returncode != 0


def test_zizmor_finds_nothing_unexplained(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "zizmor"), "--offline", str(WORKFLOWS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every ignore carries its reason on the line above.
    for path in FILES:
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if "zizmor: ignore" in line:
                assert lines[number - 1].strip().startswith("#") and len(lines[number - 1]) > 30, f"{path}:{number}"
    dangerous = tmp_path / "dangerous"
    dangerous.mkdir()
    (dangerous / "bad.yml").write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n")
    assert subprocess.run([str(BIN / "zizmor"), "--offline", str(dangerous)], capture_output=True).returncode != 0


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_third_party_actions_are_pinned_to_the_catalogs_shas(path: Path) -> None:
    for line in path.read_text().splitlines():
        match = USES.match(line)
        if not match:
            continue
        reference, comment = match.groups()
        if reference.startswith("./"):
            continue
        name, _, sha = reference.partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{path.name}: {reference} is not pinned to a full SHA"
        assert name in catalog.ACTIONS, f"{path.name}: {name} is not in catalog.ACTIONS"
        pin = catalog.ACTIONS[name]
        assert sha == pin.value, f"{path.name}: {name} at {sha}, the catalog pins {pin.value}"
        assert comment and comment.split()[0] in pin.source, f"{path.name}: {name} names tag {comment}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_permissions_and_triggers_are_least_privilege(path: Path) -> None:
    document = load(path)
    assert document["permissions"] == {"contents": "read"}, "the workflow default grants read only"
    triggers = document["on"] if isinstance(document["on"], dict) else {document["on"]: None}
    assert not {"pull_request_target", "workflow_run"} & set(triggers)
    for name, job in document["jobs"].items():
        granted = job.get("permissions", {})
        assert granted != "write-all" and all(v in ("read", "write", "none") for v in granted.values()), name
    for job, step in steps(document):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}:{job} keeps the token"


def test_jobs_holding_cloud_credentials_never_run_fork_code() -> None:
    preview = load(WORKFLOWS / "preview.yml")
    for name, job in preview["jobs"].items():
        # A job on a CodeBuild runner runs inside the VPC, next to the private API: never fork code.
        uses_credentials = ("id-token" in job.get("permissions", {}) or "secrets." in yaml.safe_dump(job)
                            or str(job["runs-on"]).startswith("codebuild-"))
        if uses_credentials:
            assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository", name
    # The diff job runs for forks with a read-only token: its comment step is skipped, the summary is not.
    comment = next(s for _, s in steps(preview) if s.get("name", "").startswith("Sticky comment"))
    assert "head.repo.full_name == github.repository" in comment["if"]


def test_every_stack_update_is_serialised_per_stack() -> None:
    jobs = load(WORKFLOWS / "deploy-stack.yml")["jobs"]
    for job, group in (("aws", "pulumi-${{ inputs.stack }}"), ("in-cluster", "pulumi-${{ inputs.stack }}-in-cluster")):
        up = jobs[job]
        assert up["concurrency"] == {"group": group, "cancel-in-progress": False}
        assert up["environment"] == "${{ inputs.stack }}"
        commands = [s["with"]["command"] for s in up["steps"] if "pulumi/actions@" in str(s.get("uses"))]
        assert commands == ["up", "preview"]
        converged = next(s for s in up["steps"] if s.get("with", {}).get("command") == "preview")
        assert converged["with"]["expect-no-changes"] is True
        assert converged["with"]["policyPacks"] in ("policy", "${{ github.workspace }}/policy")
    deploy = load(WORKFLOWS / "deploy.yml")["jobs"]
    assert [deploy[s].get("needs") for s in ("dev", "staging", "prod")] == [None, "dev", "staging"]
    drift = load(WORKFLOWS / "drift.yml")["jobs"]
    assert drift["drift-aws"]["concurrency"]["group"] == "pulumi-${{ matrix.stack }}-drift"
    assert drift["drift-in-cluster"]["concurrency"]["group"] == "pulumi-${{ matrix.stack }}-in-cluster-drift"
    for job in drift.values():
        refresh = next(s for s in job["steps"] if s.get("id") == "preview")
        assert refresh["with"]["refresh"] is True and refresh["with"]["expect-no-changes"] is True


def test_staging_and_prod_deploys_end_with_the_cluster_check() -> None:
    up = load(WORKFLOWS / "deploy-stack.yml")["jobs"]["in-cluster"]
    names = [s.get("name") for s in up["steps"]]
    check = up["steps"][-1]
    assert check["name"] == "Cluster check (every EFA pool)"
    assert names.index("Cluster check (every EFA pool)") > names.index("Converged (a preview shows no changes)")
    assert check["if"] == "inputs.stack == 'staging' || inputs.stack == 'prod'"
    assert check["run"] == '.venv/bin/hoist cluster check --stack "$STACK" --efa-pools --nodes 2'
    assert check["env"]["STACK"] == "${{ inputs.stack }}"
    assert not check.get("continue-on-error"), "a failed check fails the deploy"
    deploy = load(WORKFLOWS / "deploy.yml")["jobs"]
    assert {deploy[s]["with"]["stack"] for s in ("staging", "prod")} == {"staging", "prod"}


HOSTED, IN_VPC = "hosted runner", "CodeBuild runner in the VPC"
IN_CLUSTER_DIR = "infra/in_cluster"


def _pulumi_runs(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's steps that run a pulumi command (not those that only install the CLI)."""
    return [step for step in job.get("steps", [])
            if "pulumi/actions@" in str(step.get("uses")) and step.get("with", {}).get("command")]


def _pulumi_jobs() -> list[tuple[Path, str, dict[str, Any]]]:
    return [(path, name, job) for path in FILES for name, job in load(path)["jobs"].items() if _pulumi_runs(job)]


def _part(job: dict[str, Any]) -> str:
    """Which project the job's pulumi steps run: the AWS side (the root) or the in-cluster side."""
    dirs = {step["with"].get("work-dir", ".") for step in _pulumi_runs(job)}
    assert len(dirs) == 1, dirs
    return "in-cluster" if dirs == {IN_CLUSTER_DIR} else "aws" if dirs == {"."} else str(dirs)


def test_each_part_runs_where_it_can_reach_what_it_needs_and_says_so() -> None:
    """The AWS side on GitHub's hosted runners (it never needs the cluster's API); the in-cluster side
    on the stack's CodeBuild runner in the VPC, the only place the private API answers."""
    seen = set()
    for path, name, job in _pulumi_jobs():
        part = _part(job)
        seen.add((path.stem, part))
        if part == "aws":
            assert job["runs-on"] == "ubuntu-latest", f"{path.name}:{name}"
            assert "AWS side (" in job["name"] and HOSTED in job["name"], f"{path.name}:{name}"
        else:
            assert part == "in-cluster", f"{path.name}:{name}: {part}"
            assert str(job["runs-on"]).startswith("codebuild-"), f"{path.name}:{name}"
            assert "in-cluster side (" in job["name"] and IN_VPC in job["name"], f"{path.name}:{name}"
    assert seen == {(w, p) for w in ("deploy-stack", "preview", "drift", "teardown") for p in ("aws", "in-cluster")}
    assert not any("RUNNER_" in path.read_text() for path in FILES), "infra/components/ci_runners.py names runners"


RUNNER_KINDS = {"deploy-stack": "deploy", "teardown": "deploy", "preview": "preview", "drift": "preview"}
ROLE_VARIABLES = {"deploy": "AWS_DEPLOY_ROLE_ARN", "preview": "AWS_PREVIEW_ROLE_ARN"}
CREDENTIALS = "aws-actions/configure-aws-credentials@"


def _credential_steps(job: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(i, s) for i, s in enumerate(job.get("steps", [])) if str(s.get("uses", "")).startswith(CREDENTIALS)]


def test_jobs_on_the_vpc_runners_assume_the_stacks_ci_role_by_oidc() -> None:
    """A runner's own role reaches nothing (its webhook cannot tell a branch's workflow from main's), so
    each job there assumes the stack's CI role by OIDC: the deploy role, whose trust names the GitHub
    environment (reviewers, deployment branches), for deploys and teardowns; the preview role otherwise."""
    seen = set()
    for path, name, job in _pulumi_jobs():
        if _part(job) != "in-cluster":
            continue
        kind = RUNNER_KINDS[path.stem]
        seen.add(path.stem)
        assert job["permissions"].get("id-token") == "write", f"{path.name}:{name}"
        ((index, step),) = _credential_steps(job)
        stack = _stack_expression(job).removeprefix("${{ ").removesuffix(" }}")
        assert step["with"]["role-to-assume"] == (
            f"${{{{ vars[format('{ROLE_VARIABLES[kind]}_{{0}}', {stack})] }}}}"), f"{path.name}:{name}"
        # Before anything that reads the state or the cluster.
        first = min(i for i, s in enumerate(job["steps"]) if s in _pulumi_runs(job) or ".venv/bin/hoist" in
                    str(s.get("run", "")))
        assert index < first, f"{path.name}:{name}"
        if kind == "deploy":
            assert job["environment"] == "${{ inputs.stack }}", f"{path.name}:{name}"
        else:
            assert "environment" not in job, f"{path.name}:{name}"
    assert seen == set(RUNNER_KINDS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_only_jobs_that_assume_a_role_may_request_an_oidc_token(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        called = str(job.get("uses", ""))
        # A caller grants what its called workflow's jobs may ask for, and no more.
        wants = (any(_credential_steps(j) for j in load(PROJECT_ROOT / called)["jobs"].values())
                 if called.startswith("./") else bool(_credential_steps(job)))
        assert ("id-token" in job.get("permissions", {})) == wants, f"{path.name}:{name}"
        if wants:
            assert job["permissions"]["id-token"] == "write"


def _stack_expression(job: dict[str, Any]) -> str:
    return "${{ inputs.stack }}" if "inputs.stack" in job["name"] else "${{ matrix.stack }}"


def test_runner_labels_name_the_projects_the_aws_side_creates() -> None:
    """One source of truth for the runner's name: the workflow's label is runner.runs_on() of the
    project the AWS side creates, and the runner's webhook accepts that workflow by name."""
    for path, name, job in _pulumi_jobs():
        if _part(job) != "in-cluster":
            continue
        kind = RUNNER_KINDS[path.stem]
        assert job["runs-on"] == runner.runs_on(_stack_expression(job), kind), f"{path.name}:{name}"  # type: ignore[arg-type]
        assert re.fullmatch(runner.workflow_pattern(kind), load(path)["name"])  # type: ignore[arg-type]
    # deploy-stack's jobs are queued under its callers' name.
    callers = {load(p)["name"] for p in FILES for j in load(p)["jobs"].values()
               if "deploy-stack.yml" in str(j.get("uses", ""))}
    assert callers and all(re.fullmatch(runner.workflow_pattern("deploy"), c) for c in callers)
    # A pull request's workflows never match the deploy runner's webhook.
    for workflow in ("preview", "drift"):
        assert not re.fullmatch(runner.workflow_pattern("deploy"), workflow)
    planned_projects = planned("prod").outputs["ci_runners"]
    assert planned_projects == {kind: runner.runner_project("prod", kind) for kind in ("deploy", "preview")}


def test_jobs_on_the_vpc_runners_install_only_the_infra_extra() -> None:
    """The runners start bare for every job: they install Pulumi, its providers and the policy pack's
    needs (`make install-infra`), not torch and the test tools (`make install`, kept elsewhere)."""
    seen = set()
    for path, name, job in _pulumi_jobs():
        installs = [s["run"] for s in job["steps"] if str(s.get("run", "")).startswith("make install")]
        seen.add((_part(job), tuple(installs)))
        expected = "make install-infra" if _part(job) == "in-cluster" else "make install"
        assert installs == [expected], f"{path.name}:{name}: {installs}"
    assert seen == {("in-cluster", ("make install-infra",)), ("aws", ("make install",))}
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "INFRA_EXTRAS := infra\n" in makefile and "$(INFRA_STAMP): pyproject.toml" in makefile
    result = subprocess.run(["make", "-n", "install-infra"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert "-e '.[infra]'" in result.stdout and ".installed-infra-stamp" in result.stdout


def test_deploys_and_teardowns_run_the_parts_in_order() -> None:
    deploy = load(WORKFLOWS / "deploy-stack.yml")["jobs"]
    assert list(deploy) == ["aws", "in-cluster"] and deploy["in-cluster"]["needs"] == "aws"
    # Teardown reverses it: NodePools go while Karpenter runs (it terminates their GPU nodes), then the
    # cluster and Karpenter's IAM (tests/infra/test_in_cluster.py holds the order inside the project).
    teardown = load(WORKFLOWS / "teardown.yml")
    jobs = teardown["jobs"]
    assert list(jobs) == ["in-cluster-state", "in-cluster", "aws"]
    assert _part(jobs["in-cluster"]) == "in-cluster" and _part(jobs["aws"]) == "aws"
    assert jobs["in-cluster"]["needs"] == "in-cluster-state" and jobs["aws"]["needs"] == ["in-cluster-state",
                                                                                          "in-cluster"]
    assert [s["with"]["command"] for j in jobs.values() for s in _pulumi_runs(j)] == ["destroy", "destroy"]
    assert set(teardown["on"]) == {"workflow_dispatch"}
    assert jobs["in-cluster-state"]["if"] == "inputs.confirm == inputs.stack"
    assert all(job["environment"] == "${{ inputs.stack }}" for job in jobs.values())


def _state_check(job: dict[str, Any], mode: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in job["steps"]
                                   if f"-m hoist.stack_state {mode} < in-cluster-state.json" in s.get("run", "")]
    (step,) = found
    export = 'pulumi -C infra/in_cluster stack export --stack "$STACK" > in-cluster-state.json'
    assert step["run"].splitlines()[0] == export and step["env"]["STACK"] == "${{ inputs.stack }}"
    return step


def test_teardown_skips_an_empty_in_cluster_side_and_refuses_the_aws_side_while_it_holds_anything() -> None:
    """A first apply that failed before the runners existed leaves an empty in-cluster state and no runner:
    a hosted job asks, so the teardown reaches the AWS side instead of queuing for a runner forever."""
    jobs = load(WORKFLOWS / "teardown.yml")["jobs"]
    state = jobs["in-cluster-state"]
    assert state["runs-on"] == "ubuntu-latest" and state["outputs"]["holds"] == "${{ steps.state.outputs.holds }}"
    holds = _state_check(state, "holds")
    assert holds["id"] == "state" and holds["run"].rstrip().endswith('>> "$GITHUB_OUTPUT"')
    # The hosted job runs the checker without installing the project: standard library only.
    assert holds["run"].splitlines()[1].startswith("python3 -m hoist.stack_state")
    imported = {line.split()[1] for line in (PROJECT_ROOT / "hoist" / "stack_state.py").read_text().splitlines()
                if line.startswith(("import ", "from "))}
    assert imported <= {"__future__", "json", "sys", "collections.abc", "typing"}, imported
    assert jobs["in-cluster"]["if"] == "needs.in-cluster-state.outputs.holds == 'true'"
    # The AWS side runs after a skipped in-cluster job, never after a failed one, and checks first.
    condition = " ".join(jobs["aws"]["if"].split())
    assert condition == ("always() && needs.in-cluster-state.result == 'success' && (needs.in-cluster.result == "
                         "'success' || needs.in-cluster.result == 'skipped')")
    aws = jobs["aws"]["steps"]
    guard = _state_check(jobs["aws"], "empty")
    assert aws.index(guard) < aws.index(_pulumi_runs(jobs["aws"])[0])


def _commands(document: dict[str, Any]) -> list[list[str]]:
    found = []
    for _, step in steps(document):
        for line in str(step.get("run", "")).splitlines():
            line = line.strip().split(" > ")[0].split(" || ")[0]
            if ".venv/bin/hoist" in line or line.startswith("make "):
                words = shlex.split(line.replace('"$STACK"', "dev").replace('"$BASE_SHA"', "HEAD"))
                found.append(words)
    return found


def test_the_commands_the_workflows_run_exist_with_their_flags() -> None:
    commands = [c for path in FILES for c in _commands(load(path))]
    hoist = [c[1:] for c in commands if c[0].endswith("/hoist")]
    make = [c[1:] for c in commands if c[0] == "make"]
    assert ["plan", "--stack", "dev", "--diff", "HEAD"] in hoist and ["build", "--stack", "dev"] in hoist
    for argv in hoist:
        cli.parser().parse_args(argv)  # exits on an unknown command or flag
    for targets in make:
        result = subprocess.run(["make", "-n", *targets], cwd=PROJECT_ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert ["policy-config", "--stack", "dev"] in hoist
    assert ["cluster", "check", "--stack", "dev", "--efa-pools", "--nodes", "2"] in hoist
    # `hoist plan --diff` against the previous commit of a small repository is tested in tests/infra/test_cli.py.


def test_every_policy_run_gets_the_stacks_policy_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    """The GPU rules read per-stack settings; every pulumi run with the pack is given them."""
    for path in FILES:
        for _, step in steps(load(path)):
            if step.get("with", {}).get("policyPacks"):
                assert step["with"]["policyPackConfigs"] in (
                    "policy-config.json", "${{ github.workspace }}/policy-config.json"), path.name
    assert cli.main(["policy-config", "--stack", "prod"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["gpu-instance-types-allowed"]["allowedInstanceTypes"] == ["p5.48xlarge", "p4d.24xlarge",
                                                                            "g5.12xlarge", "g5.48xlarge"]
    assert {policy.name for policy in POLICIES} >= set(config)


FAKE_GH = """#!/bin/sh
echo "$*" >> "$GH_LOG"
case "$*" in
  *--paginate*) printf '%s' "$FAKE_EXISTING" ;;
  *body=@comment.md*) cp comment.md "$GH_BODY" ;;
esac
"""


def _sticky_comment(tmp_path: Path, markdown: str, existing: str) -> tuple[list[str], str]:
    """Run the preview workflow's comment step as the runner would, against a stand-in for `gh`."""
    step = next(s for _, s in steps(load(WORKFLOWS / "preview.yml")) if s.get("name", "").startswith("Sticky comment"))
    work = tmp_path / existing if existing else tmp_path / "new"
    (work / "bin").mkdir(parents=True)
    (work / "bin" / "gh").write_text(FAKE_GH)
    (work / "bin" / "gh").chmod(0o755)
    (work / "plan-diff.md").write_text(markdown)
    env = {"PATH": f"{work / 'bin'}:/usr/bin:/bin", "GH_LOG": str(work / "calls"), "GH_BODY": str(work / "body"),
           "FAKE_EXISTING": existing, "STACK": "prod", "PR": "7", "REPO": "org/repo", "GH_TOKEN": "t"}
    subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=work, env=env,
                   check=True)
    return (work / "calls").read_text().splitlines(), (work / "body").read_text()


def test_the_sticky_comment_posts_the_diff_once_and_then_edits_it(tmp_path: Path) -> None:
    # The longest comment there is: a stack that does not exist at the base.
    markdown = comment.markdown(diff.compare("prod", "main", None, document(planned("prod"))))
    calls, body = _sticky_comment(tmp_path, markdown, existing="")
    assert calls[-1] == "api --method POST repos/org/repo/issues/7/comments -F body=@comment.md"
    assert body == "<!-- hoist-plan-diff:prod -->\n" + markdown
    assert len(body) <= 65_536  # GitHub's limit on a comment
    calls, body = _sticky_comment(tmp_path, markdown, existing="123")
    assert calls[-1] == "api --method PATCH repos/org/repo/issues/comments/123 -F body=@comment.md"
