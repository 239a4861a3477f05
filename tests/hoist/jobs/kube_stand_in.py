"""A stand-in Kubernetes API server on 127.0.0.1 for the job commands: it creates, reads and deletes
TrainJobs, lists one pod and serves its log, and records every request the real client sends."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

TRAINJOBS = "/apis/trainer.kubeflow.org/v1alpha1/namespaces/training/trainjobs"
PODS = "/api/v1/namespaces/training/pods"


class KubeApi(BaseHTTPRequestHandler):
    """Subclasses set the pod, its phase, the job's conditions and the log; `serving` resets what was recorded."""

    requests: ClassVar[list[tuple[str, str, Any]]] = []
    """(method, path, POST body or GET Authorization header or None)."""
    jobs: ClassVar[dict[str, Any]] = {}
    pod: ClassVar[str] = "job-node-0-0"
    pod_phase: ClassVar[str] = "Running"
    conditions: ClassVar[list[dict[str, str]]] = []
    log: ClassVar[str] = ""

    def _reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, body))
        self.jobs[body["metadata"]["name"]] = body
        self._reply(201, body)

    def do_DELETE(self) -> None:
        self.requests.append(("DELETE", self.path, None))
        self._reply(200, {"kind": "Status", "status": "Success"})

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, self.headers.get("Authorization")))
        path = self.path.split("?")[0]
        if path.startswith(f"{TRAINJOBS}/"):
            self._reply(200, {**self.jobs[path.rsplit("/", 1)[1]], "status": {"conditions": self.conditions}})
        elif path == PODS:
            pod = {"metadata": {"name": self.pod}, "spec": {"nodeName": "ip-10-30-0-9", "containers": []},
                   "status": {"phase": self.pod_phase}}
            self._reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [pod]})
        elif path == f"{PODS}/{self.pod}/log":
            self._reply(200, self.log.encode(), "text/plain")
        else:
            self._reply(404, {"kind": "Status", "code": 404})

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[KubeApi]) -> Iterator[str]:
    """The stand-in on a free port with nothing recorded yet; yields its URL."""
    handler.requests, handler.jobs = [], {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def kubeconfig(url: str) -> str:
    """A kubeconfig for the stand-in, with the bearer token the tests look for."""
    return json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                       "clusters": [{"name": "c", "cluster": {"server": url}}],
                       "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                       "users": [{"name": "u", "user": {"token": "t0ken"}}]})
