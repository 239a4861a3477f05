"""Waiting for a model that has scaled to zero: retry the call while SageMaker starts a copy.

A shared endpoint's component may have no copy running (dev scales to zero). SageMaker then refuses the
request, its ``NoCapacityInvocationFailures`` alarm starts the step-scaling policy, and a copy (and, if
needed, an instance) comes up several minutes later. The AWS documentation says only that "During that time,
any attempts to invoke the endpoint will produce an error"
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html); the error itself
is quoted by the AWS Machine Learning blog that announced the feature ("Unlock cost savings with the new scale
down to zero feature in SageMaker Inference", 2024-12-03): "An error occurred (ValidationError) when calling
the InvokeEndpoint operation: Inference Component has no capacity to process this request.
ApplicationAutoScaling may be in-progress (if configured) or try to increase the capacity by invoking
UpdateInferenceComponentRuntimeConfig API." A ValidationError is also what a malformed request gets, so only
that message is retried; every other error fails at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from hoist.errors import CommandFailed

NO_CAPACITY = "has no capacity to process this request"
"""The part of SageMaker's message that says the component has no copy (see the module docstring)."""
FIRST_PAUSE_S = 5.0
LONGEST_PAUSE_S = 30.0
"""Retry after 5 s, doubling up to 30 s: a copy takes minutes, and each refused call counts towards the
alarm that starts one, so there is no point calling faster."""

T = TypeVar("T")


class NoCapacity(CommandFailed):
    """No copy of the model came up within the wait (or waiting was turned off); one line."""


def no_capacity(exc: ClientError) -> bool:
    """Whether SageMaker refused the call because the component has no copy running."""
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationError" and NO_CAPACITY in str(error.get("Message", "")).lower()


def copies_running(sagemaker: Any, component: str) -> int | None:
    """DescribeInferenceComponent's ``RuntimeConfig.CurrentCopyCount``, to say up front that a model is at zero;
    None when it cannot be read (a caller may invoke without leave to describe): the call then says so itself."""
    try:
        described = sagemaker.describe_inference_component(InferenceComponentName=component)
    except (BotoCoreError, ClientError):
        return None
    count = (described.get("RuntimeConfig") or {}).get("CurrentCopyCount")
    return count if isinstance(count, int) else None


@dataclass
class CapacityWait:
    """How long a call may wait for a copy of ``model`` to start, and how it reports the wait."""

    model: str
    seconds: float
    """``--wait-for-capacity``; 0 fails at the first refusal."""
    say: Callable[[str], None]
    sleep: Callable[[float], None] | None = None
    """``time.sleep`` unless given (tests pass a fake clock's)."""
    clock: Callable[[], float] | None = None
    """``time.monotonic`` unless given."""
    waited_s: float = field(default=0.0, init=False)
    """How long the last call waited for a copy, for the command's closing line."""

    def call(self, send: Callable[[], T]) -> T:
        """``send()``, retried with backoff while SageMaker answers that the model has no copy running."""
        sleep = self.sleep or time.sleep
        clock = self.clock or time.monotonic
        started = clock()
        pause = FIRST_PAUSE_S
        while True:
            try:
                answer = send()
            except ClientError as exc:
                if not no_capacity(exc):
                    raise
                self.waited_s = clock() - started
                if self.waited_s >= self.seconds:
                    raise NoCapacity(self._gave_up(self.waited_s)) from None
                self.say(f"no copy of {self.model} is running; SageMaker is starting one (scale from zero) — "
                         f"waiting, {self.waited_s:.0f} s so far")
                sleep(min(pause, self.seconds - self.waited_s))
                pause = min(pause * 2, LONGEST_PAUSE_S)
            else:
                self.waited_s = clock() - started
                return answer

    def _gave_up(self, waited: float) -> str:
        if self.seconds == 0:
            return (f"no copy of {self.model} is running; SageMaker is starting one (scale from zero, several "
                    f"minutes): retry later, or pass --wait-for-capacity SECONDS to wait for it")
        return (f"no copy of {self.model} came up within --wait-for-capacity {self.seconds:.0f} s ({waited:.0f} s "
                f"waited); SageMaker may still be starting one: retry later, or wait longer")
