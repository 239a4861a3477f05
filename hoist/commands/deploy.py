"""`hoist deploy` and `hoist invoke`: promote a model to a stack's endpoint, and call the endpoint."""

from __future__ import annotations

import argparse
import difflib
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from hoist import outputs as stack_outputs
from hoist.release import capacity, components, llm_chat
from hoist.release import deploy as release
from hoist.release import invoke as calls
from hoist.release.llm_checks import check_llm_artifact
from infra.config import EndpointConfig, InferenceComponentsConfig, StackConfig
from infra.stack_files import ConfigError, load_stack, stack_file
from training.llm import artifact


def deploy(args: argparse.Namespace) -> int:
    cfg = load_stack(args.stack)
    if cfg.inference_components is not None:
        return _deploy_component(args, cfg, cfg.inference_components)
    if cfg.endpoint is None:
        raise ConfigError(f"stack {args.stack} has no hoist:endpoint section; add one to serve a model")
    if args.model is not None:
        raise ConfigError(f"--model {args.model}: stack {args.stack} serves one model (hoist:endpoint); leave "
                          "--model out")
    # Refusals that need no artifact come first, so nothing is fetched or changed for nothing.
    if args.apply and not cfg.endpoint.allow_apply:
        raise release.DeployError(f"stack {args.stack} does not allow --apply (hoist:endpoint.allow_apply is false); "
                                  "open a pull request with the change instead")
    _need_pulumi(args)
    outputs = stack_outputs.load(args.stack, outputs_file=args.outputs, offline=args.offline)
    if cfg.endpoint.engine == "vllm":
        key = release.llm_prefix(args.model_uri, outputs)
        previous = release.promote_llm(args.stack, key, _check_llm(args, cfg.endpoint), args.image_digest)
    else:
        key = release.model_key(args.model_uri, outputs)
        _check_classic(args, outputs, key)
        previous = release.promote(args.stack, key, args.image_digest)
    if not _show_change(args.stack, previous, key):
        return 0
    if args.apply:
        rollout = release.apply(args.stack, load_stack(args.stack), outputs, previous,
                                sagemaker=boto3.client("sagemaker", region_name=outputs.region),
                                cloudwatch=boto3.client("cloudwatch", region_name=outputs.region))
        print(f"hoist deploy: rolled out ({' -> '.join(rollout.statuses)}); endpoint config {rollout.config_after}",
              file=sys.stderr)
    return 0


def _deploy_component(args: argparse.Namespace, cfg: StackConfig, shared: InferenceComponentsConfig) -> int:
    """Promote one model of a shared endpoint, with the same checks as a single-model endpoint."""
    name, model = components.chosen_model(shared, args.stack, args.model)
    components.check_image_digest(shared, name, args.image_digest)
    if args.apply and not shared.allow_apply:
        raise release.DeployError(f"stack {args.stack} does not allow --apply (hoist:inference_components.allow_apply "
                                  "is false); open a pull request with the change instead")
    _need_pulumi(args)
    outputs = stack_outputs.load(args.stack, outputs_file=args.outputs, offline=args.offline)
    if model.engine == "vllm":
        key = release.llm_prefix(args.model_uri, outputs)
        # The LLM checks judge the artifact against the GPUs one copy gets on the endpoint's instance type.
        view = EndpointConfig(engine="vllm", model_key=model.model_key, instance_type=shared.instance_type,
                              llm=model.llm)
        previous = components.promote(args.stack, name, key, args.image_digest, "vllm", _check_llm(args, view))
    else:
        key = release.model_key(args.model_uri, outputs)
        _check_classic(args, outputs, key)
        previous = components.promote(args.stack, name, key, args.image_digest, "classic")
    if not _show_change(args.stack, previous, key):
        return 0
    if args.apply:
        rollout = components.apply(args.stack, load_stack(args.stack), outputs, name, previous,
                                   sagemaker=boto3.client("sagemaker", region_name=outputs.region),
                                   cloudwatch=boto3.client("cloudwatch", region_name=outputs.region))
        print(f"hoist deploy: {rollout.component} rolled out ({' -> '.join(rollout.statuses)})", file=sys.stderr)
    return 0


def _need_pulumi(args: argparse.Namespace) -> None:
    if args.apply and shutil.which("pulumi") is None:
        model = f" --model {args.model}" if args.model else ""
        raise release.DeployError(f"--apply needs the Pulumi CLI (https://www.pulumi.com/docs/install/); or run: "
                                  f"hoist deploy --stack {args.stack}{model} --model-uri {args.model_uri} && "
                                  f"pulumi stack select {args.stack} && pulumi up --policy-pack policy "
                                  f"--policy-pack-config <(hoist policy-config --stack {args.stack})")


def _check_classic(args: argparse.Namespace, outputs: stack_outputs.StackOutputs, key: str) -> None:
    """The model.tar.gz exists in the models bucket, has the SageMaker layout and answers the sample."""
    with tempfile.TemporaryDirectory(prefix="hoist-deploy-") as tmp:
        archive = release.fetch(boto3.client("s3", region_name=outputs.region), outputs.buckets["models"].name,
                                key, Path(tmp) / "model.tar.gz")
        release.check_layout(archive)
        latency = release.check_serves(archive, Path(tmp) / "check", args.sample)
    print(f"hoist deploy: {args.model_uri} has the SageMaker layout and answered the sample in {latency:.0f} ms",
          file=sys.stderr)


def _show_change(stack: str, previous: str, key: str) -> bool:
    """Print the stack file's change as a diff; False when there is none."""
    current = stack_file(stack).read_text()
    if current == previous:
        print(f"hoist deploy: stack {stack} already serves {key}; nothing to change", file=sys.stderr)
        return False
    name = f"stacks/Pulumi.{stack}.yaml"
    sys.stdout.writelines(difflib.unified_diff(previous.splitlines(True), current.splitlines(True),
                                               f"a/{name}", f"b/{name}"))
    return True


def _check_llm(args: argparse.Namespace, endpoint: EndpointConfig) -> dict[str, Any]:
    """Download and check the LLM artifact; returns the engine settings to write (with the artifact's size)."""
    if endpoint.llm is None:
        raise release.DeployError("hoist:endpoint.llm: a vLLM endpoint needs its engine settings")
    with tempfile.TemporaryDirectory(prefix="hoist-deploy-") as tmp:
        try:
            artifact.fetch(args.model_uri, Path(tmp) / "model")
        except (artifact.ArtifactError, OSError, BotoCoreError, ClientError) as exc:
            raise release.DeployError(f"--model-uri {args.model_uri}: {exc}") from None
        check = check_llm_artifact(Path(tmp) / "model", endpoint)
        print(f"hoist deploy: {args.model_uri} matches its manifest; {check.model_gb:.3f} GB, needs "
              f"{check.needed_gb:.1f} of {check.usable_gb:.1f} GB usable on {endpoint.instance_type} (KV cache "
              f"{check.kv_bytes_per_token} bytes a token)", file=sys.stderr)
        if check.warning:
            print(f"hoist deploy: warning: {check.warning}", file=sys.stderr)
        # Last, as it is the slowest: the model must answer a chat request in the engine that will serve it.
        chat = llm_chat.check_chat(Path(tmp) / "model", Path(tmp) / "logs", endpoint.llm)
    print(f"hoist deploy: the local engine answered a chat request through /invocations in {chat.latency_ms:.0f} ms "
          f"({chat.tokens} tokens)", file=sys.stderr)
    # Round the size up, so the timeouts derived from it never fall short.
    return {**endpoint.llm.model_dump(exclude_unset=True), "model_gb": math.ceil(check.model_gb * 1000) / 1000,
            "kv_bytes_per_token": check.kv_bytes_per_token}


def invoke(args: argparse.Namespace) -> int:
    body = calls.read_body(args.body)
    if args.wait_for_capacity < 0:
        raise ConfigError(f"--wait-for-capacity {args.wait_for_capacity}: a number of seconds, 0 or more "
                          f"(0: do not wait for a model that has scaled to zero)")
    outputs = stack_outputs.load(args.stack, outputs_file=args.outputs, offline=args.offline)
    if outputs.endpoint is None:
        raise ConfigError(f"stack {args.stack} exports no endpoint")
    component = _component(args.stack, outputs.endpoint, args.model)
    target = component or outputs.endpoint.name
    # Only a component can have no copy running (a single-model endpoint keeps at least one instance).
    wait = capacity.CapacityWait(args.model or target, args.wait_for_capacity,
                                 say=lambda line: print(f"hoist invoke: {line}", file=sys.stderr)) \
        if component else None
    if component and capacity.copies_running(boto3.client("sagemaker", region_name=outputs.region), component) == 0:
        waiting = f"waiting up to {args.wait_for_capacity} s" if args.wait_for_capacity else "not waiting"
        print(f"hoist invoke: {args.model or target} has no copy running (scaled to zero); SageMaker starts one "
              f"when this call is refused, which takes several minutes ({waiting}: --wait-for-capacity)",
              file=sys.stderr)
    runtime = boto3.client("sagemaker-runtime", region_name=outputs.region)
    started = time.perf_counter()
    try:
        if args.stream:
            for piece in calls.invoke_stream(runtime, outputs.endpoint.name, body, component, wait):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            latency = (time.perf_counter() - started) * 1000 - (wait.waited_s * 1000 if wait else 0)
        else:
            answer, latency = calls.invoke(runtime, outputs.endpoint.name, body, args.content_type, args.accept,
                                           component, wait)
            sys.stdout.write(answer + "\n")
    except (BotoCoreError, ClientError) as exc:
        raise calls.InvokeError(f"invoking {target} failed: {exc}") from None
    waited = f" (after {wait.waited_s:.0f} s waiting for a copy to start)" if wait and wait.waited_s >= 1 else ""
    print(f"hoist invoke: {target} answered in {latency:.1f} ms{waited}", file=sys.stderr)
    return 0


def _component(stack: str, endpoint: stack_outputs.EndpointOutput, model: str | None) -> str | None:
    """The inference component ``--model`` names (InvokeEndpoint's InferenceComponentName); None for a
    single-model endpoint."""
    if not endpoint.components:
        if model is not None:
            raise ConfigError(f"--model {model}: stack {stack}'s endpoint serves one model; leave --model out")
        return None
    return endpoint.components[components.model_named(list(endpoint.components), stack, model, ConfigError)]
