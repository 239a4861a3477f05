"""`hoist deploy`: promote a model to a stack's endpoint.

A promotion checks the artifact before anything changes: it exists in the stack's models bucket, it
has the layout DESIGN.md names, and its handler loads and answers a sample request in a local
serving process started as the serving image starts. Then it writes ``hoist:endpoint.model_key`` (and
the serving image digest) into the stack's file: the change a promotion pull request carries.

``--apply`` (only where the stack's config allows it) runs ``pulumi up`` through the Automation API,
follows the rollout, and when SageMaker rolls it back restores the file and names the alarm that fired.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hoist import stack_edits
from hoist.errors import CommandFailed
from hoist.outputs import StackOutputs
from hoist.processes import ProcessFailed, extract, serving
from infra.components.endpoint import alarm_names
from infra.config import StackConfig
from infra.stack_files import PROJECT_ROOT

ARTIFACT_FILES = ("model.safetensors", "config.json", "code/inference.py")
"""The SageMaker PyTorch layout (DESIGN.md): weights, config and the handler."""
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
ROLLED_BACK = frozenset({"RollingBack", "UpdateRollbackFailed"})


class DeployError(CommandFailed):
    """A promotion refused or failed; one line naming what is wrong and what to do."""


def model_key(uri: str, outputs: StackOutputs) -> str:
    """The key of ``uri`` in the stack's models bucket; any other place is refused."""
    bucket = outputs.buckets["models"].name
    prefix = f"s3://{bucket}/"
    if not uri.startswith(prefix) or not uri.endswith(".tar.gz") or len(uri) == len(prefix) + len(".tar.gz"):
        raise DeployError(f"--model-uri {uri}: expected s3://{bucket}/<key>.tar.gz, the stack's models bucket "
                          "(copy the artifact there first)")
    return uri.removeprefix(prefix)


def llm_prefix(uri: str, outputs: StackOutputs) -> str:
    """The key prefix of an LLM artifact at ``uri`` in the stack's models bucket (ending in '/')."""
    bucket = outputs.buckets["models"].name
    prefix = f"s3://{bucket}/"
    if not uri.startswith(prefix) or not uri.endswith("/") or uri == prefix:
        raise DeployError(f"--model-uri {uri}: expected s3://{bucket}/<prefix>/, the exported LLM artifact's prefix "
                          "in the stack's models bucket (ending in '/')")
    return uri.removeprefix(prefix)


def promote_llm(stack: str, key: str, llm: dict[str, Any], digest: str | None) -> str:
    """Write an LLM promotion (prefix, engine settings with the artifact's size); returns the previous text."""
    changes: dict[str, dict[str, Any]] = {"endpoint": {"model_key": key, "llm": llm}}
    if digest is not None:
        changes["images"] = {"llm": digest}
    return stack_edits.set_values(stack, changes)


def fetch(s3: Any, bucket: str, key: str, target: Path) -> Path:
    from botocore.exceptions import ClientError

    try:
        s3.download_file(bucket, key, str(target))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NotFound"):
            raise DeployError(f"s3://{bucket}/{key}: no such object") from None
        raise DeployError(f"s3://{bucket}/{key}: cannot read it ({code or exc})") from None
    return target


def check_layout(archive: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            names = {name.removeprefix("./") for name in tar.getnames()}
    except (tarfile.TarError, OSError) as exc:
        raise DeployError(f"{archive.name}: not a readable model.tar.gz ({exc})") from None
    missing = [f for f in ARTIFACT_FILES if f not in names]
    if missing:
        raise DeployError(f"{archive.name}: not the SageMaker PyTorch layout; missing {', '.join(missing)} "
                          f"(expected {', '.join(ARTIFACT_FILES)})")


def check_serves(archive: Path, workdir: Path, sample: str) -> float:
    """Serve the artifact as the serving image would and send ``sample``; returns the latency in ms."""
    model_dir = workdir / "opt" / "ml" / "model"
    try:
        extract(archive, model_dir)
        with serving(model_dir, workdir / "logs", timeout_s=120) as url:
            started = time.perf_counter()
            answer = httpx.post(f"{url}/invocations", content=sample, timeout=60,
                                headers={"content-type": "application/json"})
            latency = (time.perf_counter() - started) * 1000
    except ProcessFailed as exc:
        raise DeployError(f"the handler does not load: {exc}") from None
    except tarfile.TarError as exc:
        raise DeployError(f"{archive.name}: cannot be extracted safely ({exc})") from None
    if answer.status_code != 200:
        raise DeployError(f"the handler does not answer the sample request: {answer.status_code} {answer.text[:200]}")
    return latency


def promote(stack: str, key: str, digest: str | None) -> str:
    """Write the promotion into the stack's file; returns the previous text."""
    changes: dict[str, dict[str, Any]] = {"endpoint": {"model_key": key}}
    if digest is not None:
        changes["images"] = {"serving": digest}
    return stack_edits.set_values(stack, changes)


@dataclass(frozen=True)
class Rollout:
    statuses: tuple[str, ...]
    config_before: str
    config_after: str

    @property
    def rolled_back(self) -> bool:
        return bool(ROLLED_BACK & set(self.statuses)) or self.config_after == self.config_before


def follow_rollout(sagemaker: Any, endpoint: str, config_before: str, poll_s: float = 15.0,
                   timeout_s: float = 4 * 3600, sleep: Callable[[float], None] = time.sleep) -> Rollout:
    """Poll the endpoint until the rollout settles; every status seen is kept."""
    statuses: list[str] = []
    deadline = time.monotonic() + timeout_s
    while True:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        statuses.append(described["EndpointStatus"])
        if described["EndpointStatus"] not in IN_PROGRESS:
            return Rollout(tuple(statuses), config_before, described.get("EndpointConfigName", ""))
        if time.monotonic() > deadline:
            raise DeployError(f"endpoint {endpoint} still {statuses[-1]} after {timeout_s / 3600:.0f} h")
        sleep(poll_s)


def firing_alarms(cloudwatch: Any, names: Sequence[str]) -> list[str]:
    alarms = cloudwatch.describe_alarms(AlarmNames=list(names))["MetricAlarms"]
    return [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]


def pulumi_up(stack: str) -> None:
    """`pulumi up` with the policy pack and the stack's pack configuration, as every workflow runs it,
    through the Automation API (it drives the Pulumi CLI)."""
    if shutil.which("pulumi") is None:
        raise DeployError(f"the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/); to apply, run: "
                          f"pulumi stack select {stack} && pulumi up --policy-pack policy "
                          f"--policy-pack-config <(hoist policy-config --stack {stack})")
    from pulumi import automation

    from hoist.plan.policies import pack_config
    from infra.stack_files import load_stack

    selected = automation.select_stack(stack_name=stack, work_dir=str(PROJECT_ROOT))
    with tempfile.TemporaryDirectory(prefix="hoist-policy-") as tmp:
        # Without it the pack's GPU rules would judge against their defaults, not this stack's allowances.
        config = Path(tmp) / "policy-config.json"
        config.write_text(json.dumps(pack_config(load_stack(stack)), indent=2, sort_keys=True))
        try:
            selected.up(on_output=print, policy_packs=[str(PROJECT_ROOT / "policy")],
                        policy_pack_configs=[str(config)])
        except automation.CommandError as exc:
            # A rollback makes the update fail; the endpoint's own state is read next either way.
            print(f"hoist deploy: pulumi up failed: {str(exc).strip().splitlines()[-1]}")


def apply(stack: str, cfg: StackConfig, outputs: StackOutputs, previous_text: str, *, sagemaker: Any,
          cloudwatch: Any, up: Callable[[str], None] = pulumi_up, poll_s: float = 15.0,
          sleep: Callable[[float], None] = time.sleep) -> Rollout:
    """Apply the promotion written into the stack's file and follow it; restore the file on rollback."""
    if cfg.endpoint is None or not cfg.endpoint.allow_apply:
        raise DeployError(f"stack {stack} does not allow --apply (hoist:endpoint.allow_apply); "
                          "open a pull request with the change instead")
    if outputs.endpoint is None:
        raise DeployError(f"stack {stack} exports no endpoint; run `pulumi up` once first")
    endpoint = outputs.endpoint.name
    before = sagemaker.describe_endpoint(EndpointName=endpoint).get("EndpointConfigName", "")
    up(stack)
    rollout = follow_rollout(sagemaker, endpoint, before, poll_s=poll_s, sleep=sleep)
    if rollout.rolled_back:
        stack_edits.restore(stack, previous_text)
        fired = firing_alarms(cloudwatch, list(alarm_names(endpoint, cfg.endpoint.engine).values()))
        cause = f"alarm {', '.join(fired)} fired" if fired else "no rollback alarm is in ALARM now"
        raise DeployError(f"SageMaker rolled endpoint {endpoint} back ({' -> '.join(rollout.statuses)}): {cause}; "
                          f"restored stacks/Pulumi.{stack}.yaml")
    return rollout
