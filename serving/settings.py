"""Server settings, from the environment SageMaker (or the operator) gives the container."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_workers() -> int:
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except ImportError:
        return 1


def _default_cpu_threads() -> int:
    # One core stays free for the event loop: it reads and answers requests while a batch computes,
    # and an OpenMP team with a member preempted by it stalls at every barrier (measured on 2 cores:
    # a 2-thread team made a lone request 5-20x slower than a 1-thread one).
    return max(1, (os.cpu_count() or 1) - 1)


class ServingSettings(BaseSettings):
    """Every knob of the server. SageMaker's own variable names are honoured where they exist."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    port: int = Field(8080, ge=1, le=65535, validation_alias=AliasChoices("SAGEMAKER_BIND_TO_PORT", "HOIST_PORT"),
                      description="Port to listen on; SageMaker requires 8080 unless it sets SAGEMAKER_BIND_TO_PORT.")
    host: str = Field("0.0.0.0", validation_alias="HOIST_HOST",  # noqa: S104 - a container must listen on all
                      description="Address to bind; 0.0.0.0 inside a container.")
    model_dir: Path = Field(Path("/opt/ml/model"), validation_alias="SM_MODEL_DIR",
                            description="Where SageMaker extracted model.tar.gz.")
    batching: bool = Field(True, validation_alias="HOIST_BATCHING", description="Group concurrent requests.")
    max_batch_size: int = Field(32, ge=1, le=4096, validation_alias="HOIST_MAX_BATCH_SIZE",
                                description="Most requests in one batch.")
    max_batch_delay_ms: float = Field(5.0, ge=0, le=10_000, validation_alias="HOIST_MAX_BATCH_DELAY_MS",
                                      description="Longest a request waits for others to join its batch.")
    max_queue: int = Field(256, ge=1, validation_alias="HOIST_MAX_QUEUE",
                           description="Requests waiting beyond this are refused with 503 at once.")
    max_body_bytes: int = Field(6 * 1024 * 1024, ge=1, validation_alias="HOIST_MAX_BODY_BYTES",
                                description="Largest request body (SageMaker's own limit is 6 MB); larger is 413.")
    request_timeout_s: float = Field(60.0, gt=0, validation_alias="HOIST_REQUEST_TIMEOUT_S",
                                     description="A request not answered by then gets 504.")
    workers: int = Field(default_factory=_default_workers, ge=1, validation_alias="HOIST_WORKERS",
                         description="Inference threads: one per GPU, or 1 on CPU (torch uses every core).")
    graceful_shutdown_s: float = Field(20.0, ge=0, validation_alias="HOIST_GRACEFUL_SHUTDOWN_S",
                                       description="After SIGTERM, time for requests in flight to finish.")
    cpu_threads: int = Field(default_factory=_default_cpu_threads, ge=1, validation_alias="HOIST_CPU_THREADS",
                             description="torch intra-op threads in each inference thread: all cores but one.")
