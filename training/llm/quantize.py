"""``python -m training.llm.quantize``: an LLM artifact quantised into a format vLLM runs natively
(compressed-tensors, written by llm-compressor), as a new artifact next to the original.

Schemes:

- ``w8a8``: int8 weights (per channel, GPTQ) and int8 activations (per token, dynamic), with
  SmoothQuant moving activation outliers into the weights first; calibrated on prepared data.
  vLLM's CPU backend runs it, so it is checked end to end on a laptop.
- ``w4a16``: 4-bit weights in groups of 128 (GPTQ), 16-bit activations; calibrated.
- ``fp8-dynamic``: fp8 weights per channel, fp8 activations per token computed at run time; no
  calibration.

Calibration examples come from token shards prepared with the model's own tokenizer (what it was
fine-tuned on, or a held-out part of it). The result is a candidate: ``hoist optimize`` scores it
against the original through the serving engine and publishes it only when it passes the gate.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from llmcompressor import oneshot
from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier
from llmcompressor.modifiers.transform.smoothquant import SmoothQuantModifier
from transformers import AutoModelForCausalLM

from training.data import ExampleDataset
from training.llm import artifact, base

SCHEMES = {"w8a8": "W8A8", "w4a16": "W4A16", "fp8-dynamic": "FP8_DYNAMIC"}
CALIBRATED = ("w8a8", "w4a16")
GROUP_SIZE = 128
"""W4A16's quantisation group: every quantised layer's input width must be a multiple of it."""


class QuantizeError(ValueError):
    """An artifact or setting that cannot be quantised; one line."""


def _recipe(scheme: str) -> list[Any]:
    keep = ["lm_head"]  # the output projection stays in full precision, as is usual
    if scheme == "w8a8":
        return [SmoothQuantModifier(smoothing_strength=0.8),
                GPTQModifier(targets="Linear", scheme=SCHEMES[scheme], ignore=keep)]
    if scheme == "w4a16":
        return [GPTQModifier(targets="Linear", scheme=SCHEMES[scheme], ignore=keep)]
    return [QuantizationModifier(targets="Linear", scheme=SCHEMES[scheme], ignore=keep)]


def calibration_set(uri: str, samples: int, max_length: int) -> Dataset:
    """The first ``samples`` examples of prepared shards, as token ids (no re-tokenising)."""
    examples = ExampleDataset(uri, max_length, seed=0)
    rows = [examples.example(i)[0][:max_length].tolist() for i in range(min(samples, examples.examples))]
    return Dataset.from_dict({"input_ids": rows, "attention_mask": [[1] * len(r) for r in rows]})


def _check_shape(model: torch.nn.Module, scheme: str) -> None:
    if scheme != "w4a16":
        return
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head") and module.in_features % GROUP_SIZE:
            raise QuantizeError(f"{name}: {module.in_features} input features are not a multiple of W4A16's group "
                                f"of {GROUP_SIZE}; use w8a8 or fp8-dynamic for this model")


def quantize(source: Path, target: Path, scheme: str, *, calibration: str | None = None, samples: int = 64,
             max_length: int = 256) -> artifact.ArtifactManifest:
    """Quantise the artifact in ``source`` into ``target`` with ``scheme``."""
    if scheme not in SCHEMES:
        raise QuantizeError(f"--scheme {scheme!r}: allowed: {', '.join(SCHEMES)}")
    manifest = artifact.verify(source)
    if manifest.quantization is not None:
        raise QuantizeError(f"{source}: already quantised ({manifest.quantization}); quantise the original")
    if manifest.adapter is not None:
        raise QuantizeError(f"{source}: a LoRA adapter; export it merged (lora_export=merged) to quantise it")
    if scheme in CALIBRATED and not calibration:
        raise QuantizeError(f"--scheme {scheme}: needs --calibration (shards prepared with the model's tokenizer)")
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, local_files_only=True)
    _check_shape(model, scheme)
    options: dict[str, Any] = {}
    if scheme in CALIBRATED and calibration:
        data = calibration_set(calibration, samples, max_length)
        options = {"dataset": data, "num_calibration_samples": len(data), "max_seq_length": max_length}
    oneshot(model=model, recipe=_recipe(scheme), **options)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, save_compressed=True)
    for name in (*base.TOKENIZER_FILES, "generation_config.json"):
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
    for leftover in ("recipe.yaml",):  # llm-compressor's record of the run; the manifest keeps what matters
        (target / leftover).unlink(missing_ok=True)
    provenance = manifest.provenance.model_copy(update={"source_artifact": str(source)})
    return artifact.write_manifest(target, architecture=manifest.architecture, model_type=manifest.model_type,
                                   dtype=manifest.dtype, quantization=SCHEMES[scheme],
                                   parameters=manifest.parameters, provenance=provenance)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.llm.quantize", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="an LLM artifact: a directory or s3:// prefix")
    parser.add_argument("--output", required=True, help="directory or s3:// prefix for the quantised artifact")
    parser.add_argument("--scheme", required=True, choices=sorted(SCHEMES))
    parser.add_argument("--calibration", help="token shards (directory or s3://) prepared with the model's tokenizer")
    parser.add_argument("--samples", type=int, default=64, help="calibration examples")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="hoist-quantize-") as tmp:
            source = Path(args.model) if Path(args.model).is_dir() else Path(tmp) / "source"
            if not Path(args.model).is_dir():
                artifact.fetch(args.model, source)
            candidate = Path(tmp) / "candidate"
            manifest = quantize(source, candidate, args.scheme, calibration=args.calibration, samples=args.samples)
            size = sum(p.stat().st_size for p in candidate.iterdir())
            location = artifact.publish(candidate, args.output)
    except (QuantizeError, artifact.ArtifactError) as exc:
        print(f"training.llm.quantize: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"artifact": location, "scheme": args.scheme, "quantization": manifest.quantization,
                      "bytes": size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
