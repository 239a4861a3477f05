"""Registry: ECR repositories for the training and serving images."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import RegistryConfig

REPOSITORIES = ("training", "serving")


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


class Registry(pulumi.ComponentResource):
    repositories: dict[str, aws.ecr.Repository]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hoist:registry:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repositories = {}
        for part in REPOSITORIES:
            repo = aws.ecr.Repository(
                f"{name}-{part}",
                name=f"hoist/{pulumi.get_stack()}/{part}",
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
        self.register_outputs({f"{part}_repository_url": r.repository_url for part, r in self.repositories.items()})
