"""Serving throughput and latency, side by side: our server batched and unbatched, LitServe (with its
batching, given the same batch cap and delay) and a plain FastAPI app, all calling the same handler
functions, at 1, 8 and 32 concurrent clients, on the reference model and on a 2048-wide MLP with a
``predict_batch_fn``.

    .venv/bin/pip install -e '.[bench]'; apt-get install wrk
    .venv/bin/python bench/serving_bench.py [--seconds 8] [--rounds 3] [--models reference,mlp] [--out FILE]

Load comes from wrk (C, one thread, keep-alive connections): a Python load generator saturates long
before these servers do. Each server is its own process on 127.0.0.1, started afresh for every round;
within a round the servers take turns (the order rotates from round to round), so a noisy neighbour
on the machine hits every server alike. Every point is run ``--rounds`` times and reported as the
median, with the spread (largest minus smallest) of p50 across rounds, then checked against the bars.
Every server runs torch with the same number of intra-op threads (``--torch-threads``; by default our
server's own default, all cores but one), so the comparison is of the servers, not of thread counts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mlp_model import INPUT_WIDTH  # noqa: E402
from bench.mlp_model import write as write_mlp  # noqa: E402
from tests.serving.server import free_port, reference_model  # noqa: E402

# wrk request generators: every request a different problem (reference) or the same row of floats (mlp).
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
        for j = 1, WIDTH do row[j] = string.format("%.3f", (j % 7) / 7) end
        local body = '{"inputs": [[' .. table.concat(row, ",") .. ']]}'
        request = function()
          return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
        end
    """.replace("WIDTH", str(INPUT_WIDTH)),
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
Point = dict[str, float]


def start(kind: str, model_dir: Path, batch: int, delay_ms: float,
          torch_threads: int | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
           "HOIST_HOST": "127.0.0.1", "HOIST_MAX_BATCH_SIZE": str(batch), "HOIST_MAX_BATCH_DELAY_MS": str(delay_ms),
           "HOIST_MAX_QUEUE": "1024"}
    if torch_threads is not None:  # the peers read OpenMP's variable; ours sets it in every inference thread
        env |= {"OMP_NUM_THREADS": str(torch_threads), "HOIST_CPU_THREADS": str(torch_threads)}
    if kind == "fastapi":
        cmd = [sys.executable, "-m", "uvicorn", "bench.fastapi_app:app", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
    elif kind == "litserve":
        cmd = [sys.executable, str(ROOT / "bench" / "litserve_app.py"), str(port), str(batch), str(delay_ms)]
    else:
        env["HOIST_BATCHING"] = "true" if kind == "hoist-batched" else "false"
        cmd = [sys.executable, "-m", "serving", "serve"]
    # Its own process group, so stopping it also stops the worker processes LitServe spawns.
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"{kind} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server and every process it started; wait until none is left to steal CPU from the next."""
    os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)


def load(url: str, clients: int, seconds: int, script: Path) -> Point:
    run = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script),
                          f"{url}/invocations"], capture_output=True, text=True, check=True)
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return {"rps": round(raw["requests"] / raw["seconds"], 1), "p50_ms": round(raw["p50_ms"], 2),
            "p99_ms": round(raw["p99_ms"], 2), "errors": raw["errors"] + raw["non_2xx"]}


def median(points: list[Point]) -> Point:
    """The median of every measure over the rounds, and the spread of p50 between rounds."""
    keys = ("rps", "p50_ms", "p99_ms")
    out = {key: round(statistics.median(p[key] for p in points), 2) for key in keys}
    out["p50_spread_ms"] = round(max(p["p50_ms"] for p in points) - min(p["p50_ms"] for p in points), 2)
    out["errors"] = sum(p["errors"] for p in points)
    return out


def bars(points: dict[str, dict[str, Point]]) -> list[tuple[str, str, bool]]:
    """The issue's bars, each as (what, the measured numbers, held)."""
    checks: list[tuple[str, str, bool]] = []
    hoist, plain = points.get("hoist-batched", {}), points.get("fastapi", {})
    if "1" in hoist and "1" in plain:
        gap = hoist["1"]["p50_ms"] - plain["1"]["p50_ms"]
        checks.append(("1 client: p50 within 1 ms of FastAPI",
                       f"{hoist['1']['p50_ms']} vs {plain['1']['p50_ms']} ms ({gap:+.2f})", gap <= 1.0))
    if "1" in hoist:
        spread = hoist["1"]["p50_spread_ms"]
        checks.append(("1 client: p50 spread between rounds under 2 ms", f"{spread} ms", spread < 2.0))
    lit = points.get("litserve", {})
    if "32" in hoist and "32" in lit:
        ratio = hoist["32"]["rps"] / lit["32"]["rps"]
        checks.append(("32 clients: >= 1.5x LitServe throughput",
                       f"{hoist['32']['rps']} vs {lit['32']['rps']} rps ({ratio:.2f}x)", ratio >= 1.5))
        checks.append(("32 clients: p99 no worse than LitServe",
                       f"{hoist['32']['p99_ms']} vs {lit['32']['p99_ms']} ms",
                       hoist["32"]["p99_ms"] <= lit["32"]["p99_ms"]))
    unbatched = points.get("hoist-unbatched", {})
    if "32" in hoist and "32" in unbatched:
        ratio = hoist["32"]["rps"] / unbatched["32"]["rps"]
        checks.append(("32 clients: batched >= 2x unbatched",
                       f"{hoist['32']['rps']} vs {unbatched['32']['rps']} rps ({ratio:.2f}x)", ratio >= 2.0))
    return checks


def report(medians: dict[str, dict[str, dict[str, Point]]]) -> str:
    lines = []
    for model, by_kind in medians.items():
        lines += [f"\n## {model}\n", "| server | clients | rps | p50 ms | p99 ms | p50 spread ms | errors |",
                  "|---|---|---|---|---|---|---|"]
        for kind, by_clients in by_kind.items():
            for clients, p in by_clients.items():
                lines.append(f"| {kind} | {clients} | {p['rps']} | {p['p50_ms']} | {p['p99_ms']} | "
                             f"{p['p50_spread_ms']} | {int(p['errors'])} |")
        lines += ["", "| bar | measured (medians) | held |", "|---|---|---|"]
        lines += [f"| {what} | {numbers} | {'yes' if held else 'NO'} |" for what, numbers, held in bars(by_kind)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8, help="length of one point")
    parser.add_argument("--rounds", type=int, default=3, help="times every point is run")
    parser.add_argument("--models", default="reference,mlp")
    parser.add_argument("--servers", default="hoist-batched,hoist-unbatched,litserve,fastapi")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--batch", type=int, default=32, help="batch cap, for hoist and LitServe alike")
    parser.add_argument("--delay-ms", type=float, default=5.0, help="batch delay, for hoist and LitServe alike")
    parser.add_argument("--torch-threads", type=int, default=max(1, (os.cpu_count() or 1) - 1),
                        help="torch intra-op threads for every server (0: each server's own default)")
    parser.add_argument("--out", type=Path, help="write every round's numbers and the medians here (JSON)")
    args = parser.parse_args()
    servers, clients = args.servers.split(","), [int(c) for c in args.clients.split(",")]
    rounds: dict[str, dict[str, dict[str, list[Point]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"reference": reference_model(Path(tmp) / "ref"), "mlp": write_mlp(Path(tmp) / "mlp")}
        scripts = {}
        for model, lua in LUA.items():
            scripts[model] = Path(tmp) / f"{model}.lua"
            scripts[model].write_text(lua + REPORT)
        for model in args.models.split(","):
            for round_ in range(args.rounds):
                order = servers[round_ % len(servers):] + servers[:round_ % len(servers)]
                for kind in order:
                    process, url = start(kind, dirs[model], args.batch, args.delay_ms, args.torch_threads or None)
                    try:
                        load(url, 8, 2, scripts[model])  # warm-up
                        for n in clients:
                            stats = load(url, n, args.seconds, scripts[model])
                            rounds.setdefault(model, {}).setdefault(kind, {}).setdefault(str(n), []).append(stats)
                            print(model, f"round {round_ + 1}", kind, n, stats, flush=True)
                    finally:
                        stop(process)
    medians = {model: {kind: {n: median(points) for n, points in by_clients.items()}
                       for kind, by_clients in by_kind.items()} for model, by_kind in rounds.items()}
    threads = args.torch_threads or "each server's default"
    print(f"\nbatch cap {args.batch}, delay {args.delay_ms:g} ms, torch threads {threads}, "
          f"{args.rounds} rounds of {args.seconds} s per point; medians")
    print(report(medians))
    if args.out:
        args.out.write_text(json.dumps({"settings": vars(args) | {"out": str(args.out)}, "rounds": rounds,
                                        "medians": medians}, indent=1))


if __name__ == "__main__":
    main()
