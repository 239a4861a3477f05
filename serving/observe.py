"""Structured request logs and CloudWatch embedded-metric-format (EMF) lines on stdout.

SageMaker ships the container's stdout to CloudWatch Logs; lines in EMF become CloudWatch metrics
without any agent or API call.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

NAMESPACE = "hoist/serving"


def request_log(*, status: int, latency_ms: float, batch_size: int, path: str, error: str | None = None) -> None:
    record: dict[str, Any] = {"time": round(time.time(), 3), "path": path, "status": status,
                              "latency_ms": round(latency_ms, 3), "batch_size": batch_size}
    if error:
        record["error"] = error
    emf = {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": NAMESPACE, "Dimensions": [["Path"]],
            "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "BatchSize", "Unit": "Count"},
                        {"Name": "Errors", "Unit": "Count"}]}]},
        "Path": path, "Latency": record["latency_ms"], "BatchSize": batch_size, "Errors": int(status >= 500),
    }
    sys.stdout.write(json.dumps({**record, **emf}) + "\n")
    sys.stdout.flush()
