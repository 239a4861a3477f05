"""Serving throughput and latency, side by side in one run: our server batched and unbatched, and a plain
FastAPI app, all calling the same handler functions, at 1, 8 and 32 concurrent clients.

    .venv/bin/python bench/serving_bench.py [--requests 400] [--models reference,mlp]

The load generator runs in this process (asyncio + httpx); each server is its own process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mlp_model import write as write_mlp  # noqa: E402
from tests.serving.server import free_port, reference_model  # noqa: E402

BODIES = {
    "reference": lambda i: json.dumps({"inputs": [f"{i % 1000}+{(7 * i) % 1000}"]}).encode(),
    "mlp": lambda i: json.dumps({"inputs": [[((i + j) % 7) / 7.0 for j in range(512)]]}).encode(),
}


def start(kind: str, model_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
           "HOIST_HOST": "127.0.0.1", "HOIST_MAX_BATCH_SIZE": os.environ.get("BENCH_BATCH", "32"),
           "HOIST_MAX_BATCH_DELAY_MS": os.environ.get("BENCH_DELAY_MS", "2"),
           "HOIST_MAX_QUEUE": "1024"}
    if kind == "fastapi":
        cmd = [sys.executable, "-m", "uvicorn", "bench.fastapi_app:app", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
    else:
        env["HOIST_BATCHING"] = "true" if kind == "hoist-batched" else "false"
        cmd = [sys.executable, "-m", "serving", "serve"]
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{kind} did not start")


async def load(url: str, clients: int, requests: int, body: object) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors
            for i in counter:
                started = time.perf_counter()
                answer = await client.post("/invocations", content=body(i),  # type: ignore[operator]
                                           headers={"content-type": "application/json"})
                latencies.append(time.perf_counter() - started)
                errors += answer.status_code != 200
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": round(requests / elapsed, 1), "p50_ms": round(1000 * statistics.median(latencies), 2),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--models", default="reference,mlp")
    parser.add_argument("--servers", default="hoist-batched,hoist-unbatched,fastapi")
    parser.add_argument("--clients", default="1,8,32")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"reference": reference_model(Path(tmp) / "ref"), "mlp": write_mlp(Path(tmp) / "mlp")}
        for model in args.models.split(","):
            for kind in args.servers.split(","):
                process, url = start(kind, dirs[model])
                try:
                    asyncio.run(load(url, 8, 50, BODIES[model]))  # warm-up
                    for clients in (int(c) for c in args.clients.split(",")):
                        stats = asyncio.run(load(url, clients, args.requests, BODIES[model]))
                        results.setdefault(model, {}).setdefault(kind, {})[str(clients)] = stats
                        print(model, kind, clients, stats, flush=True)
                finally:
                    process.terminate()
                    process.wait(timeout=30)
    for model, by_kind in results.items():
        batched, unbatched = by_kind.get("hoist-batched", {}), by_kind.get("hoist-unbatched", {})
        if "32" in batched and "32" in unbatched:
            print(f"{model}: batched/unbatched throughput at 32 clients = "
                  f"{batched['32']['rps'] / unbatched['32']['rps']:.2f}x, p99 {batched['32']['p99_ms']} vs "
                  f"{unbatched['32']['p99_ms']} ms")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
