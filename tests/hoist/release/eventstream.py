"""AWS event-stream messages (``application/vnd.amazon.eventstream``) encoded as SageMaker's runtime
sends them, and a local HTTP stand-in for InvokeEndpointWithResponseStream, so botocore's own
parser reads real bytes."""

from __future__ import annotations

import binascii
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


def _header(name: str, value: str) -> bytes:
    encoded = value.encode()
    return bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(encoded)) + encoded


def message(event_type: str, payload: bytes, content_type: str = "application/octet-stream") -> bytes:
    """One event-stream message: prelude (lengths and their CRC), headers, payload and a CRC of it all."""
    headers = (_header(":event-type", event_type) + _header(":content-type", content_type)
               + _header(":message-type", "event"))
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack(">I", binascii.crc32(body))


class _StreamingEndpoint(BaseHTTPRequestHandler):
    body: ClassVar[bytes] = b""
    requests: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        sent = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("X-Amz-Target", "").startswith("SageMaker."):
            # The control plane (hoist invoke's DescribeInferenceComponent): a caller who may only invoke.
            refusal = b'{"__type": "AccessDeniedException", "message": "not authorized"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(refusal)))
            self.end_headers()
            self.wfile.write(refusal)
            return
        self.requests.append((self.path, dict(self.headers), sent))
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("x-Amzn-Invoked-Production-Variant", "primary")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def streaming_endpoint(parts: Sequence[bytes]) -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """A local endpoint that answers every call with ``parts`` as PayloadPart events; yields its URL and
    the requests it received."""
    _StreamingEndpoint.body = b"".join(message("PayloadPart", part) for part in parts)
    _StreamingEndpoint.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StreamingEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _StreamingEndpoint.requests
    finally:
        server.shutdown()
