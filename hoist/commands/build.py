"""`hoist build`: build both images once, push them to a stack's registry, and print their digests."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from hoist import outputs as stack_outputs
from hoist import stack_edits
from hoist.release import buildx
from infra.stack_files import ConfigError


def build(args: argparse.Namespace) -> int:
    if args.offline and not args.dry_run:
        raise ConfigError("--offline outputs name no real registry; add --dry-run, or read the deployed stack")
    if args.tag is not None and not buildx.TAG.fullmatch(args.tag):
        raise ConfigError(f"--tag {args.tag!r}: 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
    outputs = stack_outputs.load(args.stack, outputs_file=args.outputs, offline=args.offline)
    tag = args.tag or buildx.commit_tag(allow_dirty=args.dry_run)
    with tempfile.TemporaryDirectory(prefix="hoist-build-") as metadata_dir:
        steps = buildx.plan_builds(outputs, tag, Path(metadata_dir), serving=args.serving, platform=args.platform)
        if args.dry_run:
            sys.stdout.write(buildx.describe(steps) + "\n")
            return 0
        buildx.require_buildx()
        buildx.login(outputs)
        digests = buildx.build_and_push(steps)
    sys.stdout.write(json.dumps({"stack": outputs.stack, "tag": tag, "digests": digests}, sort_keys=True) + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a") as stream:
            stream.write("| image | reference | digest |\n|---|---|---|\n")
            stream.writelines(f"| {part} | `{outputs.repositories[part]}:{tag}` | `{digest}` |\n"
                              for part, digest in digests.items())
    if args.write_config:
        stack_edits.set_values(args.stack, {"images": {str(p): d for p, d in digests.items()}})
        print(f"hoist build: wrote the digests to hoist:images in stacks/Pulumi.{args.stack}.yaml", file=sys.stderr)
    return 0
