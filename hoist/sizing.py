"""LLM sizing, offline: what a model needs in GPU memory, from its ``config.json`` alone.

Weights take ``parameters × bytes per weight``; the KV cache takes, per token, a key and a value
vector per layer and KV head (``2 × layers × kv_heads × head_dim × bytes``). vLLM gives the engine
``gpu_memory_utilization`` of each GPU and keeps what the weights leave for the KV cache, so a
model fits when weights plus ``max_model_len × concurrency`` tokens of cache fit in that share.
Tensor parallelism splits attention heads over GPUs, so it must divide the attention and the KV
heads. Activations and CUDA graphs are covered by the share the engine leaves free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra import catalog

if TYPE_CHECKING:
    from infra.config import EndpointConfig

GB = 10**9

WEIGHT_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "W8A8": 1.0, "FP8": 1.0, "FP8_DYNAMIC": 1.0,
                "W8A16": 1.0, "W4A16": 0.5}
"""Bytes per weight by dtype or quantisation scheme (compressed-tensors names). 4-bit schemes store two
weights a byte; their scales are a rounding error at these sizes."""
KV_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
"""Bytes per cached key or value element: the activation dtype (vLLM's default KV cache dtype)."""


class SizingError(ValueError):
    """A model, setting or instance that cannot serve; one line saying what is needed."""


@dataclass(frozen=True, kw_only=True)
class ModelShape:
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelShape:
        """The shape from a Hugging Face ``config.json`` (text models; grouped-query attention aware)."""
        try:
            heads = int(config["num_attention_heads"])
            hidden = int(config["hidden_size"])
            return cls(layers=int(config["num_hidden_layers"]), hidden_size=hidden, attention_heads=heads,
                       kv_heads=int(config.get("num_key_value_heads") or heads),
                       head_dim=int(config.get("head_dim") or hidden // heads), vocab_size=int(config["vocab_size"]))
        except KeyError as exc:
            raise SizingError(f"config.json: no {exc.args[0]}; sizing needs layers, hidden size, heads and "
                              "vocabulary") from None


def kv_bytes_per_token(shape: ModelShape, dtype: str = "bfloat16") -> int:
    """Bytes of KV cache one token takes across all layers."""
    if dtype not in KV_BYTES:
        raise SizingError(f"KV cache dtype {dtype!r}; allowed: {', '.join(KV_BYTES)}")
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * KV_BYTES[dtype]


def weight_bytes(parameters: int, dtype: str, quantization: str | None = None) -> int:
    """Bytes the weights take on the GPUs (all shards together)."""
    scheme = quantization or dtype
    if scheme not in WEIGHT_BYTES:
        raise SizingError(f"weights stored as {scheme!r}; allowed: {', '.join(WEIGHT_BYTES)}")
    return round(parameters * WEIGHT_BYTES[scheme])


@dataclass(frozen=True, kw_only=True)
class Need:
    weights: int
    kv_per_token: int
    tokens: int
    """max_model_len × concurrency: the tokens the cache must hold at once."""

    @property
    def total(self) -> int:
        return self.weights + self.kv_per_token * self.tokens


def need(*, shape: ModelShape, parameters: int, dtype: str, quantization: str | None, max_model_len: int,
         concurrency: int) -> Need:
    if max_model_len < 1 or concurrency < 1:
        raise SizingError(f"max_model_len {max_model_len} and concurrency {concurrency} must be at least 1")
    kv_dtype = dtype if dtype in KV_BYTES else "bfloat16"
    return Need(weights=weight_bytes(parameters, dtype, quantization), kv_per_token=kv_bytes_per_token(shape, kv_dtype),
                tokens=max_model_len * concurrency)


def check_tensor_parallel(shape: ModelShape, tp: int, gpus: int) -> None:
    """Refuse a TP degree the model or the instance cannot take."""
    if tp > gpus:
        raise SizingError(f"tensor_parallel_size {tp} is more than the instance's {gpus} GPUs")
    for what, heads in (("attention", shape.attention_heads), ("KV", shape.kv_heads)):
        if heads % tp:
            raise SizingError(f"tensor_parallel_size {tp} does not divide the model's {heads} {what} heads; "
                              f"allowed: {', '.join(str(d) for d in range(1, heads + 1) if heads % d == 0)}")


def check_fit(needed: Need, *, tp: int, gpu_memory_gb: float, gpu_memory_utilization: float) -> None:
    """Refuse a model whose weights and KV cache do not fit in ``tp`` GPUs' usable memory."""
    available = tp * gpu_memory_gb * GB * gpu_memory_utilization
    if needed.total > available:
        raise SizingError(f"does not fit: needs {needed.total / GB:.1f} GB (weights {needed.weights / GB:.1f} GB + "
                          f"KV cache {needed.kv_per_token * needed.tokens / GB:.1f} GB), {tp} GPU(s) give "
                          f"{available / GB:.1f} GB at gpu_memory_utilization {gpu_memory_utilization}")


@dataclass(frozen=True, kw_only=True)
class Fit:
    instance_type: str
    tensor_parallel_size: int
    gpus: int
    usable_gb: float
    needed_gb: float
    monthly_usd: float | None
    """None where the catalog has no price for the type."""
    warning: str | None


def fits(needed: Need, shape: ModelShape, *, gpu_memory_utilization: float) -> list[Fit]:
    """Every catalogued SageMaker GPU type and smallest TP degree that holds ``needed``, cheapest first."""
    found: list[Fit] = []
    for instance_type, facts in catalog.SAGEMAKER_HOSTING_GPUS.items():
        for tp in (1, 2, 4, 8):
            try:
                check_tensor_parallel(shape, tp, facts.gpus)
                check_fit(needed, tp=tp, gpu_memory_gb=facts.gpu_memory_gb,
                          gpu_memory_utilization=gpu_memory_utilization)
            except SizingError:
                continue
            price = catalog.SAGEMAKER_HOSTING_USD_PER_HOUR.get(instance_type)
            found.append(Fit(instance_type=instance_type, tensor_parallel_size=tp, gpus=facts.gpus,
                             usable_gb=tp * facts.gpu_memory_gb * gpu_memory_utilization, needed_gb=needed.total / GB,
                             monthly_usd=None if price is None else price * catalog.HOURS_PER_MONTH,
                             warning=pcie_warning(facts.interconnect, tp)))
            break
    return sorted(found, key=lambda f: (f.monthly_usd is None, f.monthly_usd or 0.0, f.instance_type))


def pcie_warning(interconnect: str, tp: int) -> str | None:
    if tp > 1 and interconnect == "PCIe":
        return (f"tensor parallelism over PCIe ({tp} GPUs): every layer's all-reduce crosses PCIe; expect slower "
                "tokens than NVLink types, or use one larger GPU")
    return None


@dataclass(frozen=True, kw_only=True)
class EndpointSizing:
    """What a stack's vLLM endpoint needs and gets, from its config alone (the plan shows it)."""

    instance_type: str
    gpu_model: str
    tensor_parallel_size: int
    model_gb: float
    kv_bytes_per_token: int | None
    """None until `hoist deploy` has written it: the KV cache and the fit are then unknown."""
    cache_tokens: int
    """max_model_len × max_num_seqs: the tokens the cache must hold at once."""
    usable_gb: float
    monthly_min_usd: float
    monthly_max_usd: float
    price_verified: bool
    warning: str | None

    @property
    def kv_cache_gb(self) -> float | None:
        return None if self.kv_bytes_per_token is None else self.kv_bytes_per_token * self.cache_tokens / GB

    @property
    def needed_gb(self) -> float | None:
        kv = self.kv_cache_gb
        return None if kv is None else self.model_gb + kv

    @property
    def fits(self) -> bool | None:
        needed = self.needed_gb
        return None if needed is None else needed <= self.usable_gb

    def as_dict(self) -> dict[str, Any]:
        return {"instance_type": self.instance_type, "gpu_model": self.gpu_model,
                "tensor_parallel_size": self.tensor_parallel_size, "model_gb": self.model_gb,
                "kv_bytes_per_token": self.kv_bytes_per_token, "cache_tokens": self.cache_tokens,
                "kv_cache_gb": None if self.kv_cache_gb is None else round(self.kv_cache_gb, 3),
                "needed_gb": None if self.needed_gb is None else round(self.needed_gb, 3),
                "usable_gb": round(self.usable_gb, 3), "fits": self.fits,
                "monthly_min_usd": round(self.monthly_min_usd, 2), "monthly_max_usd": round(self.monthly_max_usd, 2),
                "price_verified": self.price_verified, "warning": self.warning}


def endpoint_sizing(endpoint: EndpointConfig | None) -> EndpointSizing | None:
    """The sizing of a vLLM endpoint (None for none or a classic one): weights are the artifact's size."""
    if endpoint is None or endpoint.llm is None:
        return None
    llm, gpus = endpoint.llm, catalog.SAGEMAKER_HOSTING_GPUS[endpoint.instance_type]
    hourly = catalog.sagemaker_hour(endpoint.instance_type).usd
    return EndpointSizing(
        instance_type=endpoint.instance_type, gpu_model=gpus.gpu_model, tensor_parallel_size=llm.tensor_parallel_size,
        model_gb=llm.model_gb, kv_bytes_per_token=llm.kv_bytes_per_token,
        cache_tokens=llm.max_model_len * llm.max_num_seqs,
        usable_gb=llm.tensor_parallel_size * gpus.gpu_memory_gb * llm.gpu_memory_utilization,
        monthly_min_usd=hourly * catalog.HOURS_PER_MONTH * endpoint.min_instances,
        monthly_max_usd=hourly * catalog.HOURS_PER_MONTH * endpoint.max_instances,
        price_verified=catalog.hosting_price_verified(endpoint.instance_type),
        warning=pcie_warning(gpus.interconnect, llm.tensor_parallel_size))
