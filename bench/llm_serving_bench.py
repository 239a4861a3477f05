"""The LLM engine (vLLM's CPU build, as `hoist local` runs it) against a plain `transformers`
``generate`` server on the same artifact, measured with vLLM's own load generator.

    .venv/bin/python bench/llm_serving_bench.py [--model DIR] [--rounds 2] [--concurrency 1 8 32]

Why vLLM's ``bench serve``: it is installed with the engine (no third environment), speaks the
OpenAI completions API both servers offer, and reports time to first token, time per output token
and output tokens/s with percentiles. Each point sends ``4 × concurrency`` (at least 16) random
prompts of 16 tokens asking for 32 tokens each (``ignore_eos``), the two servers alternating; the
table has the median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hoist import engine  # noqa: E402
from hoist.processes import child_env, free_port, running  # noqa: E402
from training.llm import tiny  # noqa: E402

SERVED = "bench"
METRICS = ("median_ttft_ms", "median_tpot_ms", "output_throughput", "p99_ttft_ms", "completed", "failed")


@contextmanager
def transformers_server(model: Path, logs: Path) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, str(ROOT / "bench" / "transformers_server.py"), str(model), str(port)]
    with running(argv, env=child_env(OMP_NUM_THREADS="2"), stdout=logs / "hf.stdout", stderr=logs / "hf.log"):
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the transformers server did not start")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"


def bench_point(url: str, model_name: str, tokenizer: Path, concurrency: int, out: Path) -> dict[str, float]:
    prompts = max(16, 4 * concurrency)
    argv = [str(engine.VENV / "bin" / "python"), str(ROOT / "bench" / "vllm_bench_serve.py"), "--backend", "openai",
            "--base-url", url, "--endpoint", "/v1/completions", "--model", model_name, "--tokenizer", str(tokenizer),
            "--dataset-name", "random", "--random-input-len", "16", "--random-output-len", "32",
            "--num-prompts", str(prompts), "--max-concurrency", str(concurrency), "--ignore-eos",
            "--percentile-metrics", "ttft,tpot,itl", "--metric-percentiles", "50,99", "--save-result",
            "--result-dir", str(out.parent), "--result-filename", out.name, "--seed", "0"]
    subprocess.run(argv, check=True, capture_output=True, text=True, env=child_env())
    result = json.loads(out.read_text())
    return {key: float(result[key]) for key in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="an LLM artifact directory (default: a tiny random Llama)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        model = Path(args.model) if args.model else tiny.build("llama", logs / "tiny")
        runs: dict[tuple[str, int], list[dict[str, float]]] = {}
        with engine.serving(model, logs, {"SM_VLLM_SERVED_MODEL_NAME": SERVED, "SM_VLLM_DTYPE": "float32"}) as vllm, \
                transformers_server(model, logs) as hf:
            for round_ in range(args.rounds):
                for concurrency in args.concurrency:
                    for name, url, served in (("vllm", vllm, SERVED), ("transformers", hf, str(model))):
                        out = logs / f"{name}-{concurrency}-{round_}.json"
                        runs.setdefault((name, concurrency), []).append(bench_point(url, served, model, concurrency,
                                                                                     out))
    table = {f"{name}@{concurrency}": {key: round(statistics.median(r[key] for r in results), 2) for key in METRICS}
             for (name, concurrency), results in runs.items()}
    for concurrency in args.concurrency:
        ours, base = table[f"vllm@{concurrency}"], table[f"transformers@{concurrency}"]
        table[f"ratio@{concurrency}"] = {"output_throughput": round(ours["output_throughput"] /
                                                                    base["output_throughput"], 2)}
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
