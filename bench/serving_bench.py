"""Serving throughput and latency, side by side in one run: our server batched and unbatched, LitServe
(with its batching) and a plain FastAPI app, all calling the same handler functions, at 1, 8 and 32
concurrent clients, on the reference model and on a 2048-wide MLP.

    .venv/bin/pip install -e '.[bench]'; apt-get install wrk
    .venv/bin/python bench/serving_bench.py [--seconds 8] [--models reference,mlp]

Load comes from wrk (C, one thread, keep-alive connections): a Python load generator saturates long
before these servers do. Each server is its own process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
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

# wrk request generators: every request a different problem (reference) or the same 512-float row (mlp).
LUA = {
    "reference": """
        local n = 0
        request = function()
          n = n + 1
          local body = string.format('{"inputs": ["%d+%d"]}', n % 1000, (7 * n) % 1000)
          return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
        end
    """,
    "mlp": """
        local row = {}
        for j = 1, 512 do row[j] = string.format("%.3f", (j % 7) / 7) end
        local body = '{"inputs": [[' .. table.concat(row, ",") .. ']]}'
        request = function()
          return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
        end
    """,
}
REPORT = """
    done = function(summary, latency, requests)
      local e = summary.errors
      io.write(string.format('RESULT {"requests": %d, "seconds": %f, "errors": %d, "non_2xx": %d, ' ..
        '"p50_ms": %f, "p99_ms": %f}\\n', summary.requests, summary.duration / 1e6,
        e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000))
    end
"""


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
    elif kind == "litserve":
        cmd = [sys.executable, str(ROOT / "bench" / "litserve_app.py"), str(port), env["HOIST_MAX_BATCH_SIZE"]]
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


def load(url: str, clients: int, seconds: int, script: Path) -> dict[str, float]:
    run = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script),
                          f"{url}/invocations"], capture_output=True, text=True, check=True)
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return {"rps": round(raw["requests"] / raw["seconds"], 1), "p50_ms": round(raw["p50_ms"], 2),
            "p99_ms": round(raw["p99_ms"], 2), "errors": raw["errors"] + raw["non_2xx"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--models", default="reference,mlp")
    parser.add_argument("--servers", default="hoist-batched,hoist-unbatched,litserve,fastapi")
    parser.add_argument("--clients", default="1,8,32")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"reference": reference_model(Path(tmp) / "ref"), "mlp": write_mlp(Path(tmp) / "mlp")}
        scripts = {}
        for model, lua in LUA.items():
            scripts[model] = Path(tmp) / f"{model}.lua"
            scripts[model].write_text(lua + REPORT)
        for model in args.models.split(","):
            for kind in args.servers.split(","):
                process, url = start(kind, dirs[model])
                try:
                    load(url, 8, 2, scripts[model])  # warm-up
                    for clients in (int(c) for c in args.clients.split(",")):
                        stats = load(url, clients, args.seconds, scripts[model])
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
