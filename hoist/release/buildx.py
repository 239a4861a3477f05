"""`hoist build`: build both images once with docker buildx, push them to the stack's registry, and
print their digests. CI runs it once per commit on main against the dev stack; the registry replicates
the same bytes to the other stacks, which reference them by digest from their config.

Each image is built from its own part's directory with the catalog's pinned bases, tagged with the
git commit (tags are immutable in ECR), and pushed as a single-platform image without attestations:
SageMaker pulls a plain image manifest, not an index.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from hoist.errors import CommandFailed
from hoist.outputs import StackOutputs
from hoist.release.images import CONTEXTS, PARTS, Accelerator, Image, Part
from infra.stack_files import PROJECT_ROOT, ConfigError

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class BuildError(CommandFailed):
    """A build that could not run or finish; one line for the person or the CI log."""


@dataclass(frozen=True)
class BuildStep:
    image: Image
    reference: str
    """Where the image is pushed: ``<repository>:<tag>``."""
    metadata_file: Path
    platform: str

    def argv(self) -> list[str]:
        build_args = [arg for name, value in self.image.build_args().items()
                      for arg in ("--build-arg", f"{name}={value}")]
        return ["docker", "buildx", "build", "--file", str(self.image.dockerfile), "--platform", self.platform,
                *build_args, "--provenance=false", "--sbom=false", "--tag", self.reference, "--push",
                "--metadata-file", str(self.metadata_file), str(self.image.context)]

    def digest(self) -> str:
        """The pushed image's digest, as buildx records it."""
        try:
            metadata = json.loads(self.metadata_file.read_text())
            digest = str(metadata["containerimage.digest"])
        except (OSError, ValueError, KeyError):
            raise BuildError(f"buildx wrote no image digest for {self.reference} ({self.metadata_file})") from None
        return digest


def plan_builds(outputs: StackOutputs, tag: str, metadata_dir: Path, serving: Accelerator = "gpu",
                platform: str = "linux/amd64") -> list[BuildStep]:
    steps = []
    for part in PARTS:
        if part not in outputs.repositories:
            raise ConfigError(f"stack {outputs.stack} exports no {part} repository; run `pulumi up` first")
        accelerator: Accelerator = serving if part == "serving" else "gpu"
        steps.append(BuildStep(image=Image(part, accelerator), reference=f"{outputs.repositories[part]}:{tag}",
                               metadata_file=metadata_dir / f"{part}.json", platform=platform))
    return steps


def commit_tag(root: Path = PROJECT_ROOT, allow_dirty: bool = False) -> str:
    """``git-<commit>`` of a clean checkout; an image built from uncommitted files has no honest tag
    (a dry run shows ``git-<commit>-dirty``)."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(f"git {' '.join(args)} failed: {result.stderr.strip() or 'not a git checkout'}")
        return result.stdout.strip()

    tag = "git-" + git("rev-parse", "--short=12", "HEAD")
    contexts = sorted({CONTEXTS[part].split("/")[0] for part in PARTS})
    if git("status", "--porcelain", "--", *contexts):
        if allow_dirty:
            return f"{tag}-dirty"
        raise BuildError(f"uncommitted changes under {', '.join(contexts)}; commit them or pass --tag")
    return tag


def require_buildx() -> None:
    if shutil.which("docker") is None:
        raise BuildError("docker is not installed; `hoist build` needs Docker with buildx (CI runs it); "
                         "use --dry-run to see the commands")
    result = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"docker buildx is not available ({result.stderr.strip()[:200]}); install the buildx plugin")


def login(outputs: StackOutputs) -> None:
    """Log docker in to the stack's ECR registry with a token from the AWS credentials in the environment."""
    try:
        ecr = boto3.client("ecr", region_name=outputs.region)
        data = ecr.get_authorization_token(registryIds=[outputs.account_id])["authorizationData"][0]
    except (BotoCoreError, ClientError) as exc:
        raise BuildError(f"cannot get an ECR login for account {outputs.account_id}: {exc}") from None
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    registry = data["proxyEndpoint"].removeprefix("https://")
    result = subprocess.run(["docker", "login", "--username", user, "--password-stdin", registry],
                            input=password, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"docker login {registry} failed: {result.stderr.strip()[:200]}")


def build_and_push(steps: list[BuildStep]) -> dict[Part, str]:
    digests: dict[Part, str] = {}
    for step in steps:
        print(f"hoist build: {step.image.part} ({step.image.accelerator}) -> {step.reference}", flush=True)
        if subprocess.run(step.argv(), check=False).returncode != 0:
            raise BuildError(f"building {step.image.part} failed; see the buildx output above")
        digests[step.image.part] = step.digest()
    return digests


def describe(steps: list[BuildStep]) -> str:
    return "\n".join(shlex.join(step.argv()) for step in steps)
