"""`hoist build`: the buildx commands, the ECR login, digests from buildx metadata, and the config edit.

There is no Docker engine here, so a recording stand-in for the `docker` binary (below) answers the
CLI calls; everything on our side of that process boundary is the real code, and ECR is moto's.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from hoist import cli
from hoist.outputs import from_mapping
from hoist.plan import recording
from hoist.release import buildx as build
from infra import catalog
from infra.stack_files import PROJECT_ROOT, load_stack

FAKE_DOCKER = """#!{python}
import hashlib, json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "stdin": sys.stdin.read() if args[:1] == ["login"] else None}}) + "\\n")
if args[:2] == ["buildx", "build"]:
    if os.environ.get("FAKE_DOCKER_FAIL") == args[args.index("--file") + 1]:
        sys.exit(1)
    metadata = args[args.index("--metadata-file") + 1]
    digest = "sha256:" + hashlib.sha256(" ".join(args[:-3]).encode()).hexdigest()
    with open(metadata, "w") as out:
        json.dump({{"containerimage.digest": digest, "image.name": args[args.index("--tag") + 1]}}, out)
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_aws_credentials: None) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    return log


@pytest.fixture
def dev_outputs(tmp_path: Path) -> Path:
    path = tmp_path / "dev-outputs.json"
    path.write_text(json.dumps(recording.record("dev").outputs))
    return path


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_dry_run_builds_each_part_from_its_own_context_with_pinned_args(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", "--offline", "--dry-run", "--tag", "v1", "--serving", "cpu"]) == 0
    training, serving, llm = (line.split() for line in capsys.readouterr().out.splitlines())
    account = load_stack("dev").allowed_account_ids[0]
    for argv, part, context in ((training, "training", "training"), (serving, "serving", "serving"),
                                (llm, "llm", "serving/llm")):
        assert argv[:3] == ["docker", "buildx", "build"] and argv[-1] == str(PROJECT_ROOT / context)
        assert argv[argv.index("--file") + 1] == str(PROJECT_ROOT / context / "Dockerfile")
        assert argv[argv.index("--tag") + 1] == f"{account}.dkr.ecr.us-east-1.amazonaws.com/hoist/{part}:v1"
        assert {"--push", "--provenance=false", "--sbom=false"} <= set(argv)
    assert f"BASE_IMAGE={catalog.PINS['base-image/gpu'].value}" in training
    assert f"BASE_IMAGE={catalog.PINS['base-image/cpu'].value}" in serving
    assert f"TORCH_INDEX_URL={catalog.PINS['torch-index/cpu'].value}" in serving
    assert [arg for arg in llm if arg.startswith("BASE_IMAGE=")] == [
        f"BASE_IMAGE={catalog.PINS['llm-engine-image'].value}"]


def test_build_logs_in_pushes_and_records_digests(fake_docker: Path, dev_outputs: Path, stacks_copy: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    before = (stacks_copy / "Pulumi.dev.yaml").read_text()
    with mock_aws():
        code = cli.main(["build", "--outputs", str(dev_outputs), "--tag", "git-abc", "--write-config"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    log = calls(fake_docker)
    assert [c["args"][:2] for c in log] == [["buildx", "version"], ["login", "--username"],
                                            ["buildx", "build"], ["buildx", "build"], ["buildx", "build"]]
    login = log[1]
    assert login["args"][2] == "AWS" and login["stdin"], "the ECR password goes through stdin, not argv"
    # The digests printed are the ones buildx recorded, and they land in the stack's config.
    assert set(result["digests"]) == {"training", "serving", "llm"}
    images = load_stack("dev").images
    assert (images.training, images.serving, images.llm) == (
        result["digests"]["training"], result["digests"]["serving"], result["digests"]["llm"])
    after = (stacks_copy / "Pulumi.dev.yaml").read_text().splitlines()
    # The edit changes the two digests, adds the third, and keeps every other line, comments included.
    assert [line for line in after if line not in before.splitlines()] == [
        f"    training: {images.training}", f"    serving: {images.serving}", f"    llm: {images.llm}"]
    assert len(after) == len(before.splitlines()) + 1


def test_a_failed_build_changes_no_config(fake_docker: Path, dev_outputs: Path, stacks_copy: Path,
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAKE_DOCKER_FAIL", str(PROJECT_ROOT / "serving" / "Dockerfile"))
    before = (stacks_copy / "Pulumi.dev.yaml").read_text()
    with mock_aws():
        code = cli.main(["build", "--outputs", str(dev_outputs), "--tag", "git-abc", "--write-config"])
    assert code == 1
    assert capsys.readouterr().err.strip() == "hoist: error: building serving failed; see the buildx output above"
    assert (stacks_copy / "Pulumi.dev.yaml").read_text() == before


def test_without_docker_it_says_so_in_one_line(dev_outputs: Path, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["build", "--outputs", str(dev_outputs), "--tag", "v1"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("hoist: error: docker is not installed") and error.count("\n") == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--offline"], "--offline outputs name no real registry"),
    (["--offline", "--dry-run", "--tag=.bad"], "--tag '.bad': 1-128 letters"),
])
def test_bad_build_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", *argv]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_tag_is_the_commit_and_refuses_uncommitted_image_code(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "training").mkdir(parents=True)
    (repo / "training" / "launch.py").write_text("print('v1')\n")
    (repo / "README.md").write_text("x\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert build.commit_tag(repo) == f"git-{head}"
    (repo / "README.md").write_text("an edit outside the images does not matter\n")
    assert build.commit_tag(repo) == f"git-{head}"
    (repo / "training" / "launch.py").write_text("print('v2')\n")
    with pytest.raises(build.BuildError, match="uncommitted changes under serving, training"):
        build.commit_tag(repo)
    assert build.commit_tag(repo, allow_dirty=True) == f"git-{head}-dirty"


def test_build_targets_the_registry_of_the_stacks_outputs() -> None:
    outputs = from_mapping(recording.record("staging").outputs, "offline")
    steps = build.plan_builds(outputs, "t", Path("/tmp"))
    assert [s.reference for s in steps] == [f"{outputs.repositories[p]}:t" for p in ("training", "serving", "llm")]
