"""`hoist optimize` for LLMs: quantisation into compressed-tensors, scored through the engine, and a gate
that refuses (exit 3, nothing written) what loses accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from hoist import cli, engine, llm_scoring
from hoist import optimize as gated
from hoist.errors import Refused
from training.llm import artifact, quantize, tiny

pytestmark = [pytest.mark.engine, pytest.mark.slow]
PROMPTS = [f"{a}+{b}" for a in range(3, 90, 11) for b in (7, 48, 95)] + ["order 12", "hello world", "the sum"]


@pytest.fixture(scope="module")
def random_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama as an LLM artifact: greedy answers with margins near zero, which 4-bit
    weights cannot keep."""
    directory = tiny.build("llama", tmp_path_factory.mktemp("quantize") / "random")
    artifact.write_manifest(directory, architecture="LlamaForCausalLM", model_type="llama", dtype="float32",
                            parameters=1, provenance=artifact.Provenance(base_model="tiny"))
    return directory


@pytest.fixture(scope="module")
def calibration(random_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Chats prepared with the random model's tokenizer, to calibrate on."""
    from tests.training.llm.models import addition_chats
    from training.prepare import Settings, prepare

    raw = tmp_path_factory.mktemp("calibration-raw")
    (raw / "c.jsonl").write_text("".join(json.dumps(c) + "\n" for c in addition_chats(32)))
    shards = tmp_path_factory.mktemp("calibration") / "shards"
    prepare(str(raw), str(shards), Settings(base_model=str(random_artifact)))
    return str(shards)


@pytest.mark.parametrize(("scheme", "format_name"), [("w8a8", "int-quantized"), ("w4a16", "pack-quantized"),
                                                     ("fp8-dynamic", "float-quantized")])
def test_each_scheme_writes_a_compressed_tensors_artifact(random_artifact: Path, calibration: str, tmp_path: Path,
                                                          scheme: str, format_name: str) -> None:
    data = calibration if scheme in quantize.CALIBRATED else None
    manifest = quantize.quantize(random_artifact, tmp_path / "out", scheme, calibration=data, samples=16)
    assert manifest.quantization == quantize.SCHEMES[scheme]
    assert manifest.provenance.source_artifact == str(random_artifact)
    config = json.loads((tmp_path / "out" / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors" and config["format"] == format_name
    assert config["ignore"] == ["lm_head"]
    with safe_open(str(tmp_path / "out" / "model.safetensors"), framework="pt") as weights:
        names = set(weights.keys())
    assert any(n.endswith("weight_scale") for n in names), "quantised layers carry their scales"
    artifact.verify(tmp_path / "out")


def test_calibrated_schemes_need_calibration_data(random_artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(quantize.QuantizeError, match="--scheme w8a8: needs --calibration"):
        quantize.quantize(random_artifact, tmp_path / "out", "w8a8")


def test_the_gate_refuses_what_loses_accuracy_and_writes_nothing(random_artifact: Path, calibration: str,
                                                                 tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with engine.serving(random_artifact, logs, gated.ENGINE_SETTINGS) as url:
        # The questions' answers are the original's own: it scores 100 % by construction.
        answers = [llm_scoring.answer(url, gated.SERVED, q) for q in PROMPTS]
        gate = gated.Gate(list(zip(PROMPTS, answers, strict=True)), None, max_accuracy_drop=1.0,
                          max_perplexity_rise=10.0)
        before = gated.score_served(url, gated.SERVED, random_artifact, gate)
    assert before["exact_match"] == 1.0
    with pytest.raises(Refused, match=r"w4a16: held-out exact match fell .* points .*nothing was written"):
        gated.optimize(str(random_artifact), str(tmp_path / "published"), "w4a16", gate, logs, calibration, before)
    assert not (tmp_path / "published").exists()


def test_cli_refusal_is_exit_3_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = ["optimize", "--model", str(tmp_path), "--output", str(tmp_path / "o"), "--scheme", "w8a8"]
    assert cli.main(missing) == 2
    assert "--scheme: the gate needs --questions" in capsys.readouterr().err
