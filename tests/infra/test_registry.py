"""Build once, promote by digest: replication reaches the other stacks, and stacks run images by digest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from hoist.outputs import StackOutputs
from hoist.plan import recording
from infra.stack_files import ConfigError, load_stack
from tests.conftest import STACKS, planned

REPLICATION = "aws:ecr/replicationConfiguration:ReplicationConfiguration"
REGISTRY_POLICY = "aws:ecr/registryPolicy:RegistryPolicy"
DIGEST = "sha256:" + "ab" * 32


def test_dev_replicates_every_image_to_the_other_stacks() -> None:
    (replication,) = planned("dev").of_type(REPLICATION)
    (rule,) = replication.inputs["replicationConfiguration"]["rules"]
    destinations = {(d["registryId"], d["region"]) for d in rule["destinations"]}
    expected = {(load_stack(s).allowed_account_ids[0], load_stack(s).region) for s in ("staging", "prod")}
    assert destinations == expected
    assert rule["repositoryFilters"] == [{"filter": "hoist/", "filterType": "PREFIX_MATCH"}]
    # Replication starts only once the repositories it copies exist.
    repositories = {r.urn for r in planned("dev").of_type("aws:ecr/repository:Repository")}
    assert repositories <= set(replication.dependencies)
    assert not planned("dev").of_type(REGISTRY_POLICY)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_destinations_admit_only_the_source_account(stack: str) -> None:
    assert not planned(stack).of_type(REPLICATION)
    (policy,) = planned(stack).of_type(REGISTRY_POLICY)
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{load_stack('dev').allowed_account_ids[0]}:root"}
    assert sorted(statement["Action"]) == ["ecr:CreateRepository", "ecr:ReplicateImage"]
    account = load_stack(stack).allowed_account_ids[0]
    assert statement["Resource"] == f"arn:aws:ecr:us-east-1:{account}:repository/hoist/*"


def test_no_stack_builds_an_image(stack: str) -> None:
    # Images are built by `hoist build` in CI, never by `pulumi preview` or `up`.
    for preview in (False, True):
        types = {r.type for r in planned(stack, preview).resources}
        assert not {t for t in types if re.match(r"(docker|docker-build|awsx):", t)}


def _edit(stacks: Path, stack: str, key: str, value: object) -> None:
    path = stacks / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    section, _, field = key.partition(".")
    if field:
        document["config"].setdefault(f"hoist:{section}", {})[field] = value
        if value is None:
            del document["config"][f"hoist:{section}"][field]
    elif value is None:
        del document["config"][f"hoist:{section}"]
    else:
        document["config"][f"hoist:{section}"] = value
    path.write_text(yaml.safe_dump(document))


def test_stacks_run_images_by_the_digests_in_their_config(stacks_copy: Path) -> None:
    stacks = stacks_copy
    _edit(stacks, "prod", "images", {"training": DIGEST, "serving": DIGEST.replace("ab", "cd")})
    outputs = StackOutputs.model_validate(recording.record("prod").outputs)
    assert outputs.images == {
        "training": f"{outputs.repositories['training']}@{DIGEST}",
        "serving": f"{outputs.repositories['serving']}@{DIGEST.replace('ab', 'cd')}",
    }
    assert outputs.repositories["serving"].startswith(f"{outputs.account_id}.dkr.ecr.us-east-1.amazonaws.com/")
    # A stack without digests (and so without an endpoint) runs no image yet.
    _edit(stacks, "staging", "endpoint", None)
    _edit(stacks, "staging", "images", {})
    assert StackOutputs.model_validate(recording.record("staging").outputs).images == {}


def test_a_tag_is_not_a_digest(stacks_copy: Path) -> None:
    stacks = stacks_copy
    _edit(stacks, "dev", "images", {"serving": "latest"})
    with pytest.raises(ConfigError, match=r"hoist:images.serving = \"latest\": expected an image digest"):
        load_stack("dev")


@pytest.mark.parametrize(("stack", "key", "value", "message"), [
    ("staging", "registry.receive_from", None,
     "hoist:registry.replicate_to: stack 'staging' does not set hoist:registry.receive_from: dev"),
    ("dev", "registry.replicate_to", ["staging"],
     "hoist:registry.receive_from: stack 'dev' does not list 'prod' in hoist:registry.replicate_to"),
    ("dev", "registry.replicate_to", ["staging", "prod", "qa"], "unknown stack 'qa'"),
    ("dev", "registry.replicate_to", ["dev"], "hoist:registry.replicate_to: 'dev' is this stack"),
])
def test_replication_ends_must_agree(stacks_copy: Path, stack: str, key: str, value: object, message: str) -> None:
    stacks = stacks_copy
    _edit(stacks, stack, key, value)
    failing = "prod" if "does not list 'prod'" in message else ("dev" if stack == "staging" else stack)
    with pytest.raises(ConfigError) as error:
        recording.record(failing)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_every_stack_is_reached_by_replication_or_is_the_source() -> None:
    sources = [s for s in STACKS if load_stack(s).registry.replicate_to]
    assert sources == ["dev"]
    assert {s for s in STACKS if load_stack(s).registry.receive_from == "dev"} == set(STACKS) - {"dev"}
