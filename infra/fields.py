"""Constrained value types that several config fields share, each checked in one place.

Each type is an ``Annotated`` string or number with one validator; a field declares the type and
gets the check and its message. The predicates are plain functions too, for the commands that check
the same kind of value outside a config (an ``--data`` prefix, an image digest).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_STACK_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TAG_KEY = re.compile(r"[\w.:/=+\-@ ]{1,128}")
_ROLE_ARN = re.compile(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+")
_PREFIX = re.compile(r"[\w.-]+(/[\w.-]+)*/")


def is_s3_prefix(value: str) -> bool:
    """A relative key prefix of word characters, dots and dashes ending in '/', with no '.' or '..' part."""
    return bool(_PREFIX.fullmatch(value)) and not {".", ".."} & set(value.split("/"))


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be a CloudWatch retention value: {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return value


def _digest(value: str) -> str:
    if not DIGEST.fullmatch(value):
        raise ValueError("expected an image digest: sha256: followed by 64 lower-case hex digits")
    return value


def _stack_name(value: str) -> str:
    if not _STACK_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a stack name (lower-case letters, digits and dashes)")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def _account_id(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise ValueError(f"{value!r} is not a 12-digit AWS account id")
    return value


def _role_arn(value: str) -> str:
    if not _ROLE_ARN.fullmatch(value):
        raise ValueError(f"{value!r} is not an IAM role ARN")
    return value


def _tag_key(value: str) -> str:
    if not _TAG_KEY.fullmatch(value) or value.lower().startswith("aws:"):
        raise ValueError(f"tag key {value!r} is not a valid AWS tag key (1-128 chars, no 'aws:' prefix)")
    return value


def _s3_prefix(value: str) -> str:
    if value and not is_s3_prefix(value):
        raise ValueError("a prefix of word characters, dots and dashes, ending in '/'")
    return value


def _ipv4_cidr(value: str) -> str:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 CIDR block ({exc}); expected e.g. 10.0.0.0/16") from None
    return value


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]
ImageDigest = Annotated[str, AfterValidator(_digest)]
StackName = Annotated[str, AfterValidator(_stack_name)]
EmailAddress = Annotated[str, AfterValidator(_email)]
AccountId = Annotated[str, AfterValidator(_account_id)]
RoleArn = Annotated[str, AfterValidator(_role_arn)]
TagKey = Annotated[str, AfterValidator(_tag_key)]
S3Prefix = Annotated[str, AfterValidator(_s3_prefix)]
"""A key prefix ending in '/', or empty for the whole bucket."""
Ipv4Cidr = Annotated[str, AfterValidator(_ipv4_cidr)]
