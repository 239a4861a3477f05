"""``python -m training.optimize``: turn a serving artifact into one optimised for its target.

- ``--target cpu``: the linear layers of every transformer block are stored as int8 weights with one
  fp32 scale per output channel, as plain tensors in ``model.safetensors`` (the embedding and its
  tied head stay fp32). Plain tensors rather than torchao: the serving image needs nothing beyond
  torch and safetensors to load them, and at these sizes int8 CPU kernels are slower than fp32
  matmuls, so the handler dequantises once at load. The gain is a smaller artifact (faster to
  download and start), not faster matmuls.
- ``--target gpu``: every weight in bf16; the handler runs the model in bf16 on CUDA.

Both the original and the optimised artifact are scored through their own handler
(``code/inference.py``, as the server loads it) on held-out problems of the reference task:
exact-match accuracy, p50 / p99 latency of single requests, and size. When accuracy drops by more
than ``--max-accuracy-drop`` points the optimised artifact is refused: nothing is written and the
exit status is 3. Otherwise the artifact and ``optimization.json`` (method and both sets of figures)
are written to the output.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from training.addition import AdditionTask
from training.export import PACKAGE, archive
from training.storage import open_store

ARTIFACT_MODULES = ("inference", "gpt_model", "addition_task")


class OptimizeError(ValueError):
    """An artifact or setting that cannot be optimised, or a result that is refused; one line."""


def fetch(uri: str, target: Path) -> Path:
    """The unpacked artifact at ``uri``: a model.tar.gz (local or s3://) or an unpacked directory."""
    local = Path(uri)
    if local.is_dir():
        shutil.copytree(local, target)
        return target
    if uri.startswith("s3://"):
        parent, _, name = uri.rstrip("/").rpartition("/")
        data = open_store(parent).read_bytes(name)
        if data is None:
            raise OptimizeError(f"{uri}: no such object")
        local = target.parent / "model.tar.gz"
        local.write_bytes(data)
    if not local.is_file():
        raise OptimizeError(f"{uri}: no such artifact (a model.tar.gz or an unpacked directory)")
    with tarfile.open(local) as tar:
        tar.extractall(target, filter="data")
    return target


def _handler(model_dir: Path) -> ModuleType:
    """The artifact's own handler, imported as the server imports it."""
    for name in ARTIFACT_MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(model_dir / "code"))
    try:
        spec = importlib.util.spec_from_file_location("inference", model_dir / "code" / "inference.py")
        if spec is None or spec.loader is None:
            raise OptimizeError(f"{model_dir}: no code/inference.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(model_dir / "code"))


def evaluate(model_dir: Path, problems: int, seed: int) -> dict[str, float]:
    """Exact match and single-request latency through the artifact's handler, and its size."""
    handler = _handler(model_dir)
    bundle = handler.model_fn(str(model_dir))
    digits = int(json.loads((model_dir / "config.json").read_text())["task"]["digits"])
    pairs = AdditionTask(digits=digits, seed=seed).problems(problems, "heldout").tolist()
    handler.predict_fn([tuple(pairs[0])], bundle)  # warm-up
    latencies, correct = [], 0
    for a, b in pairs:
        started = time.perf_counter()
        (answer,) = handler.predict_fn([(a, b)], bundle)
        latencies.append((time.perf_counter() - started) * 1000)
        correct += answer == str(a + b)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"exact_match": correct / len(pairs), "p50_ms": round(cuts[49], 3), "p99_ms": round(cuts[98], 3),
            "weights_bytes": (model_dir / "model.safetensors").stat().st_size}


def quantize_int8(tensors: dict[str, torch.Tensor], bits: int) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Symmetric per-output-channel quantisation of the blocks' linear weights to ``bits`` bits (held in
    int8). The tied embedding/head and every bias and norm stay as they are."""
    if not 2 <= bits <= 8:
        raise OptimizeError(f"--bits {bits}: allowed 2 to 8")
    limit = 2 ** (bits - 1) - 1
    out, quantized = dict(tensors), []
    for name, weight in tensors.items():
        if not (name.startswith("blocks.") and name.endswith(".weight") and weight.dim() == 2):
            continue
        prefix = name.removesuffix(".weight")
        scale = (weight.abs().amax(dim=1) / limit).clamp(min=1e-12).float()
        out[f"{prefix}.weight_int8"] = (weight / scale[:, None]).round().clamp(-limit, limit).to(torch.int8)
        out[f"{prefix}.weight_scale"] = scale
        del out[name]
        quantized.append(prefix)
    return out, quantized


def optimize(model_uri: str, output_uri: str, target: str, *, bits: int = 8, max_accuracy_drop: float = 1.0,
             problems: int = 500, seed: int = 0) -> dict[str, Any]:
    if target not in ("cpu", "gpu"):
        raise OptimizeError(f"--target {target!r}: allowed: cpu, gpu")
    with tempfile.TemporaryDirectory(prefix="hoist-optimize-") as tmp:
        original = fetch(model_uri, Path(tmp) / "original")
        before = evaluate(original, problems, seed)
        optimised = Path(tmp) / "optimised"
        shutil.copytree(original, optimised)
        # The current handler, which loads optimised weights; the server needs no change.
        shutil.copyfile(PACKAGE / "handler" / "inference.py", optimised / "code" / "inference.py")
        tensors = load_file(str(original / "model.safetensors"))
        if target == "cpu":
            method = "int8-weight-per-channel"
            tensors, layers = quantize_int8(tensors, bits)
        else:
            method, layers = "bf16", sorted(tensors)
            tensors = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in tensors.items()}
        save_file(tensors, str(optimised / "model.safetensors"))
        (optimised / "optimization.json").write_text(json.dumps({"method": method}) + "\n")
        after = evaluate(optimised, problems, seed)
        drop = (before["exact_match"] - after["exact_match"]) * 100
        report = {"method": method, "target": target, "bits": bits if target == "cpu" else 16,
                  "layers": layers, "problems": problems, "before": before, "after": after,
                  "accuracy_drop_points": round(drop, 2),
                  "size_ratio": round(after["weights_bytes"] / before["weights_bytes"], 4),
                  "p50_latency_ratio": round(after["p50_ms"] / before["p50_ms"], 3)}
        if drop > max_accuracy_drop:
            raise OptimizeError(f"refused: exact match fell {drop:.1f} points ({before['exact_match']:.1%} -> "
                                f"{after['exact_match']:.1%}), more than --max-accuracy-drop {max_accuracy_drop}")
        (optimised / "optimization.json").write_text(json.dumps(report, indent=2) + "\n")
        report["artifact"] = archive(optimised, output_uri)
    return report


def main(argv: list[str]) -> int:
    root = argparse.ArgumentParser(prog="python -m training.optimize", description=__doc__.split("\n\n")[0])
    root.add_argument("--model", required=True, help="model.tar.gz (path or s3://) or an unpacked artifact")
    root.add_argument("--output", required=True, help="directory or s3:// prefix for the optimised model.tar.gz")
    root.add_argument("--target", required=True, help="cpu (int8 weights) or gpu (bf16)")
    root.add_argument("--bits", type=int, default=8, help="cpu: bits per weight, 2 to 8 (default 8)")
    root.add_argument("--max-accuracy-drop", type=float, default=1.0, help="refuse a larger drop, in points")
    root.add_argument("--problems", type=int, default=500, help="held-out problems to score")
    root.add_argument("--seed", type=int, default=0, help="seed of the held-out problems")
    args = root.parse_args(argv)
    try:
        report = optimize(args.model, args.output, args.target, bits=args.bits,
                          max_accuracy_drop=args.max_accuracy_drop, problems=args.problems, seed=args.seed)
    except OptimizeError as exc:
        print(f"training.optimize: error: {exc}", file=sys.stderr)
        return 3 if str(exc).startswith("refused") else 2
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
