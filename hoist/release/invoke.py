"""`hoist invoke`: call a stack's endpoint once, or stream an LLM's answer token by token.

A streamed answer arrives from SageMaker (InvokeEndpointWithResponseStream) as EventStream
``PayloadPart`` events whose boundaries fall anywhere: inside a server-sent-event line, even inside a
UTF-8 character. The bytes are joined and cut only at line ends (a newline byte never occurs inside a
multi-byte UTF-8 character), so each ``data:`` line is decoded whole. The LLM engine answers with
OpenAI chunks: chat deltas (``choices[0].delta.content``) or completion text (``choices[0].text``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hoist.errors import CommandFailed
from hoist.release.capacity import CapacityWait


class InvokeError(CommandFailed):
    """A call that failed or a body that cannot be sent; one line."""


def read_body(value: str) -> bytes:
    """``--body``: JSON text, or ``@file``."""
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise InvokeError(f"--body {value}: no such file")
        return path.read_bytes()
    try:
        json.loads(value)
    except ValueError as exc:
        raise InvokeError(f"--body: not JSON ({exc}); pass JSON text or @file") from None
    return value.encode()


def streaming_body(body: bytes) -> bytes:
    """The body with ``"stream": true``: a chat (``messages``) or completion (``prompt``) request."""
    try:
        request = json.loads(body)
    except ValueError as exc:
        raise InvokeError(f"--body: not JSON ({exc})") from None
    if not isinstance(request, dict) or not ({"messages", "prompt"} & set(request)):
        raise InvokeError("--stream: the body must be an OpenAI chat request (messages) or completion request "
                          "(prompt)")
    return json.dumps({**request, "stream": True}).encode()


def invoke(runtime: Any, endpoint: str, body: bytes, content_type: str, accept: str,
           component: str | None = None, wait: CapacityWait | None = None) -> tuple[str, float]:
    """Call the endpoint once; returns the answer's text and the round-trip latency in ms of the call that was
    answered. With ``wait``, a model scaled to zero is called again until a copy answers (capacity.py)."""
    extra = {"InferenceComponentName": component} if component else {}

    def send() -> tuple[Any, float]:
        started = time.perf_counter()
        answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type,
                                         Accept=accept, **extra)
        return answer, (time.perf_counter() - started) * 1000

    answer, latency = wait.call(send) if wait else send()
    return answer["Body"].read().decode(errors="replace"), latency


def payload_parts(events: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The bytes of each ``PayloadPart``; a stream error event ends the call with its message."""
    for event in events:
        if "PayloadPart" in event:
            yield bytes(event["PayloadPart"].get("Bytes", b""))
        for failure in ("ModelStreamError", "InternalStreamFailure"):
            if failure in event:
                raise InvokeError(f"the endpoint's stream failed ({failure}): {event[failure].get('Message', '')}")


def sse_data(parts: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent-event stream's ``data:`` lines, however its bytes were cut."""
    pending = b""
    for part in parts:
        pending += part
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield from _event(line)
    yield from _event(pending)


def _event(line: bytes) -> Iterator[dict[str, Any]]:
    text = line.decode().strip()
    if not text.startswith("data:"):
        return
    data = text.removeprefix("data:").strip()
    if data == "[DONE]":
        return
    event = json.loads(data)
    if isinstance(event, dict) and "error" in event:
        raise InvokeError(f"the engine reported an error: {event['error']}")
    if isinstance(event, dict):
        yield event


def text_pieces(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The generated text of OpenAI chunks, in order (chat deltas or completion text)."""
    for event in events:
        for choice in event.get("choices", []):
            piece = choice.get("delta", {}).get("content") if "delta" in choice else choice.get("text")
            if piece:
                yield str(piece)


def invoke_stream(runtime: Any, endpoint: str, body: bytes, component: str | None = None,
                  wait: CapacityWait | None = None) -> Iterator[str]:
    """Stream an LLM's answer from the endpoint, piece by piece as the tokens arrive. A model at zero refuses
    the call itself, before any byte: with ``wait``, that call is made again until a copy answers."""
    extra = {"InferenceComponentName": component} if component else {}
    request = streaming_body(body)

    def send() -> Any:
        return runtime.invoke_endpoint_with_response_stream(
            EndpointName=endpoint, Body=request, ContentType="application/json", Accept="text/event-stream",
            **extra)

    response = wait.call(send) if wait else send()
    yield from text_pieces(sse_data(payload_parts(response["Body"])))
