"""Registry: ECR repositories for the training, serving and LLM serving images, and cross-account replication.

Images are built once (by CI, into the dev stack's registry) and reach the other stacks as the same
bytes through ECR replication: the source registry replicates every ``hoist/`` repository to the
destination accounts, and each destination's registry policy admits only its source account. A stack
then runs images from its own registry, so a lifecycle rule in dev can never delete what prod runs.
Repository names carry no stack name because replication keeps the source's name; each stack lives
in its own account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.iam import document
from infra.config import RegistryConfig
from infra.fields import DIGEST

REPOSITORIES = ("training", "serving", "llm")
"""One repository per image: the training image, the classic serving image, the LLM serving image."""
REPOSITORY_PREFIX = "hoist/"
REPLICATION_ACTIONS = ("ecr:CreateRepository", "ecr:ReplicateImage")


@dataclass(frozen=True)
class ReplicationDestination:
    """Another stack's registry: its account and region."""

    stack: str
    account_id: str
    region: str


def lifecycle_policy(config: RegistryConfig) -> str:
    """Expire untagged layers first, then keep only the newest images of any tag."""
    return json.dumps({
        "rules": [
            {
                "rulePriority": 1,
                "description": "expire untagged images",
                "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                              "countUnit": "days", "countNumber": config.untagged_expiry_days},
                "action": {"type": "expire"},
            },
            {
                # ECR requires the 'any' rule to have the highest priority number.
                "rulePriority": 2,
                "description": f"keep the newest {config.keep_images} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                              "countNumber": config.keep_images},
                "action": {"type": "expire"},
            },
        ]
    })


@dataclass(frozen=True, kw_only=True)
class RegistryArgs:
    config: RegistryConfig
    kms_key_arn: pulumi.Input[str]
    force_delete: bool
    account_id: pulumi.Input[str]
    region: str
    partition: pulumi.Input[str]
    replicate_to: tuple[ReplicationDestination, ...] = ()
    receive_from: ReplicationDestination | None = None


class Registry(pulumi.ComponentResource):
    repositories: dict[str, aws.ecr.Repository]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:registry:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repositories = {}
        for part in REPOSITORIES:
            repo = aws.ecr.Repository(
                f"{name}-{part}",
                name=f"{REPOSITORY_PREFIX}{part}",
                # Images are promoted by digest; an immutable tag can never be re-pointed under a user.
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.kms_key_arn}],
                force_delete=args.force_delete,
                opts=child,
            )
            aws.ecr.LifecyclePolicy(f"{name}-{part}", repository=repo.name, policy=lifecycle_policy(args.config),
                                    opts=child)
            self.repositories[part] = repo
        if args.replicate_to:
            # The registry has one replication configuration; it names every destination stack.
            aws.ecr.ReplicationConfiguration(
                f"{name}-replication",
                replication_configuration={"rules": [{
                    "destinations": [{"region": d.region, "registry_id": d.account_id} for d in args.replicate_to],
                    "repository_filters": [{"filter": REPOSITORY_PREFIX, "filter_type": "PREFIX_MATCH"}],
                }]},
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.repositories.values())),
            )
        if args.receive_from is not None:
            source = args.receive_from
            aws.ecr.RegistryPolicy(
                f"{name}-replication-source",
                policy=document({
                    "Sid": f"ReplicationFrom{source.stack.replace('-', '').title()}",
                    "Effect": "Allow",
                    "Principal": {"AWS": pulumi.Output.format("arn:{0}:iam::{1}:root", args.partition,
                                                              source.account_id)},
                    "Action": list(REPLICATION_ACTIONS),
                    "Resource": pulumi.Output.format("arn:{0}:ecr:{1}:{2}:repository/{3}*", args.partition,
                                                     args.region, args.account_id, REPOSITORY_PREFIX),
                }),
                opts=child,
            )
        self.register_outputs({f"{part}_repository_url": r.repository_url for part, r in self.repositories.items()})


def image_by_digest(repository_url: str, digest: str) -> str:
    """An image reference by digest (never by tag): ``<repository>@sha256:...``."""
    if not DIGEST.fullmatch(digest):
        raise ValueError(f"image digest {digest!r}: expected sha256: followed by 64 hex digits")
    return f"{repository_url}@{digest}"
