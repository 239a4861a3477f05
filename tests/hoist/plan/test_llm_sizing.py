"""The LLM endpoint in the plan: staging serves an exported LLM with vLLM, and the plan shows what it
needs (weights, KV cache a token, the fit at its TP degree) and what it costs; GPU hosting prices are
verified or marked as estimates wherever they are shown."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from hoist.plan import comment, cost, policies, recording, report
from infra import aws_shapes, catalog
from infra.stack_files import ConfigError, load_stack
from tests.conftest import planned
from tests.hoist.plan.documents import diff_after, document, edit_stack


def test_staging_serves_an_exported_llm_with_vllm_on_a_gpu() -> None:
    endpoint = load_stack("staging").endpoint
    assert endpoint is not None and endpoint.engine == "vllm" and endpoint.llm is not None
    assert endpoint.model_key.endswith("/") and endpoint.instance_type in catalog.SAGEMAKER_HOSTING_GPUS
    prod = load_stack("prod").endpoint
    assert prod is not None and prod.engine == "classic"


def test_the_plan_sizes_the_llm_endpoint_and_prices_its_instances() -> None:
    data = document(planned("staging"))
    sizing = data["llm_sizing"]
    # An 8B Llama in bf16: 32 layers × 8 KV heads × 128 × 2 (K and V) × 2 bytes a token.
    assert sizing["kv_bytes_per_token"] == 2 * 32 * 8 * 128 * 2
    assert sizing["cache_tokens"] == 4096 * 8
    assert sizing["kv_cache_gb"] == pytest.approx(4.295, abs=0.001)
    assert sizing["needed_gb"] == pytest.approx(16.07 + 4.295, abs=0.001)
    assert sizing["usable_gb"] == pytest.approx(24 * 0.9)
    assert sizing["fits"] is True and sizing["tensor_parallel_size"] == 1 and sizing["gpu_model"] == "A10G"
    hourly = catalog.SAGEMAKER_HOSTING_USD_PER_HOUR["ml.g5.2xlarge"]
    assert sizing["monthly_min_usd"] == pytest.approx(hourly * 730 * 1, abs=0.01)
    assert sizing["monthly_max_usd"] == pytest.approx(hourly * 730 * 4, abs=0.01)
    assert sizing["price_verified"] is True
    # The cost estimate prices the same variant, at the autoscaling bounds.
    (line,) = [x for x in data["cost"]["lines"] if x["subject"] == "SageMaker endpoint variant primary"]
    assert line["item"] == "ml.g5.2xlarge" and line["quantity"] == 4
    assert line["monthly_max_usd"] == pytest.approx(sizing["monthly_max_usd"], abs=0.01)
    assert line["monthly_idle_usd"] == pytest.approx(sizing["monthly_min_usd"], abs=0.01)
    assert document(planned("dev"))["llm_sizing"] is None, "a classic endpoint has no LLM sizing"


def test_the_terminal_report_shows_the_sizing() -> None:
    plan = planned("staging")
    out = io.StringIO()
    report.print_plan(Console(file=out, width=200), plan, policies.evaluate(plan), cost.estimate(plan))
    text = out.getvalue()
    assert "weights 16.07 GB; KV cache 131,072 bytes a token × 32,768 tokens = 4.3 GB" in text
    assert "fits: needs 20.4 GB of 21.6 GB usable on ml.g5.2xlarge at tensor-parallel degree 1 (A10G)" in text
    assert "$1,105.95 to $4,423.80 a month" in text


def test_the_pull_request_comment_shows_a_new_sizing_and_flags_an_estimated_price(stacks_copy: Path) -> None:
    def bigger() -> None:
        edit_stack(stacks_copy, "staging", "instance_type: ml.g5.2xlarge", "instance_type: ml.g6e.xlarge")
        edit_stack(stacks_copy, "staging", "max_num_seqs: 8", "max_num_seqs: 32")

    text = comment.markdown(diff_after("staging", bigger))
    assert "#### LLM endpoint sizing\n" in text, "a changed sizing is shown, not marked unchanged"
    assert "- fits: needs 33.2 GB of 43.2 GB usable on ml.g6e.xlarge at tensor-parallel degree 1 (L40S)" in text
    assert "(hourly price an UNVERIFIED estimate; see the catalog)" in text
    assert text.index("| monthly cost |") < text.index("#### LLM endpoint sizing") < text.index("**Resources:**")


def test_a_stack_whose_llm_does_not_fit_is_refused(stacks_copy: Path) -> None:
    edit_stack(stacks_copy, "staging", "max_model_len: 4096", "max_model_len: 16384")
    with pytest.raises(ConfigError, match=r"hoist:endpoint\.llm = .*: does not fit ml\.g5\.2xlarge: needs 33\.2 GB "
                                          r"\(weights 16\.07 GB \+ KV cache 17\.2 GB\), 1 GPU\(s\) give 21\.6 GB"):
        recording.record("staging")


def test_gpu_hosting_prices_are_verified_or_marked_estimates_with_their_basis() -> None:
    hosting = aws_shapes.sagemaker_endpoint_instance_types()
    assert set(catalog.SAGEMAKER_HOSTING_USD_PER_HOUR) <= hosting
    assert not set(catalog.SAGEMAKER_HOSTING_ESTIMATES) & set(catalog.SAGEMAKER_HOSTING_VERIFIED_USD_PER_HOUR)
    for instance_type in catalog.SAGEMAKER_HOSTING_USD_PER_HOUR:
        price = catalog.sagemaker_hour(instance_type)
        assert price.usd == catalog.SAGEMAKER_HOSTING_USD_PER_HOUR[instance_type] > 0
        if catalog.hosting_price_verified(instance_type):
            assert price.source == catalog.SAGEMAKER_PRICING
        else:
            assert price.source.startswith(f"{catalog.UNVERIFIED} for {instance_type}: ") and len(price.source) > 60
            assert price.as_of == catalog.ESTIMATES_AS_OF
    # The rows the LLM families need most are priced: one of each GPU family used for serving.
    assert {"ml.g5.48xlarge", "ml.g6.xlarge", "ml.g6e.xlarge", "ml.g6e.12xlarge", "ml.p4d.24xlarge",
            "ml.p5.48xlarge"} <= set(catalog.SAGEMAKER_HOSTING_ESTIMATES)


RATIO_BASED = {"ml.g5.48xlarge": ("g5.48xlarge", 1.25), "ml.g6.xlarge": ("g6.xlarge", 1.4),
               "ml.g6e.xlarge": ("g6e.xlarge", 1.4), "ml.g6e.12xlarge": ("g6e.12xlarge", 1.25),
               "ml.p4d.24xlarge": ("p4d.24xlarge", 1.15), "ml.p5.48xlarge": ("p5.48xlarge", 1.15)}


def test_estimates_agree_with_the_catalogs_ec2_prices_at_the_ratio_they_state() -> None:
    # The ratios are the verified ones: ml.g5.xlarge / g5.xlarge and ml.g5.2xlarge / g5.2xlarge.
    verified = catalog.SAGEMAKER_HOSTING_VERIFIED_USD_PER_HOUR
    assert verified["ml.g5.xlarge"] / catalog.EC2_INSTANCES["g5.xlarge"].on_demand_usd_per_hour == \
        pytest.approx(1.4, abs=0.001)
    for small in ("g5.2xlarge", "g5.12xlarge"):
        assert verified[f"ml.{small}"] / catalog.EC2_INSTANCES[small].on_demand_usd_per_hour == \
            pytest.approx(1.25, abs=0.001)
    for hosting, (ec2, ratio) in RATIO_BASED.items():
        usd, basis = catalog.SAGEMAKER_HOSTING_ESTIMATES[hosting]
        assert usd == pytest.approx(catalog.EC2_INSTANCES[ec2].on_demand_usd_per_hour * ratio, abs=0.01), hosting
        assert str(ratio) in basis


def test_an_unpriced_gpu_type_cannot_serve_a_stack(stacks_copy: Path) -> None:
    unpriced = sorted(set(catalog.SAGEMAKER_HOSTING_GPUS) - set(catalog.SAGEMAKER_HOSTING_USD_PER_HOUR))
    assert "ml.p5en.48xlarge" in unpriced
    edit_stack(stacks_copy, "staging", "instance_type: ml.g5.2xlarge", "instance_type: ml.p5en.48xlarge")
    with pytest.raises(ConfigError, match=r"hoist:endpoint\.instance_type = \"ml\.p5en\.48xlarge\": no price in the "
                                          r"catalog"):
        recording.record("staging")

