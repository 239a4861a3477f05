"""Jobs that `hoist` sends to a stack: TrainJobs on the cluster, SageMaker training and processing jobs."""

from __future__ import annotations

import datetime as dt
from typing import Literal

JobKind = Literal["train", "prepare", "check"]


def job_name(stack: str, kind: JobKind, now: dt.datetime) -> str:
    """One name format for every job a stack runs: ``hoist-<stack>-<kind>-<UTC time>``, at most 63
    characters (a Kubernetes name and a SageMaker job name both allow that)."""
    return f"hoist-{stack}-{kind}-{now:%Y%m%d-%H%M%S}"[:63]
