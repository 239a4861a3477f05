"""One model of dev's shared endpoint: `hoist deploy --model NAME` checks the artifact as for a single-model
endpoint, writes that model's key, and follows (and on rollback undoes) its component's rolling update;
`hoist invoke --model NAME` sends InvokeEndpoint's InferenceComponentName. S3 is moto's; SageMaker, CloudWatch
and the runtime are botocore Stubbers; the artifact is served by the real server."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from hoist import cli
from hoist.outputs import StackOutputs, from_mapping
from hoist.plan import recording
from hoist.release import capacity, components
from hoist.release.deploy import DeployError
from infra import stack_files
from infra.stack_files import load_stack
from tests.hoist.release.test_deploy import DIGEST, reference_archive, upload

__all__ = ["reference_archive"]  # the module-scoped fixture, shared with the single-model tests


@pytest.fixture
def dev(tmp_path: Path, stacks_copy: Path, fake_aws_credentials: None) -> tuple[Path, StackOutputs]:
    """A copy of the stack files and the dev stack's outputs: two models on one endpoint."""
    outputs = recording.record("dev").outputs
    outputs_file = tmp_path / "dev-outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    return outputs_file, from_mapping(outputs, "offline")


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


@pytest.mark.timeout(300)
def test_deploy_model_checks_the_artifact_then_writes_that_models_key(
        dev: tuple[Path, StackOutputs], reference_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, outputs = dev
    before = stack_files.stack_file("dev").read_text()
    with mock_aws():
        uri = upload(outputs, reference_archive, "runs/2026-12-02/model.tar.gz")
        assert cli.main(["deploy", "--stack", "dev", "--model", "reference-int8", "--model-uri", uri,
                         "--outputs", str(outputs_file)]) == 0
    captured = capsys.readouterr()
    assert "answered the sample" in captured.err
    shared = load_stack("dev").inference_components
    assert shared is not None
    assert shared.models["reference-int8"].model_key == "runs/2026-12-02/model.tar.gz"
    assert shared.models["reference"].model_key == "runs/reference/model.tar.gz"
    changed = [line for line in stack_files.stack_file("dev").read_text().splitlines()
               if line not in before.splitlines()]
    assert changed == ["        model_key: runs/2026-12-02/model.tar.gz"]
    assert "+        model_key: runs/2026-12-02/model.tar.gz" in captured.out


@pytest.mark.parametrize(("argv", "says"), [
    ([], "serves 2 models; name one with --model (reference, reference-int8)"),
    (["--model", "chat"], "--model chat: stack dev serves reference, reference-int8"),
])
def test_deploy_needs_a_model_it_serves(argv: list[str], says: str, dev: tuple[Path, StackOutputs],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, _ = dev
    before = stack_files.stack_file("dev").read_text()
    assert cli.main(["deploy", "--stack", "dev", "--model-uri", "s3://b/runs/x/model.tar.gz", *argv,
                     "--outputs", str(outputs_file)]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert says in error and "\n" not in error
    assert stack_files.stack_file("dev").read_text() == before


def test_an_image_digest_shared_with_another_model_is_refused(dev: tuple[Path, StackOutputs],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The serving image is every classic model's: a new digest for one would roll the other's component."""
    outputs_file, _ = dev
    before = stack_files.stack_file("dev").read_text()
    assert cli.main(["deploy", "--stack", "dev", "--model", "reference-int8", "--model-uri",
                     "s3://b/runs/x/model.tar.gz", "--image-digest", DIGEST, "--outputs", str(outputs_file)]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--image-digest: the classic image also serves reference, whose components it would roll too" in error
    assert stack_files.stack_file("dev").read_text() == before
    shared = load_stack("dev").inference_components
    assert shared is not None
    components.check_image_digest(shared, "reference", None)


def test_an_image_digest_for_a_models_own_engine_is_allowed(stacks_copy: Path) -> None:
    from tests.infra.test_inference_components import GPU_COMPONENTS, LLM_DIGEST, stack_with

    stack_with(stacks_copy, "dev", GPU_COMPONENTS, llm=LLM_DIGEST)
    shared = load_stack("dev").inference_components
    assert shared is not None
    components.check_image_digest(shared, "assistant", DIGEST)
    with pytest.raises(DeployError, match="also serves"):
        components.check_image_digest(shared.model_copy(update={"models": {
            **shared.models, "second": shared.models["assistant"]}}), "assistant", DIGEST)


def described(status: str, artifact: str) -> dict[str, Any]:
    return {"InferenceComponentName": "hoist-dev-reference", "InferenceComponentArn":
            "arn:aws:sagemaker:us-east-1:111122223333:inference-component/hoist-dev-reference",
            "EndpointName": "hoist-dev", "EndpointArn": "arn:aws:sagemaker:us-east-1:111122223333:endpoint/hoist-dev",
            "CreationTime": "2026-12-02T00:00:00Z", "LastModifiedTime": "2026-12-02T00:00:00Z",
            "InferenceComponentStatus": status, "Specification": {"Container": {"ArtifactUrl": artifact}}}


def test_a_rolled_back_component_restores_the_file_and_names_its_alarm(dev: tuple[Path, StackOutputs]) -> None:
    _, outputs = dev
    old = f"s3://{outputs.buckets['models'].name}/runs/reference/model.tar.gz"
    previous = components.promote("dev", "reference", "runs/bad/model.tar.gz", None, "classic")
    sagemaker, sm_stub = stubbed("sagemaker")
    cloudwatch, cw_stub = stubbed("cloudwatch")
    for status in ("Updating", "Updating", "InService"):
        sm_stub.add_response("describe_inference_component", described(status, old),
                             {"InferenceComponentName": "hoist-dev-reference"})
    cw_stub.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "hoist-dev-reference-5xx-errors", "StateValue": "ALARM"}]},
        {"AlarmNames": ["hoist-dev-reference-5xx-errors"]})
    ran: list[str] = []
    with sm_stub, cw_stub, pytest.raises(DeployError) as error:
        components.apply("dev", load_stack("dev"), outputs, "reference", previous, sagemaker=sagemaker,
                         cloudwatch=cloudwatch, up=ran.append, sleep=lambda _: None)
    assert ran == ["dev"]
    message = str(error.value)
    assert "rolled hoist-dev-reference back (Updating -> Updating -> InService" in message
    assert "alarm hoist-dev-reference-5xx-errors fired" in message and "\n" not in message
    assert stack_files.stack_file("dev").read_text() == previous
    sm_stub.assert_no_pending_responses()
    cw_stub.assert_no_pending_responses()


def test_a_component_that_takes_the_new_artifact_keeps_the_promotion(dev: tuple[Path, StackOutputs]) -> None:
    _, outputs = dev
    new = f"s3://{outputs.buckets['models'].name}/runs/good/model.tar.gz"
    previous = components.promote("dev", "reference", "runs/good/model.tar.gz", None, "classic")
    sagemaker, sm_stub = stubbed("sagemaker")
    sm_stub.add_response("describe_inference_component", described("Updating", new))
    sm_stub.add_response("describe_inference_component", described("InService", new))
    with sm_stub:
        rollout = components.apply("dev", load_stack("dev"), outputs, "reference", previous, sagemaker=sagemaker,
                                   cloudwatch=None, up=lambda stack: None, sleep=lambda _: None)
    assert rollout.statuses == ("Updating", "InService") and rollout.artifact == new
    shared = load_stack("dev").inference_components
    assert shared is not None and shared.models["reference"].model_key == "runs/good/model.tar.gz"


def copies(count: int) -> Any:
    """A SageMaker client whose component reports ``count`` copies running (DescribeInferenceComponent)."""
    sagemaker, stub = stubbed("sagemaker")
    stub.add_response("describe_inference_component", {
        **described("InService", ""), "InferenceComponentName": "hoist-dev-reference-int8",
        "RuntimeConfig": {"DesiredCopyCount": count, "CurrentCopyCount": count}},
        {"InferenceComponentName": "hoist-dev-reference-int8"})
    stub.activate()
    return sagemaker


def by_service(runtime: Any, sagemaker: Any) -> Any:
    return lambda service, *args, **kwargs: sagemaker if service == "sagemaker" else runtime


def _answer(text: str) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(text.encode()), len(text)), "ContentType": "application/json"}


def test_invoke_model_names_its_inference_component(dev: tuple[Path, StackOutputs], monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, _ = dev
    runtime, stub = stubbed("sagemaker-runtime")
    stub.add_response("invoke_endpoint", _answer('{"outputs": ["3"]}'), {
        "EndpointName": "hoist-dev", "InferenceComponentName": "hoist-dev-reference-int8",
        "Body": b'{"inputs": ["1+2"]}', "ContentType": "application/json", "Accept": "application/json"})
    monkeypatch.setattr(boto3, "client", by_service(runtime, copies(1)))
    with stub:
        assert cli.main(["invoke", "--stack", "dev", "--model", "reference-int8", "--body", '{"inputs": ["1+2"]}',
                         "--outputs", str(outputs_file)]) == 0
    captured = capsys.readouterr()
    assert captured.out == '{"outputs": ["3"]}\n' and "hoist-dev-reference-int8 answered in" in captured.err
    stub.assert_no_pending_responses()


def test_invoke_without_a_model_on_a_shared_endpoint_says_which(dev: tuple[Path, StackOutputs],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, _ = dev
    assert cli.main(["invoke", "--stack", "dev", "--body", "{}", "--outputs", str(outputs_file)]) == 2
    assert "name one with --model (reference, reference-int8)" in capsys.readouterr().err


def test_an_llm_model_is_promoted_from_its_prefix_only(stacks_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An LLM component takes the uncompressed artifact's prefix; a tarball is refused before anything is read."""
    from tests.infra.test_inference_components import GPU_COMPONENTS, LLM_DIGEST, stack_with

    stack_with(stacks_copy, "dev", GPU_COMPONENTS, llm=LLM_DIGEST)
    before = stack_files.stack_file("dev").read_text()
    assert cli.main(["deploy", "--stack", "dev", "--model", "assistant", "--model-uri",
                     "s3://hoist-dev-models/runs/x/model.tar.gz", "--offline"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "expected s3://" in error and "the exported LLM artifact's prefix" in error
    assert stack_files.stack_file("dev").read_text() == before


# A model at zero: SageMaker refuses the call with this error while a copy starts (hoist/release/capacity.py).
NO_CAPACITY = ("Inference Component has no capacity to process this request. ApplicationAutoScaling may be "
               "in-progress (if configured) or try to increase the capacity by invoking "
               "UpdateInferenceComponentRuntimeConfig API.")
INVOKE = {"EndpointName": "hoist-dev", "InferenceComponentName": "hoist-dev-reference-int8",
          "Body": b'{"inputs": ["1+2"]}', "ContentType": "application/json", "Accept": "application/json"}


class FakeTime:
    """A clock that moves only when slept on, so a wait of minutes takes no time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _invoke_dev(outputs_file: Path, monkeypatch: pytest.MonkeyPatch, runtime: Any, *argv: str,
                running: int = 0) -> tuple[int, FakeTime]:
    fake = FakeTime()
    monkeypatch.setattr(capacity, "time", fake)
    monkeypatch.setattr(boto3, "client", by_service(runtime, copies(running)))
    code = cli.main(["invoke", "--stack", "dev", "--model", "reference-int8", "--body", '{"inputs": ["1+2"]}',
                     "--outputs", str(outputs_file), *argv])
    return code, fake


def test_invoke_waits_while_a_model_at_zero_starts_a_copy(dev: tuple[Path, StackOutputs],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, _ = dev
    runtime, stub = stubbed("sagemaker-runtime")
    for _ in range(2):
        stub.add_client_error("invoke_endpoint", "ValidationError", NO_CAPACITY, 400, expected_params=INVOKE)
    stub.add_response("invoke_endpoint", _answer('{"outputs": ["3"]}'), INVOKE)
    with stub:
        code, fake = _invoke_dev(outputs_file, monkeypatch, runtime)
    assert code == 0
    stub.assert_no_pending_responses()
    assert fake.slept == [5.0, 10.0]
    captured = capsys.readouterr()
    assert captured.out == '{"outputs": ["3"]}\n'
    assert ("hoist invoke: reference-int8 has no copy running (scaled to zero); SageMaker starts one when this call "
            "is refused, which takes several minutes (waiting up to 900 s: --wait-for-capacity)") in captured.err
    waiting = [line for line in captured.err.splitlines() if "no copy of" in line]
    assert waiting == [
        "hoist invoke: no copy of reference-int8 is running; SageMaker is starting one (scale from zero) — "
        "waiting, 0 s so far",
        "hoist invoke: no copy of reference-int8 is running; SageMaker is starting one (scale from zero) — "
        "waiting, 5 s so far"]
    assert "answered in" in captured.err and "(after 15 s waiting for a copy to start)" in captured.err


@pytest.mark.parametrize(("code", "message"), [
    ("ValidationError", "Received client error (400) from primary with message \"Bad input\""),
    ("ModelError", NO_CAPACITY),  # the same words under another code are not the no-copy refusal
    ("ThrottlingException", "Rate exceeded"),
])
def test_any_other_error_fails_at_once(code: str, message: str, dev: tuple[Path, StackOutputs],
                                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, _ = dev
    runtime, stub = stubbed("sagemaker-runtime")
    stub.add_client_error("invoke_endpoint", code, message, 400, expected_params=INVOKE)
    with stub:
        exit_code, fake = _invoke_dev(outputs_file, monkeypatch, runtime, running=1)
    assert exit_code == 1 and fake.slept == []
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "invoking hoist-dev-reference-int8 failed" in error and code in error and "no copy" not in error


@pytest.mark.parametrize(("wait", "slept", "says"), [
    ("60", [5.0, 10.0, 20.0, 25.0], "no copy of reference-int8 came up within --wait-for-capacity 60 s (60 s waited)"),
    ("0", [], "no copy of reference-int8 is running; SageMaker is starting one (scale from zero, several minutes): "
              "retry later, or pass --wait-for-capacity SECONDS"),
])
def test_the_wait_is_bounded(wait: str, slept: list[float], says: str, dev: tuple[Path, StackOutputs],
                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, _ = dev
    runtime, stub = stubbed("sagemaker-runtime")
    for _ in range(len(slept) + 1):
        stub.add_client_error("invoke_endpoint", "ValidationError", NO_CAPACITY, 400, expected_params=INVOKE)
    with stub:
        code, fake = _invoke_dev(outputs_file, monkeypatch, runtime, "--wait-for-capacity", wait)
    assert code == 1 and fake.slept == slept
    stub.assert_no_pending_responses()
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert says in error


def test_a_negative_wait_is_refused(dev: tuple[Path, StackOutputs], capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, _ = dev
    assert cli.main(["invoke", "--stack", "dev", "--model", "reference", "--body", "{}", "--wait-for-capacity",
                     "-1", "--outputs", str(outputs_file)]) == 2
    assert "--wait-for-capacity -1: a number of seconds, 0 or more" in capsys.readouterr().err


class OneEventStream:
    """The stubbed runtime, its one stubbed event given as the stream botocore would iterate (a Stubber answers
    an EventStream member with a single event's shape)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def invoke_endpoint_with_response_stream(self, **params: Any) -> dict[str, Any]:
        response = self.runtime.invoke_endpoint_with_response_stream(**params)
        return {**response, "Body": [response["Body"]]}


def test_a_stream_waits_for_a_copy_before_its_first_byte(dev: tuple[Path, StackOutputs],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, _ = dev
    runtime, stub = stubbed("sagemaker-runtime")
    request = {"EndpointName": "hoist-dev", "InferenceComponentName": "hoist-dev-reference-int8",
               "Body": b'{"prompt": "1+2", "stream": true}', "ContentType": "application/json",
               "Accept": "text/event-stream"}
    stub.add_client_error("invoke_endpoint_with_response_stream", "ValidationError", NO_CAPACITY, 400,
                          expected_params=request)
    event = {"PayloadPart": {"Bytes": b'data: {"choices": [{"text": "3"}]}\n\ndata: [DONE]\n\n'}}
    stub.add_response("invoke_endpoint_with_response_stream", {"Body": event, "ContentType": "text/event-stream"},
                      request)
    fake = FakeTime()
    monkeypatch.setattr(capacity, "time", fake)
    monkeypatch.setattr(boto3, "client", by_service(OneEventStream(runtime), copies(0)))
    with stub:
        assert cli.main(["invoke", "--stack", "dev", "--model", "reference-int8", "--body", '{"prompt": "1+2"}',
                         "--stream", "--outputs", str(outputs_file)]) == 0
    stub.assert_no_pending_responses()
    captured = capsys.readouterr()
    assert captured.out == "3\n" and fake.slept == [5.0]
    assert "no copy of reference-int8 is running" in captured.err


def test_a_rolled_back_llm_component_names_its_engine_alarm(stacks_copy: Path, fake_aws_credentials: None) -> None:
    """An LLM's update rolls back on vLLM's token latencies too: the one that fired is named."""
    from tests.infra.test_inference_components import GPU_COMPONENTS, LLM_DIGEST, stack_with

    plan = stack_with(stacks_copy, "dev", {**GPU_COMPONENTS, "allow_apply": True}, llm=LLM_DIGEST)
    outputs = from_mapping(plan.outputs, "offline")
    previous = components.promote("dev", "assistant", "llm/assistant-8b/2026-12-02/", None, "vllm")
    sagemaker, sm_stub = stubbed("sagemaker")
    cloudwatch, cw_stub = stubbed("cloudwatch")
    sm_stub.add_response("describe_inference_component", {
        **described("Failed", ""), "InferenceComponentName": "hoist-dev-assistant",
        "Specification": {"ModelName": "assistant-model-1"}}, {"InferenceComponentName": "hoist-dev-assistant"})
    names = ["hoist-dev-assistant-5xx-errors", "hoist-dev-assistant-p99-ttft", "hoist-dev-assistant-p99-inter-token"]
    cw_stub.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "hoist-dev-assistant-p99-ttft", "StateValue": "ALARM"},
        {"AlarmName": "hoist-dev-assistant-5xx-errors", "StateValue": "OK"}]}, {"AlarmNames": names})
    with sm_stub, cw_stub, pytest.raises(DeployError) as error:
        components.apply("dev", load_stack("dev"), outputs, "assistant", previous, sagemaker=sagemaker,
                         cloudwatch=cloudwatch, up=lambda stack: None, sleep=lambda _: None)
    assert "alarm hoist-dev-assistant-p99-ttft fired" in str(error.value)
    assert stack_files.stack_file("dev").read_text() == previous
    cw_stub.assert_no_pending_responses()


def _llm_rollout(stacks_copy: Path, served_key: str) -> tuple[StackOutputs, str, Any, Stubber, Stubber]:
    """dev serving the assistant LLM, promoted to 2026-12-02, whose component settles InService on a model
    that reads ``served_key``."""
    from tests.infra.test_inference_components import GPU_COMPONENTS, LLM_DIGEST, stack_with

    plan = stack_with(stacks_copy, "dev", {**GPU_COMPONENTS, "allow_apply": True}, llm=LLM_DIGEST)
    outputs = from_mapping(plan.outputs, "offline")
    previous = components.promote("dev", "assistant", "llm/assistant-8b/2026-12-02/", None, "vllm")
    sagemaker, sm_stub = stubbed("sagemaker")
    cloudwatch, cw_stub = stubbed("cloudwatch")
    for status in ("Updating", "InService"):
        sm_stub.add_response("describe_inference_component", {
            **described(status, ""), "InferenceComponentName": "hoist-dev-assistant",
            "Specification": {"ModelName": "assistant-model-1"}}, {"InferenceComponentName": "hoist-dev-assistant"})
    uri = f"s3://{outputs.buckets['models'].name}/{served_key}"
    sm_stub.add_response("describe_model", {
        "ModelName": "assistant-model-1",
        "ModelArn": "arn:aws:sagemaker:us-east-1:111122223333:model/assistant-model-1",
        "CreationTime": "2026-12-02T00:00:00Z", "PrimaryContainer": {"Image": "x", "ModelDataSource": {
            "S3DataSource": {"S3Uri": uri, "S3DataType": "S3Prefix", "CompressionType": "None"}}}},
        {"ModelName": "assistant-model-1"})
    return outputs, previous, (sagemaker, cloudwatch), sm_stub, cw_stub


def test_an_llm_component_back_in_service_on_its_old_model_is_a_rollback(stacks_copy: Path,
                                                                         fake_aws_credentials: None) -> None:
    outputs, previous, (sagemaker, cloudwatch), sm_stub, cw_stub = _llm_rollout(
        stacks_copy, "llm/assistant-8b/2026-11-30/")
    names = ["hoist-dev-assistant-5xx-errors", "hoist-dev-assistant-p99-ttft", "hoist-dev-assistant-p99-inter-token"]
    cw_stub.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "hoist-dev-assistant-p99-inter-token", "StateValue": "ALARM"}]}, {"AlarmNames": names})
    with sm_stub, cw_stub, pytest.raises(DeployError) as error:
        components.apply("dev", load_stack("dev"), outputs, "assistant", previous, sagemaker=sagemaker,
                         cloudwatch=cloudwatch, up=lambda stack: None, sleep=lambda _: None)
    message = str(error.value)
    assert "rolled hoist-dev-assistant back (Updating -> InService" in message
    assert "llm/assistant-8b/2026-11-30/" in message and "alarm hoist-dev-assistant-p99-inter-token fired" in message
    assert stack_files.stack_file("dev").read_text() == previous
    sm_stub.assert_no_pending_responses()
    cw_stub.assert_no_pending_responses()


def test_an_llm_component_on_the_promoted_model_keeps_the_promotion(stacks_copy: Path,
                                                                    fake_aws_credentials: None) -> None:
    outputs, previous, (sagemaker, _), sm_stub, _ = _llm_rollout(stacks_copy, "llm/assistant-8b/2026-12-02/")
    with sm_stub:
        rollout = components.apply("dev", load_stack("dev"), outputs, "assistant", previous, sagemaker=sagemaker,
                                   cloudwatch=None, up=lambda stack: None, sleep=lambda _: None)
    assert rollout.artifact.endswith("/llm/assistant-8b/2026-12-02/")
    shared = load_stack("dev").inference_components
    assert shared is not None and shared.models["assistant"].model_key == "llm/assistant-8b/2026-12-02/"


def test_a_caller_who_may_not_describe_the_component_still_gets_the_wait(
        dev: tuple[Path, StackOutputs], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    outputs_file, _ = dev
    sagemaker, sm_stub = stubbed("sagemaker")
    sm_stub.add_client_error("describe_inference_component", "AccessDeniedException", "not authorized", 400)
    runtime, stub = stubbed("sagemaker-runtime")
    stub.add_client_error("invoke_endpoint", "ValidationError", NO_CAPACITY, 400, expected_params=INVOKE)
    stub.add_response("invoke_endpoint", _answer('{"outputs": ["3"]}'), INVOKE)
    monkeypatch.setattr(capacity, "time", FakeTime())
    monkeypatch.setattr(boto3, "client", by_service(runtime, sagemaker))
    with sm_stub, stub:
        assert cli.main(["invoke", "--stack", "dev", "--model", "reference-int8", "--body", '{"inputs": ["1+2"]}',
                         "--outputs", str(outputs_file)]) == 0
    err = capsys.readouterr().err
    assert "has no copy running" not in err and "no copy of reference-int8 is running" in err
    sm_stub.assert_no_pending_responses()
