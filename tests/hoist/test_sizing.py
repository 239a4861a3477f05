"""The offline sizing calculator: its arithmetic on a known model, its properties over many shapes,
and its one-line refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoist.sizing import (
    GB,
    ModelShape,
    SizingError,
    check_fit,
    check_tensor_parallel,
    fits,
    kv_bytes_per_token,
    need,
    weight_bytes,
)
from training.llm.tiny import FAMILIES, SHAPE

LLAMA_3_8B = {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
              "vocab_size": 128256}


def test_tiny_models_kv_bytes_per_token_from_its_own_config() -> None:
    for family, extra in FAMILIES.items():
        config = {**SHAPE, **extra, "vocab_size": 512}
        shape = ModelShape.from_config(config)
        head_dim = int(extra.get("head_dim", SHAPE["hidden_size"] // SHAPE["num_attention_heads"]))  # type: ignore[call-overload]
        # A key and a value, per layer, per KV head, head_dim bf16 elements each.
        expected = 2 * SHAPE["num_hidden_layers"] * SHAPE["num_key_value_heads"] * head_dim * 2
        assert kv_bytes_per_token(shape) == expected == 512, family


def test_a_known_model_llama_3_8b() -> None:
    shape = ModelShape.from_config(LLAMA_3_8B)
    assert shape.head_dim == 128
    assert kv_bytes_per_token(shape) == 131_072  # 128 KiB a token, the published figure for Llama 3 8B in bf16
    assert weight_bytes(8_030_261_248, "bfloat16") == 16_060_522_496
    assert weight_bytes(8_030_261_248, "bfloat16", "W4A16") == 4_015_130_624


shapes = st.builds(
    lambda layers, kv, group, head_dim: ModelShape(layers=layers, hidden_size=kv * group * head_dim,
                                                   attention_heads=kv * group, kv_heads=kv, head_dim=head_dim,
                                                   vocab_size=32000),
    st.integers(1, 128), st.sampled_from([1, 2, 4, 8, 16]), st.sampled_from([1, 2, 4, 8]),
    st.sampled_from([64, 80, 96, 128, 256]))


@given(shapes, st.integers(1, 10**12), st.integers(16, 131072), st.integers(1, 512))
def test_need_grows_with_every_input(shape: ModelShape, parameters: int, length: int, concurrency: int) -> None:
    base = need(shape=shape, parameters=parameters, dtype="bfloat16", quantization=None, max_model_len=length,
                concurrency=concurrency)
    assert base.total == base.weights + base.kv_per_token * length * concurrency
    assert need(shape=shape, parameters=parameters, dtype="bfloat16", quantization=None, max_model_len=length + 1,
                concurrency=concurrency).total > base.total
    assert need(shape=shape, parameters=parameters + 1000, dtype="bfloat16", quantization=None,
                max_model_len=length, concurrency=concurrency).total > base.total
    quantised = need(shape=shape, parameters=parameters, dtype="bfloat16", quantization="W4A16",
                     max_model_len=length, concurrency=concurrency)
    assert quantised.weights <= base.weights and quantised.kv_per_token == base.kv_per_token


@given(shapes, st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2, 4, 8]))
def test_tensor_parallel_is_refused_exactly_when_it_cannot_split_the_heads(shape: ModelShape, tp: int,
                                                                           gpus: int) -> None:
    allowed = tp <= gpus and shape.attention_heads % tp == 0 and shape.kv_heads % tp == 0
    if allowed:
        check_tensor_parallel(shape, tp, gpus)
    else:
        with pytest.raises(SizingError) as caught:
            check_tensor_parallel(shape, tp, gpus)
        assert "\n" not in str(caught.value)


@given(st.integers(1, 2000 * GB), st.integers(1, 8), st.sampled_from([24, 48, 80, 141]),
       st.floats(0.5, 0.98))
def test_fit_is_refused_exactly_when_the_need_exceeds_the_usable_memory(weights: int, tp: int, gpu_gb: int,
                                                                        share: float) -> None:
    needed = need(shape=ModelShape.from_config(LLAMA_3_8B), parameters=weights // 2, dtype="bfloat16",
                  quantization=None, max_model_len=4096, concurrency=4)
    if needed.total <= tp * gpu_gb * GB * share:
        check_fit(needed, tp=tp, gpu_memory_gb=gpu_gb, gpu_memory_utilization=share)
    else:
        with pytest.raises(SizingError, match=r"^does not fit: needs [\d.]+ GB .* give [\d.]+ GB"):
            check_fit(needed, tp=tp, gpu_memory_gb=gpu_gb, gpu_memory_utilization=share)


@pytest.mark.parametrize(("call", "says"), [
    (lambda: check_tensor_parallel(ModelShape.from_config(LLAMA_3_8B), 3, 8),
     "tensor_parallel_size 3 does not divide the model's 32 attention heads; allowed: 1, 2, 4, 8, 16, 32"),
    (lambda: check_tensor_parallel(ModelShape.from_config(LLAMA_3_8B), 16, 8),
     "tensor_parallel_size 16 is more than the instance's 8 GPUs"),
    (lambda: check_tensor_parallel(ModelShape.from_config({**LLAMA_3_8B, "num_key_value_heads": 2}), 4, 8),
     "tensor_parallel_size 4 does not divide the model's 2 KV heads; allowed: 1, 2"),
    (lambda: check_fit(need(shape=ModelShape.from_config(LLAMA_3_8B), parameters=70 * 10**9, dtype="bfloat16",
                            quantization=None, max_model_len=8192, concurrency=16), tp=1, gpu_memory_gb=80,
                       gpu_memory_utilization=0.9),
     "does not fit: needs 157.2 GB (weights 140.0 GB + KV cache 17.2 GB), 1 GPU(s) give 72.0 GB at "
     "gpu_memory_utilization 0.9"),
    # The weights alone fit; with the cache for 16 sequences of 8192 tokens they do not.
    (lambda: check_fit(need(shape=ModelShape.from_config(LLAMA_3_8B), parameters=30 * 10**9, dtype="bfloat16",
                            quantization=None, max_model_len=8192, concurrency=16), tp=1, gpu_memory_gb=80,
                       gpu_memory_utilization=0.9),
     "does not fit: needs 77.2 GB (weights 60.0 GB + KV cache 17.2 GB)"),
    (lambda: weight_bytes(10, "int3"), "weights stored as 'int3'; allowed:"),
    (lambda: ModelShape.from_config({"hidden_size": 8}), "config.json: no num_attention_heads"),
])
def test_refusals_are_one_line(call: object, says: str) -> None:
    with pytest.raises(SizingError) as caught:
        call()  # type: ignore[operator]
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(says)


def test_fits_name_the_smallest_tp_per_instance_and_warn_over_pcie() -> None:
    shape = ModelShape.from_config(LLAMA_3_8B)
    needed = need(shape=shape, parameters=70 * 10**9, dtype="bfloat16", quantization=None, max_model_len=4096,
                  concurrency=4)  # 140 GB of weights + 2.1 GB of cache: just inside two H100s at 0.9
    by_type = {f.instance_type: f for f in fits(needed, shape, gpu_memory_utilization=0.9)}
    assert "ml.g5.xlarge" not in by_type and "ml.p5.4xlarge" not in by_type
    assert by_type["ml.p5.48xlarge"].tensor_parallel_size == 2
    assert by_type["ml.p5e.48xlarge"].tensor_parallel_size == 2
    assert by_type["ml.g6e.48xlarge"].tensor_parallel_size == 4
    assert by_type["ml.g6e.48xlarge"].warning is not None and "PCIe" in by_type["ml.g6e.48xlarge"].warning
    assert by_type["ml.p5.48xlarge"].warning is None
    for fit in by_type.values():
        assert fit.needed_gb <= fit.usable_gb


def test_catalog_gpu_types_are_sagemaker_hosting_types() -> None:
    from infra import aws_shapes, catalog
    assert set(catalog.SAGEMAKER_HOSTING_GPUS) <= aws_shapes.sagemaker_endpoint_instance_types()
    assert {"ml.p5.4xlarge", "ml.p5en.48xlarge", "ml.p4de.24xlarge", "ml.g6e.xlarge"} <= set(
        catalog.SAGEMAKER_HOSTING_GPUS)
    priced_gpu = set(catalog.SAGEMAKER_HOSTING_USD_PER_HOUR) & set(catalog.SAGEMAKER_HOSTING_GPUS)
    assert {"ml.g5.xlarge", "ml.g5.12xlarge"} <= priced_gpu
