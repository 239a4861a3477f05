"""What `hoist deploy` checks on an LLM artifact before a promotion is written.

The artifact's manifest hashes every file; the prefix obeys SageMaker's rules for uncompressed model
data; the endpoint's engine serves it (vLLM, with a quantisation setting that matches the weights);
and the model plus its KV cache fits the endpoint's GPUs at its TP degree. Each refusal is one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hoist import sizing
from hoist.release.deploy import DeployError
from infra import catalog
from infra.config import EndpointConfig
from training.llm import artifact


@dataclass(frozen=True, kw_only=True)
class LlmCheck:
    model_gb: float
    """The artifact's files in GB: `hoist deploy` writes it as ``llm.model_gb``."""
    needed_gb: float
    usable_gb: float
    kv_bytes_per_token: int
    warning: str | None


def check_llm_artifact(directory: Path, endpoint: EndpointConfig) -> LlmCheck:
    """Check the downloaded artifact in ``directory`` against the stack's endpoint, or raise DeployError."""
    try:
        manifest = artifact.verify(directory)
    except artifact.ArtifactError as exc:
        raise DeployError(str(exc)) from None
    problems = artifact.prefix_problems(manifest.files)
    if problems:
        raise DeployError(f"{directory}: {problems[0]} (SageMaker's uncompressed model data refuses it)")
    if endpoint.engine != "vllm" or endpoint.llm is None:
        raise DeployError("hoist:endpoint.engine is classic; an LLM artifact is served by engine: vllm with "
                          "hoist:endpoint.llm settings")
    llm = endpoint.llm
    if manifest.adapter is not None:
        raise DeployError(f"{directory}: a LoRA adapter on its own (base {manifest.adapter.base_model}); export it "
                          "merged (lora_export=merged) to serve it")
    if manifest.quantization is None and llm.quantization is not None:
        raise DeployError(f"hoist:endpoint.llm.quantization is {llm.quantization} but the artifact's weights are "
                          f"{manifest.dtype}, not quantised; remove the setting")
    if manifest.quantization is not None and llm.quantization not in (None, "compressed-tensors"):
        raise DeployError(f"hoist:endpoint.llm.quantization is {llm.quantization} but the artifact is "
                          f"{manifest.quantization} in compressed-tensors; use compressed-tensors or remove it")
    gpus = catalog.SAGEMAKER_HOSTING_GPUS[endpoint.instance_type]
    try:
        shape = sizing.ModelShape.from_config(artifact.config_of(directory))
        needed = sizing.need(shape=shape, parameters=manifest.parameters, dtype=manifest.dtype,
                             quantization=manifest.quantization, max_model_len=llm.max_model_len,
                             concurrency=llm.max_num_seqs)
        sizing.check_tensor_parallel(shape, llm.tensor_parallel_size, gpus.gpus)
        sizing.check_fit(needed, tp=llm.tensor_parallel_size, gpu_memory_gb=gpus.gpu_memory_gb,
                         gpu_memory_utilization=llm.gpu_memory_utilization)
    except sizing.SizingError as exc:
        raise DeployError(f"{endpoint.instance_type}: {exc}") from None
    size = sum((directory / name).stat().st_size for name in manifest.files)
    return LlmCheck(model_gb=size / sizing.GB, needed_gb=needed.total / sizing.GB,
                    usable_gb=llm.tensor_parallel_size * gpus.gpu_memory_gb * llm.gpu_memory_utilization,
                    kv_bytes_per_token=needed.kv_per_token,
                    warning=sizing.pcie_warning(gpus.interconnect, llm.tensor_parallel_size))
