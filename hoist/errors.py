"""The error a command ends with when it could not finish (exit 1).

A request that cannot be used at all (a bad flag, a bad stack file) is a
``infra.stack_files.ConfigError`` or a ``training.config.TrainConfigError`` (exit 2). Both are one
line meant for a person or a CI log; `hoist` prints no traceback for either.
"""

from __future__ import annotations


class CommandFailed(RuntimeError):
    """A build, promotion, child process or rollout that failed; one line naming what and where to look."""

    exit_code = 1


class Refused(CommandFailed):
    """A result a gate refused (an optimised model that lost accuracy): nothing was written."""

    exit_code = 3
