"""`hoist invoke`: one call, and an LLM's answer streamed from InvokeEndpointWithResponseStream,
reassembled from PayloadPart events cut at any byte (inside a line, inside a UTF-8 character)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from hoist import cli
from hoist.release import invoke
from tests.hoist.release.eventstream import streaming_endpoint

RECORDED = (Path(__file__).parent / "data" / "chat-stream.sse").read_bytes()
"""A streamed chat completion as the LLM engine (vLLM 0.31, the tiny model) sent it for "48+27"."""
UNICODE = b"".join(
    b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}, ensure_ascii=False).encode()
    + b"\n\n" for piece in ("Caf\u00e9 ", "co\u00fbte ", "3 \u20ac ", "\U0001F600")) + b"data: [DONE]\n\n"


def _runtime(endpoint_url: str | None = None) -> Any:
    return boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url=endpoint_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.mark.parametrize(("stream", "text"), [(RECORDED, "75"), (UNICODE, "Caf\u00e9 co\u00fbte 3 \u20ac \U0001F600")])
def test_every_cut_of_the_stream_gives_the_same_text(stream: bytes, text: str) -> None:
    assert "".join(invoke.text_pieces(invoke.sse_data([stream]))) == text
    for cut in range(1, len(stream)):
        parts = [stream[:cut], stream[cut:]]
        assert "".join(invoke.text_pieces(invoke.sse_data(parts))) == text, cut
    one_byte_each = [stream[i:i + 1] for i in range(len(stream))]
    assert "".join(invoke.text_pieces(invoke.sse_data(one_byte_each))) == text


def test_the_stream_is_read_through_botocores_own_event_stream_parser() -> None:
    parts = [UNICODE[i:i + 7] for i in range(0, len(UNICODE), 7)]  # 7 bytes: many cuts inside characters
    with streaming_endpoint(parts) as (url, requests):
        pieces = list(invoke.invoke_stream(_runtime(url), "hoist-dev",
                                           b'{"messages": [{"role": "user", "content": "hi"}]}'))
    assert "".join(pieces) == "Caf\u00e9 co\u00fbte 3 \u20ac \U0001F600" and len(pieces) == 4
    (path, headers, sent), = requests
    assert path == "/endpoints/hoist-dev/invocations-response-stream"
    assert json.loads(sent) == {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    assert headers["X-Amzn-SageMaker-Accept"] == "text/event-stream"


def test_a_stream_error_event_ends_the_call_in_one_line() -> None:
    chunk = b'data: {"choices": [{"delta": {"content": "4"}}]}\n'
    events: list[dict[str, Any]] = [{"PayloadPart": {"Bytes": chunk}},
                                    {"ModelStreamError": {"Message": "engine died", "ErrorCode": "500"}}]
    with pytest.raises(invoke.InvokeError, match=r"stream failed \(ModelStreamError\): engine died"):
        list(invoke.text_pieces(invoke.sse_data(invoke.payload_parts(events))))


@pytest.mark.parametrize(("body", "message"), [
    (b'{"inputs": "1+1"}', "the body must be an OpenAI chat request"),
    (b"[1, 2]", "the body must be an OpenAI chat request"),
])
def test_a_body_that_cannot_stream_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(invoke.InvokeError, match=message):
        invoke.streaming_body(body)


def test_invoke_sends_the_body_and_reports_latency() -> None:
    runtime = _runtime()
    stub = Stubber(runtime)
    answer = b'{"outputs": ["579"]}'
    stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(answer), len(answer)),
                                          "ContentType": "application/json"},
                      {"EndpointName": "hoist-dev", "Body": b'{"inputs": ["123+456"]}',
                       "ContentType": "application/json", "Accept": "application/json"})
    with stub:
        text, latency = invoke.invoke(runtime, "hoist-dev", b'{"inputs": ["123+456"]}', "application/json",
                                      "application/json")
    assert text == answer.decode() and latency >= 0
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(("body", "message"), [
    ("{not json", "--body: not JSON"),
    ("@/no/such/file.json", "--body @/no/such/file.json: no such file"),
])
def test_bad_invoke_input_is_one_line(body: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["invoke", "--stack", "dev", "--body", body, "--offline"]) == 1
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_cli_streams_tokens_to_stdout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with streaming_endpoint([RECORDED[:101], RECORDED[101:]]) as (url, requests):
        for key, value in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            monkeypatch.setenv(key, value)
        body = '{"messages": [{"role": "user", "content": "48+27"}], "max_tokens": 8}'
        assert cli.main(["invoke", "--stack", "dev", "--model", "reference", "--offline", "--stream",
                         "--body", body]) == 0
    captured = capsys.readouterr()
    assert captured.out == "75\n" and "hoist invoke: hoist-dev-reference answered in" in captured.err
    (path, headers, sent), = requests
    assert json.loads(sent)["stream"] is True
    # Dev serves two models: the stream goes to the endpoint, addressed to one inference component.
    assert path == "/endpoints/hoist-dev/invocations-response-stream"
    assert headers["X-Amzn-SageMaker-Inference-Component"] == "hoist-dev-reference"
